import type { Diagnostic } from '../errors.js';
import type { Vars } from '../inventory/types.js';
import { formatLocation, type Location } from '../source/location.js';
import { joinPointer } from '../source/pointer.js';
import { suggest } from './suggest.js';

/**
 * `{{ name }}` and `{{ name.key.key }}` substitution, and nothing more: no filters, no expressions, no
 * statements. Playbooks look like Ansible's, so a user will try
 * `{{ vip | ipaddr }}` or `{% if %}`; a half-implemented Jinja would give such
 * a template a meaning close to, but not exactly, Ansible's, and a VIP config
 * that is subtly wrong is far worse than a clear error saying what is supported.
 *
 * - A string that is exactly one `{{ name }}` takes the variable's value with
 *   its type (a number stays a number, a list stays a list).
 * - Otherwise variables are interpolated as text; only strings and numbers can
 *   be (Ansible would print a boolean as "True", a list as Python repr).
 * - Variable values may themselves hold templates; they are resolved on first
 *   use, and a variable that refers back to itself is an error.
 * - `{% raw %}…{% endraw %}` keeps text literal, exactly as in Jinja, for
 *   commands that contain `{{` themselves (docker --format '{{.Id}}').
 */

/** A variable a value came from, so errors can say `(from var "vip", file:6:10)`. */
export interface VarUse {
  name: string;
  source: Location;
}

export type TemplatePart = { text: string } | { varName: string };

/** a variable, then keys of maps (or indexes of lists) below it: `vip`, `item.address`, `vips.0.label` */
const VAR_PATH = /^[A-Za-z_][A-Za-z0-9_]*(\.(?:[A-Za-z_][A-Za-z0-9_]*|[0-9]+))*$/;
const RAW_OPEN = /^\{%\s*raw\s*%\}/;
const RAW_CLOSE = /\{%\s*endraw\s*%\}/;

