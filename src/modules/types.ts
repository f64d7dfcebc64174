import type { Change, DriftItem } from '../changes/index.js';
import type { FactsRequest, HostFacts } from '../facts/types.js';

export type { Change, DriftItem } from '../changes/index.js';

export interface TaskPlan {
  changes: Change[];
  /** what these changes fix, as drift; when omitted, each change describes itself (driftOf) */
  drift?: DriftItem[];
  /** shown to the user; they do not fail the task */
  warnings: string[];
  /** differences that are not fixed by these changes (e.g. a later sysctl.d file overrides ours at boot) */
  unfixable: DriftItem[];
}

/** Refusal at plan time: nothing has been touched on the host. */
export class PlanRefusal extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PlanRefusal';
  }
}

export interface PlanContext {
  host: string;
}

/** Where a module's resolve() reports what is wrong with its args: by JSON pointer below them. */
export interface ArgProblems {
  error(pointer: string, message: string): void;
}

/** The task keys besides the module's own that a module may read (Ansible's per-task keywords). */
export interface TaskKeywords {
  changedWhen?: boolean;
}

/** The task that closes a set: it runs after the set's items, planned against what they did. */
export interface SetClosing {
  /** a registered (usually internal) module */
  module: string;
  args: unknown;
  /** shown after the task's name: "NAME (retire undeclared VIPs on lo)" */
  what: string;
  /** two sets with the same key on one host would undo each other: one per key and host */
  key: string;
  /** the set, for the message when a second one has the key: "exclusive address task for lo" */
  describe: string;
}

/**
 * A module whose task may declare a whole set (address `exclusive: true`): its items are the set,
 * and a closing task makes the host hold no other member. `keys` are args that are one value for
 * the set (never the loop's item), so a set closes even when its list is empty.
 */
export interface SetSupport<Args> {
  keys: readonly string[];
  /** whether the args as written (templates not substituted) may declare a set; only then are `keys` held to one value */
  declaredBy(raw: Record<string, unknown>): boolean;
  /**
   * `setArgs`: the `keys` as written, substituted (checked here: with an empty list, no item's
   * resolve() sees them); `items`: the args of the items this host runs. undefined: not a set;
   * problems: by key, what is wrong with the set's args.
   */
  close(setArgs: Record<string, unknown>, items: readonly Args[]): SetClosing | { problems: { key: string; message: string }[] } | undefined;
  /**
   * Why another task of this module on the same host (not one of the set's items) fights the set:
   * the closing task would undo it at the end of every run. undefined: no conflict.
   */
  conflicts?(setArgs: Record<string, unknown>, other: Args): string | undefined;
}

/**
 * A module: one folder under src/modules, registered in registry.ts. Its args are checked twice: by
 * `schema` at load time (values that are still `{{ templates }}` skipped) and for each host after
 * substitution, by `schema` again and then `resolve`, which checks what a schema can't (CIDRs,
 * interface names, ranges that depend on the key) and builds the typed args.
 */
export interface ModuleDefinition<Args> {
  /** the JSON Schema of the args as written */
  schema: object;
  /** whether the task may carry `changed_when` */
  takesChangedWhen?: boolean;
  /** not written in playbooks: a task of another module expands into it (an exclusive address task's retirement) */
  internal?: boolean;
  /** a task of this module may declare a whole set (see SetSupport) */
  set?: SetSupport<Args>;
  resolve(value: unknown, problems: ArgProblems, keywords: TaskKeywords): Args | undefined;
  /** what the facts must read for this task */
  needs(args: Args): Partial<FactsRequest>;
  /** Pure: no I/O. Reads the (simulated) state, returns the changes. */
  plan(args: Args, state: HostFacts, ctx: PlanContext): TaskPlan;
}
