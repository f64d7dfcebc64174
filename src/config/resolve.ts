import ipaddr from 'ipaddr.js';
import type { Diagnostic } from '../errors.js';
import type { Vars } from '../inventory/types.js';
import { checkHostName } from '../inventory/validate.js';
import { sortDiagnostics } from '../source/diagnostics.js';
import { formatLocation, type Location } from '../source/location.js';
import { joinPointer, pointerAndAncestors } from '../source/pointer.js';
import { checkSchema, showValue, type SchemaName, type SchemaSubject } from './schema-check.js';
import { describeUses, parseTemplate, TemplateRenderer, type VarUse } from './template.js';
import { evaluateWhen } from './when.js';
import { argvOf } from '../modules/command/resolve.js';
import { closeSet, isSkipped, resolveArgs, setConflicts, setKeysOf, type HostTask, type ResolvedTask } from '../modules/registry.js';
import type { ArgProblems } from '../modules/types.js';
import type { GateSpec, Play, TaskLoop, TaskSpec } from './types.js';

/**
 * From a task as written to a task for one host: substitute variables, check
 * the result against the module's schema again, then check what a schema
 * can't (CIDRs, interface names, sysctl ranges and paths). Every error points
 * at the value in the file, and names the variable the value came from.
 */

/** Where values are and which variables they came from, by JSON pointer below the args. */
class ArgContext implements ArgProblems {
  readonly diagnostics: Diagnostic[] = [];
  constructor(
    private readonly sources: ReadonlyMap<string, Location> | undefined,
    private readonly fallback: Location,
    private readonly uses: ReadonlyMap<string, VarUse[]> = new Map(),
  ) {}

  locate(pointer: string): Location {
    for (const p of pointerAndAncestors(pointer)) {
      const loc = this.sources?.get(p);
      if (loc) return loc;
    }
    return this.fallback;
  }

  note(pointer: string): string | undefined {
    for (const p of pointerAndAncestors(pointer)) {
      const used = this.uses.get(p);
      if (used) return describeUses(used);
    }
    return undefined;
  }

  withUses(uses: ReadonlyMap<string, VarUse[]>): ArgContext {
    return new ArgContext(this.sources, this.fallback, uses);
  }

  error(pointer: string, message: string): void {
    const note = this.note(pointer);
    this.diagnostics.push({ loc: this.locate(pointer), message: note ? `${message} ${note}` : message });
  }

  subject(rootName: string): SchemaSubject {
    return {
      rootName,
      locate: (pointer, key) => this.locate(key === undefined ? pointer : joinPointer(pointer, key)),
      note: (pointer) => this.note(pointer),
    };
  }
}

// ---- tasks and gates ----------------------------------------------------------

function renderName(name: string, loc: Location, renderer: TemplateRenderer): { name: string } | { diagnostics: Diagnostic[] } {
  const r = renderer.renderString(name, loc);
  if (!r.ok) return { diagnostics: r.diagnostics };
  const text = String(r.value);
  // A name is printed on the operator's terminal: an escape sequence in it would be obeyed there.
  if (/[\x00-\x1f\x7f]/.test(text)) return { diagnostics: [{ loc, message: `task name ${showValue(text)} must be one line without control characters` }] };
  return { name: text };
}

/** Substitutes and checks `args` for the module or gate `schema`; the shared first half of tasks and gates. */
function renderArgs(
  args: unknown,
  schema: SchemaName,
  rootName: string,
  sources: ReadonlyMap<string, Location> | undefined,
  fallback: Location,
  renderer: TemplateRenderer,
): { value: unknown; ctx: ArgContext } | { diagnostics: Diagnostic[] } {
  const base = new ArgContext(sources, fallback);
  const rendered = renderer.renderValue(args, (p) => base.locate(p));
  if ('diagnostics' in rendered) return { diagnostics: rendered.diagnostics };
  const ctx = base.withUses(rendered.uses);
  const schemaProblems = checkSchema(schema, rendered.value, ctx.subject(rootName));
  if (schemaProblems.length > 0) return { diagnostics: schemaProblems };
  return { value: rendered.value, ctx };
}

function resolveTaskWith(task: TaskSpec, renderer: TemplateRenderer): { task: ResolvedTask } | { diagnostics: Diagnostic[] } {
  const named = renderName(task.name, task.source, renderer);
  const rendered = renderArgs(task.args, task.module, `\`${task.module}\``, task.argSources, task.source, renderer);
  const diagnostics = [...('diagnostics' in named ? named.diagnostics : []), ...('diagnostics' in rendered ? rendered.diagnostics : [])];
  if ('diagnostics' in named || 'diagnostics' in rendered) return { diagnostics };
  const { value, ctx } = rendered;
  const args = resolveArgs(task.module, value, ctx, { changedWhen: task.changedWhen });
  if (ctx.diagnostics.length > 0 || args === undefined) return { diagnostics: ctx.diagnostics };
  return { task: { name: named.name, source: task.source, module: task.module, args } as ResolvedTask };
}

