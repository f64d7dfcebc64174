import ipaddr from 'ipaddr.js';
import type { Diagnostic } from '../errors.js';
import type { Vars } from '../inventory/types.js';
import { checkHostName } from '../inventory/validate.js';
import { sortDiagnostics } from '../source/diagnostics.js';
import type { Location } from '../source/location.js';
import { joinPointer, pointerAndAncestors } from '../source/pointer.js';
import { checkSchema, showValue, type SchemaName, type SchemaSubject } from './schema-check.js';
import { describeUses, TemplateRenderer, type VarUse } from './template.js';
import { argvOf } from '../modules/command/resolve.js';
import { resolveArgs, type ResolvedTask } from '../modules/registry.js';
import type { ArgProblems } from '../modules/types.js';
import type { GateSpec, Play, TaskSpec } from './types.js';

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
export function resolvePlayForHost(play: Play, vars: Vars): { tasks: ResolvedTask[]; gates: GateSpec[]; diagnostics: Diagnostic[] } {
  const renderer = new TemplateRenderer(vars);
  const tasks: ResolvedTask[] = [];
  const gates: GateSpec[] = [];
  const diagnostics: Diagnostic[] = [];
  for (const spec of play.tasks) {
    const r = resolveTaskWith(spec, renderer);
    if ('task' in r) tasks.push(r.task);
    else diagnostics.push(...r.diagnostics);
  }
  for (const spec of play.verify) {
    const r = resolveGateWith(spec, renderer);
    if ('gate' in r) gates.push(r.gate);
    else diagnostics.push(...r.diagnostics);
  }
  return { tasks, gates, diagnostics: sortDiagnostics(diagnostics) };
}