/** True if `value` (deeply) contains anything the template syntax would act on. */
export function hasTemplate(value: unknown): boolean {
  if (typeof value === 'string') return /\{[{%#]/.test(value);
  if (Array.isArray(value)) return value.some(hasTemplate);
  if (value !== null && typeof value === 'object') return Object.values(value).some(hasTemplate);
  return false;
}

/** Splits a string into text and `{{ name }}` parts, or says why it can't. */
export function parseTemplate(text: string): { parts: TemplatePart[] } | { error: string } {
  const parts: TemplatePart[] = [];
  let literal = '';
  let i = 0;
  while (i < text.length) {
    const open = text.slice(i).search(/\{[{%#]/);
    if (open < 0) {
      literal += text.slice(i);
      break;
    }
    literal += text.slice(i, i + open);
    i += open;
    const rest = text.slice(i);
    if (rest.startsWith('{{')) {
      const close = rest.indexOf('}}', 2);
      if (close < 0) return { error: `unclosed "{{" in ${JSON.stringify(text)}` };
      const inner = rest.slice(2, close).trim();
      if (!VAR_PATH.test(inner)) {
        return {
          error: `unsupported template "${rest.slice(0, close + 2)}": vipush substitutes only {{ name }} and {{ name.key }}, with no filters or expressions`,
        };
      }
      if (literal) parts.push({ text: literal });
      literal = '';
      parts.push({ varName: inner });
      i += close + 2;
    } else if (RAW_OPEN.test(rest)) {
      const body = rest.replace(RAW_OPEN, '');
      const end = body.match(RAW_CLOSE);
      if (!end || end.index === undefined) return { error: `"{% raw %}" without "{% endraw %}" in ${JSON.stringify(text)}` };
      literal += body.slice(0, end.index);
      i += rest.length - body.length + end.index + end[0].length;
    } else {
      const what = rest.startsWith('{%') ? 'Jinja statements ("{% … %}")' : 'Jinja comments ("{# … #}")';
      return {
        error: `${what} are not supported: vipush substitutes only {{ name }}; to write "${rest.slice(0, 2)}" literally, wrap it in {% raw %}…{% endraw %}`,
      };
    }
  }
  if (literal) parts.push({ text: literal });
  return { parts };
}

export type Resolution = { ok: true; value: unknown; uses: VarUse[] } | { ok: false; diagnostics: Diagnostic[] };

/** A dotted path's lookup: found, absent (for `is defined`), or an error such as a variable that refers to itself. */
export type PathLookup = Resolution | { ok: 'undefined'; diagnostics: Diagnostic[] };

export type RenderResult = { value: unknown; uses: Map<string, VarUse[]> } | { diagnostics: Diagnostic[] };

function kindOf(value: unknown): string {
  if (value === null || value === undefined) return 'empty';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a map';
  if (typeof value === 'boolean') return `a boolean (${String(value)})`;
  return typeof value;
}

/**
 * Substitutes variables for one host. Keep one renderer per host so each
 * variable is resolved once, however many tasks use it.
 */
export class TemplateRenderer {
  private readonly vars: Vars;
  private readonly resolved = new Map<string, Resolution>();
  private readonly resolving: string[] = [];
  /** the renderer this one adds variables to (a loop's `item`), asked for every other name */
  private readonly parent: TemplateRenderer | undefined;

  constructor(vars: Vars, parent?: TemplateRenderer) {
    this.vars = vars;
    this.parent = parent;
  }

  /**
   * A renderer that knows `extra` too, already rendered (a loop's item: its templates were substituted
   * when the loop's list was), and shares this one's work for every other variable.
   */
  withValues(extra: Vars): TemplateRenderer {
    const child = new TemplateRenderer(extra, this);
    for (const [name, v] of extra) child.resolved.set(name, { ok: true, value: v.value, uses: [] });
    return child;
  }

  /**
   * `name.key.key`: the variable, then a key of a map or an index of a list at each dot. A name or key
   * that is not there is `undefined` (what `is defined` asks), with the error a template would give.
   */
  lookupPath(path: string, usedAt: Location): PathLookup {
    const [name, ...keys] = path.split('.');
    const root = this.lookup(name, usedAt);
    if (!root.ok) return this.has(name) ? root : { ok: 'undefined', diagnostics: root.diagnostics };
    let value = root.value;
    let walked = name;
    for (const key of keys) {
      const note = describeUses(root.uses);
      const from = note ? ` ${note}` : '';
      if (Array.isArray(value) && /^[0-9]+$/.test(key)) {
        if (Number(key) >= value.length) {
          return { ok: 'undefined', diagnostics: [{ loc: usedAt, message: `"${walked}" has no item ${key}: it holds ${value.length}${from}` }] };
        }
        value = value[Number(key)];
      } else if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
        if (!Object.hasOwn(value, key)) {
          const near = suggest(key, Object.keys(value));
          const message = `"${walked}" has no key "${key}"${near ? ` (did you mean "${near}"?)` : ''}${from}`;
          return { ok: 'undefined', diagnostics: [{ loc: usedAt, message }] };
        }
        value = (value as Record<string, unknown>)[key];
      } else {
        const kind = typeof value === 'string' || typeof value === 'number' ? `a ${typeof value}` : kindOf(value);
        return { ok: 'undefined', diagnostics: [{ loc: usedAt, message: `"${walked}" is ${kind}, not a map: it has no key "${key}"${from}` }] };
      }
      walked += `.${key}`;
    }
    return { ok: true, value, uses: root.uses };
  }

  private has(name: string): boolean {
    return this.vars.has(name) || (this.parent?.has(name) ?? false);
  }

  /** Renders one string written at `loc`. */
  renderString(text: string, loc: Location): Resolution {
    const parsed = parseTemplate(text);
    if ('error' in parsed) return { ok: false, diagnostics: [{ loc, message: parsed.error }] };
    const { parts } = parsed;
    if (parts.length === 1 && 'varName' in parts[0]) return definedOrError(this.lookupPath(parts[0].varName, loc));
    let out = '';
    const uses: VarUse[] = [];
    const diagnostics: Diagnostic[] = [];
    for (const part of parts) {
      if ('text' in part) {
        out += part.text;
        continue;
      }
      const found = definedOrError(this.lookupPath(part.varName, loc));
      if (!found.ok) {
        diagnostics.push(...found.diagnostics);
        continue;
      }
      uses.push(...found.uses);
      if (typeof found.value === 'string' || typeof found.value === 'number') {
        out += String(found.value);
      } else {
        diagnostics.push({
          loc,
          message: `variable "${part.varName}" is ${kindOf(found.value)}; only a string or a number can be part of a longer string (use "{{ ${part.varName} }}" alone to pass the value itself)`,
        });
      }
    }
    if (diagnostics.length > 0) return { ok: false, diagnostics };
    return { ok: true, value: out, uses };
  }

  /**
   * Renders every string inside `value`. `locate(pointer)` says where the value
   * at a JSON pointer below `value` is written; the result maps each pointer that
   * used a variable to the variables it used.
   */
  renderValue(value: unknown, locate: (pointer: string) => Location): RenderResult {
    const uses = new Map<string, VarUse[]>();
    const diagnostics: Diagnostic[] = [];
    const walk = (node: unknown, pointer: string): unknown => {
      if (typeof node === 'string') {
        const r = this.renderString(node, locate(pointer));
        if (!r.ok) {
          diagnostics.push(...r.diagnostics);
          return node;
        }
        if (r.uses.length > 0) uses.set(pointer, r.uses);
        return r.value;
      }
      if (Array.isArray(node)) return node.map((item, i) => walk(item, joinPointer(pointer, i)));
      if (node !== null && typeof node === 'object') {
        return Object.fromEntries(Object.entries(node).map(([k, v]) => [k, walk(v, joinPointer(pointer, k))]));
      }
      return node;
    };
    const out = walk(value, '');
    return diagnostics.length > 0 ? { diagnostics } : { value: out, uses };
  }

  private lookup(name: string, usedAt: Location): Resolution {
    const variable = this.vars.get(name);
    if (!variable && this.parent) return this.parent.lookup(name, usedAt);
    if (!variable) {
      const near = suggest(name, this.vars.keys());
      return { ok: false, diagnostics: [{ loc: usedAt, message: `undefined variable "${name}"${near ? ` (did you mean "${near}"?)` : ''}` }] };
    }
    const use: VarUse = { name, source: variable.source };
    const done = this.resolved.get(name);
    if (done) return done.ok ? { ok: true, value: done.value, uses: [use] } : done;
    const loopStart = this.resolving.indexOf(name);
    if (loopStart >= 0) {
      const cycle = [...this.resolving.slice(loopStart), name];
      const first = this.vars.get(cycle[0])!;
      const message = cycle.length === 2 ? `variable "${name}" refers to itself` : `variables refer to each other in a loop: ${cycle.join(' -> ')}`;
      return { ok: false, diagnostics: [{ loc: first.source, message }] };
    }
    this.resolving.push(name);
    const rendered = this.renderValue(variable.value, () => variable.source);
    this.resolving.pop();
    const result: Resolution = 'diagnostics' in rendered ? { ok: false, diagnostics: rendered.diagnostics } : { ok: true, value: rendered.value, uses: [use] };
    this.resolved.set(name, result);
    return result.ok ? { ok: true, value: result.value, uses: [use] } : result;
  }
}

function definedOrError(r: PathLookup): Resolution {
  return r.ok === 'undefined' ? { ok: false, diagnostics: r.diagnostics } : r;
}

/** `(from var "vip", site.yml:6:10)`: where a substituted value came from. */
export function describeUses(uses: readonly VarUse[] | undefined): string | undefined {
  if (!uses || uses.length === 0) return undefined;
  const unique = uses.filter((u, i) => uses.findIndex((v) => v.name === u.name) === i);
  const list = unique.map((u) => `"${u.name}", ${formatLocation(u.source)}`);
  return unique.length === 1 ? `(from var ${list[0]})` : `(from vars ${list.join('; ')})`;
}