// ---- loop and when ---------------------------------------------------------------

type Expanded = { tasks: HostTask[] } | { diagnostics: Diagnostic[] };

/** A task with `when` for one host (or one loop item): skipped when a condition is false, else resolved. */
function taskOrSkip(spec: TaskSpec, renderer: TemplateRenderer, suffix: string): Expanded {
  if (spec.when) {
    const w = evaluateWhen(spec.when, renderer);
    if ('diagnostics' in w) return w;
    if (!w.value) {
      // Ansible does not template a skipped task's args: they may use what the condition found undefined.
      const named = renderName(spec.name, spec.source, renderer);
      const name = 'name' in named ? named.name : spec.name;
      return { tasks: [{ name: `${name}${suffix}`, module: spec.module, source: spec.source, skipped: `when: ${w.failed} was false` }] };
    }
  }
  const r = resolveTaskWith(spec, renderer);
  if ('diagnostics' in r) return r;
  return { tasks: [{ ...r.task, name: `${r.task.name}${suffix}` } as ResolvedTask] };
}

/** The loop's list for this host, each item with where it was written (or the loop, for a variable's). */
function loopItems(loop: TaskLoop, renderer: TemplateRenderer): { items: unknown[]; from?: Location } | { diagnostics: Diagnostic[] } {
  const r =
    typeof loop.value === 'string'
      ? (() => {
          const one = renderer.renderString(loop.value, loop.source);
          return one.ok ? { value: one.value, uses: new Map([['', one.uses]]) } : { diagnostics: one.diagnostics };
        })()
      : renderer.renderValue(loop.value, (p) => loop.sources.get(p) ?? loop.source);
  if ('diagnostics' in r) return r;
  if (!Array.isArray(r.value)) {
    const note = describeUses(r.uses.get(''));
    const got = r.value === null || r.value === undefined ? 'nothing' : typeof r.value === 'object' ? 'a map' : `${typeof r.value} ${showValue(r.value)}`;
    return { diagnostics: [{ loc: loop.source, message: `\`loop\` must be a list, got ${got}${note ? ` ${note}` : ''}` }] };
  }
  // a list from a variable: its items are where the variable is defined
  const from = typeof loop.value === 'string' ? r.uses.get('')?.[0]?.source : undefined;
  return { items: r.value, ...(from ? { from } : {}) };
}

/** What reports show for an item: loop_control.label, else the item itself (a map as compact JSON). */
function itemLabel(loop: TaskLoop, item: unknown, renderer: TemplateRenderer): { label: string } | { diagnostics: Diagnostic[] } {
  let text: string;
  if (loop.label) {
    const r = renderer.renderString(loop.label.text, loop.label.source);
    if (!r.ok) return { diagnostics: r.diagnostics };
    text = typeof r.value === 'string' ? r.value : JSON.stringify(r.value);
  } else {
    text = typeof item === 'string' ? item : JSON.stringify(item);
  }
  // a label is printed on the operator's terminal, as a task name is
  if (/[\x00-\x1f\x7f-\x9f]/.test(text))
    return {
      diagnostics: [{ loc: loop.label?.source ?? loop.source, message: `loop item label ${showValue(text)} must be one line without control characters` }],
    };
  return { label: text.length > 200 ? `${text.slice(0, 200)}…` : text };
}

/** Whether `value` (deeply) uses the variable `name` in a template. */
function usesVar(value: unknown, name: string): boolean {
  if (typeof value === 'string') {
    const parsed = parseTemplate(value);
    return 'parts' in parsed && parsed.parts.some((p) => 'varName' in p && p.varName.split('.')[0] === name);
  }
  if (Array.isArray(value)) return value.some((v) => usesVar(v, name));
  if (value !== null && typeof value === 'object') return Object.values(value).some((v) => usesVar(v, name));
  return false;
}

/**
 * A set's one-value args (SetSupport.keys: an exclusive address task's `exclusive`, `dev`,
 * `persist`), substituted without the loop's item, so the set closes even when its list is empty;
 * undefined when the module declares no sets.
 */
