import type { FactsRequest, HostFacts } from '../facts/types.js';
import { addressModule } from './address/index.js';
import { addressRetireModule } from './address/retire.js';
import { commandModule } from './command/index.js';
import { sysctlModule } from './sysctl/index.js';
import type { ArgProblems, ModuleDefinition, PlanContext, SetSupport, TaskKeywords, TaskPlan } from './types.js';

/** Every module, by the key a task names it with. Adding a module: a folder, and a line here. */
const REGISTERED = {
  sysctl: sysctlModule,
  address: addressModule,
  command: commandModule,
  address_retire: addressRetireModule,
};

export type ModuleName = keyof typeof REGISTERED;
type ArgsMap = { [N in ModuleName]: (typeof REGISTERED)[N] extends ModuleDefinition<infer A> ? A : never };
/** The same table, typed so that a module's name picks its args' type (TypeScript's correlated unions). */
const MODULES: { [N in ModuleName]: ModuleDefinition<ArgsMap[N]> } = REGISTERED;

/** The modules a playbook can name (an internal module is one a task of another module expands into). */
export const MODULE_NAMES = (Object.keys(MODULES) as ModuleName[]).filter((n) => MODULES[n].internal !== true) as readonly ModuleName[];

export function isModuleName(name: string): name is ModuleName {
  return Object.hasOwn(MODULES, name) && MODULES[name as ModuleName].internal !== true;
}

/** The args of a module's tasks after substitution and validation, by module name. */
export type ArgsOf<N extends ModuleName> = ArgsMap[N];

/** A task of module N for one host: substituted, validated and typed. */
export type TaskOf<N extends ModuleName> = {
  name: string;
  module: N;
  args: ArgsOf<N>;
  source: { file: string; line: number; col: number };
  /** set on the task that closes a set (SetSupport): one per key and host */
  closes?: { key: string; describe: string; owner: ModuleName; setArgs: Record<string, unknown> };
  /** set on the items of a set: its key */
  inSet?: string;
};
export type ResolvedTask = { [N in ModuleName]: TaskOf<N> }[ModuleName];

/** A task one host skips (`when` was false): reported as skipped, never planned; its args were not substituted. */
export interface SkippedTask {
  name: string;
  module: ModuleName;
  source: { file: string; line: number; col: number };
  /** why, for reports: the condition that did not hold */
  skipped: string;
  args?: undefined;
}

/** What a host runs, in order: tasks to plan, and tasks it skips. */
export type HostTask = ResolvedTask | SkippedTask;

export function isSkipped(t: HostTask): t is SkippedTask {
  return (t as SkippedTask).skipped !== undefined;
}

export function moduleSchema(name: ModuleName): object {
  return MODULES[name].schema;
}

export function takesChangedWhen(name: ModuleName): boolean {
  return MODULES[name].takesChangedWhen === true;
}

export function resolveArgs<N extends ModuleName>(name: N, value: unknown, problems: ArgProblems, keywords: TaskKeywords): ArgsOf<N> | undefined {
  return MODULES[name].resolve(value, problems, keywords);
}

/** The args that are one value for a whole set, when this task (its args as written) may declare one. */
export function setKeysOf(name: ModuleName, raw: Record<string, unknown>): readonly string[] | undefined {
  const set = MODULES[name].set;
  return set?.declaredBy(raw) ? set.keys : undefined;
}

/** The task that closes a set after its items (all of module `name`), or undefined when the task is not a set. */
export function closeSet(
  name: ModuleName,
  taskName: string,
  source: TaskOf<ModuleName>['source'],
  setArgs: Record<string, unknown>,
  items: readonly ResolvedTask[],
): ResolvedTask | { problems: { key: string; message: string }[] } | undefined {
  const set = MODULES[name].set as SetSupport<unknown> | undefined;
  const closing = set?.close(
    setArgs,
    items.filter((t) => t.module === name).map((t) => t.args),
  );
  if (!closing || 'problems' in closing) return closing;
  if (!Object.hasOwn(MODULES, closing.module)) throw new Error(`module ${name} closes a set with unknown module ${closing.module}`);
  return {
    name: `${taskName} (${closing.what})`,
    module: closing.module as ModuleName,
    source,
    args: closing.args,
    closes: { key: closing.key, describe: closing.describe, owner: name, setArgs },
  } as ResolvedTask;
}

/** What fights a set on one host: a second set with its key, or a task of its module outside it (SetSupport.conflicts). */
export type SetConflict = { kind: 'second'; task: ResolvedTask; first: ResolvedTask } | { kind: 'outside'; task: ResolvedTask; set: ResolvedTask; why: string };

/** Every conflict among one host's tasks (all its plays'), in task order. */
export function setConflicts(tasks: readonly HostTask[]): SetConflict[] {
  const out: SetConflict[] = [];
  const ran = tasks.filter((t): t is ResolvedTask => !isSkipped(t));
  const sets = new Map<string, ResolvedTask>();
  for (const t of ran) {
    if (!t.closes) continue;
    const first = sets.get(t.closes.key);
    if (first) out.push({ kind: 'second', task: t, first });
    else sets.set(t.closes.key, t);
  }
  for (const set of sets.values()) {
    const closes = set.closes!;
    const support = MODULES[closes.owner].set as SetSupport<unknown> | undefined;
    for (const t of ran) {
      if (t.module !== closes.owner || t.inSet === closes.key) continue;
      const why = support?.conflicts?.(closes.setArgs, t.args);
      if (why) out.push({ kind: 'outside', task: t, set, why });
    }
  }
  return out;
}

function needsOf<N extends ModuleName>(task: TaskOf<N>): Partial<FactsRequest> {
  return MODULES[task.module].needs(task.args);
}

export function planTask<N extends ModuleName>(task: TaskOf<N>, state: HostFacts, ctx: PlanContext): TaskPlan {
  return MODULES[task.module].plan(task.args, state, ctx);
}

/** Everything the facts must read for these tasks, each thing once. */
export function factsNeeded(tasks: readonly HostTask[]): FactsRequest {
  const req: FactsRequest = { sysctlKeys: [], files: [], paths: [], globs: [], probes: [] };
  for (const t of tasks) {
    if (isSkipped(t)) continue;
    const n = needsOf(t);
    req.sysctlKeys.push(...(n.sysctlKeys ?? []));
    req.files.push(...(n.files ?? []));
    req.paths.push(...(n.paths ?? []));
    req.globs.push(...(n.globs ?? []));
    req.probes.push(...(n.probes ?? []));
  }
  const once = <T>(xs: T[]) => [...new Set(xs)];
  const probes = new Map(req.probes.map((p) => [p.name, p]));
  return { sysctlKeys: once(req.sysctlKeys), files: once(req.files), paths: once(req.paths), globs: once(req.globs), probes: [...probes.values()] };
}