function setArgsOf(spec: TaskSpec, renderer: TemplateRenderer): { args: Record<string, unknown> } | { diagnostics: Diagnostic[] } | undefined {
  if (spec.args === null || typeof spec.args !== 'object') return undefined;
  const raw = spec.args as Record<string, unknown>;
  const keys = setKeysOf(spec.module, raw);
  if (!keys) return undefined;
  const picked = Object.fromEntries(keys.filter((k) => raw[k] !== undefined).map((k) => [k, raw[k]]));
  const loopVar = spec.loop?.loopVar;
  for (const key of Object.keys(picked)) {
    if (loopVar && usesVar(picked[key], loopVar)) {
      const loc = spec.argSources.get(`/${key}`) ?? spec.source;
      return {
        diagnostics: [
          {
            loc,
            message: `\`${key}\` is one value for the whole set (${keys.map((k) => `\`${k}\``).join(', ')}): it cannot use the loop variable "${loopVar}"`,
          },
        ],
      };
    }
  }
  const r = renderer.renderValue(picked, (p) => spec.argSources.get(p) ?? spec.source);
  if ('diagnostics' in r) return r;
  return { args: r.value as Record<string, unknown> };
}

/**
 * A task as one host runs it: once, or once per loop item (each its own task in every report,
 * named "NAME (item=LABEL)"), each skipped or not by `when`; a task that declares a set (an
 * exclusive address task) is followed by the task that closes it (the retirement of the VIPs it
 * no longer declares).
 */
function expandTask(spec: TaskSpec, renderer: TemplateRenderer): Expanded {
  const set = setArgsOf(spec, renderer);
  if (set && 'diagnostics' in set) return set;
  let tasks: HostTask[];
  if (!spec.loop) {
    const one = taskOrSkip(spec, renderer, '');
    if ('diagnostics' in one) return one;
    tasks = one.tasks;
    // a skipped set task declares nothing, and closes nothing either
    if (tasks.every((t) => 'skipped' in t)) return { tasks };
  } else {
    const loop = spec.loop;
    const list = loopItems(loop, renderer);
    if ('diagnostics' in list) return list;
    tasks = [];
    const diagnostics: Diagnostic[] = [];
    list.items.forEach((item, index) => {
      const extra = new Map([[loop.loopVar, { value: item, source: list.from ?? loop.sources.get(`/${index}`) ?? loop.source }]]);
      if (loop.indexVar) extra.set(loop.indexVar, { value: index, source: loop.source });
      const child = renderer.withValues(extra);
      const label = itemLabel(loop, item, child);
      const r = 'label' in label ? taskOrSkip(spec, child, ` (item=${label.label})`) : label;
      if ('tasks' in r) tasks.push(...r.tasks);
      else {
        const shown = 'label' in label ? label.label : (JSON.stringify(item) ?? 'null').slice(0, 200).replace(/[\x00-\x1f\x7f-\x9f]/g, '?');
        const which = `loop item ${index} (${shown})`;
        diagnostics.push(...r.diagnostics.map((d) => ({ ...d, message: `${d.message} [${which}]` })));
      }
    });
    if (diagnostics.length > 0) return { diagnostics };
  }
  if (set) {
    const named = renderName(spec.name, spec.source, renderer);
    const ran = tasks.filter((t): t is ResolvedTask => !isSkipped(t));
    const closing = closeSet(spec.module, 'name' in named ? named.name : spec.name, spec.source, set.args, ran);
    if (closing && 'problems' in closing) {
      return { diagnostics: closing.problems.map((p) => ({ loc: spec.argSources.get(`/${p.key}`) ?? spec.source, message: p.message })) };
    }
    if (closing) {
      tasks = tasks.map((t) => (isSkipped(t) ? t : { ...t, inSet: closing.closes?.key }));
      tasks.push(closing);
    }
  }
  return { tasks };
}

/**
 * What fights a set among one host's tasks (SetSupport): a second set with the same key, or a task
 * of the set's module outside it that the set would undo at the end of every run. Messages name
 * no host, so the same conflict on many hosts is one line.
 */
export function setProblems(tasks: readonly HostTask[]): Diagnostic[] {
  return setConflicts(tasks).map((c) =>
    c.kind === 'second'
      ? {
          loc: c.task.source,
          message: `a second ${c.task.closes?.describe} (the first is at ${formatLocation(c.first.source)}): each would undo the other's set; declare the set in one task`,
        }
      : {
          loc: c.task.source,
          message: `${c.why} at ${formatLocation(c.set.source)}, which would take it off again at the end of every run: add it to that set's list`,
        },
  );
}

/** Substitutes `vars` into a task and checks the result. */
export function resolveTask(task: TaskSpec, vars: Vars): { task: ResolvedTask } | { diagnostics: Diagnostic[] } {
  return resolveTaskWith(task, new TemplateRenderer(vars));
}

function gateArgs(gate: GateSpec): Record<string, unknown> {
  switch (gate.kind) {
    case 'arp_owner':
      return { vip: gate.vip, from: gate.from, expect: gate.expect };
    case 'http':
      return { url: gate.url, from: gate.from, expect_status: gate.expectStatus };
    case 'command':
      return { ...(gate.argv ? { argv: gate.argv } : {}), ...(gate.script !== undefined ? { shell: gate.script } : {}), from: gate.from };
  }
}

function resolveGateWith(gate: GateSpec, renderer: TemplateRenderer): { gate: GateSpec } | { diagnostics: Diagnostic[] } {
  const rendered = renderArgs(gateArgs(gate), `gate:${gate.kind}`, `\`${gate.kind}\``, gate.argSources, gate.source, renderer);
  if ('diagnostics' in rendered) return rendered;
  const { ctx } = rendered;
  const value = rendered.value as Record<string, unknown>;
  // Vantage hosts are looked up in the inventory by name; nothing else is a name there.
  for (const key of ['from', 'expect'] as const) {
    const name = value[key];
    const problem = typeof name === 'string' ? checkHostName(name) : undefined;
    if (problem) ctx.error(`/${key}`, `\`${key}\`: ${problem}`);
  }
  const common = { from: value.from as string, source: gate.source, ...(gate.argSources ? { argSources: gate.argSources } : {}) };
  let resolved: GateSpec;
  switch (gate.kind) {
    case 'arp_owner':
      resolved = { ...common, kind: 'arp_owner', vip: ipaddr.parse(value.vip as string).toString(), expect: value.expect as string };
      break;
    case 'http': {
      const url = value.url as string;
      let protocol = '';
      try {
        protocol = new URL(url).protocol;
      } catch {
        protocol = '';
      }
      if (protocol !== 'http:' && protocol !== 'https:') ctx.error('/url', `\`url\` must be an http:// or https:// URL, got ${JSON.stringify(url)}`);
      // The URL parser drops tabs and newlines silently; curl would get them as written.
      else if (/[\s\x00-\x1f\x7f]/.test(url)) ctx.error('/url', `\`url\` must not contain whitespace or control characters, got ${JSON.stringify(url)}`);
      resolved = { ...common, kind: 'http', url, expectStatus: (value.expect_status as number | undefined) ?? 200 };
      break;
    }
    case 'command': {
      const argv = value.argv as unknown[] | undefined;
      const script = value.shell as string | undefined;
      if (argv === undefined && script === undefined) ctx.error('', 'a `command` gate needs `argv` (a list) or `shell` (a string)');
      if (argv !== undefined && script !== undefined) ctx.error('/shell', 'a `command` gate takes `argv` or `shell`, not both');
      resolved = { ...common, kind: 'command', ...(argv ? { argv: argvOf(argv) } : {}), ...(script !== undefined ? { script } : {}) };
      break;
    }
  }
  return ctx.diagnostics.length > 0 ? { diagnostics: ctx.diagnostics } : { gate: resolved };
}

/** Substitutes `vars` into a verify gate and checks the result. */
export function resolveGate(gate: GateSpec, vars: Vars): { gate: GateSpec } | { diagnostics: Diagnostic[] } {
  return resolveGateWith(gate, new TemplateRenderer(vars));
}

/**
 * Everything one host will run in `play`. `vars` is the host's complete
 * variable set with play vars already merged at their precedence (inventory
 * vars < play.vars < extra vars); this function does not add play.vars itself.
 * `tasks` and `gates` hold only what resolved; run nothing unless
 * `diagnostics` is empty. Diagnostics are sorted and each appears once.
 */
export function resolvePlayForHost(play: Play, vars: Vars): { tasks: HostTask[]; gates: GateSpec[]; diagnostics: Diagnostic[] } {
  const renderer = new TemplateRenderer(vars);
  const tasks: HostTask[] = [];
  const gates: GateSpec[] = [];
  const diagnostics: Diagnostic[] = [];
  for (const spec of play.tasks) {
    const r = expandTask(spec, renderer);
    if ('diagnostics' in r) diagnostics.push(...r.diagnostics);
    else tasks.push(...r.tasks);
  }
  diagnostics.push(...setProblems(tasks));
  for (const spec of play.verify) {
    const r = resolveGateWith(spec, renderer);
    if ('gate' in r) gates.push(r.gate);
    else diagnostics.push(...r.diagnostics);
  }
  return { tasks, gates, diagnostics: sortDiagnostics(diagnostics) };
}
