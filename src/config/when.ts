import type { Diagnostic } from '../errors.js';
import type { Location } from '../source/location.js';
import type { TemplateRenderer } from './template.js';

/**
 * `when:`, Ansible's condition, as a small exact subset of Jinja expressions: variables (dotted:
 * `item.address`), string, number, boolean and list literals, `==`, `!=`, `in`, `not in`, `not`,
 * `and`, `or`, parentheses, `is defined` and `is not defined`. A bare value is true or false as in
 * Jinja (Python): "", 0, [], {}, none and false are false. Anything else is refused where it is
 * written: a condition that Ansible would read otherwise would run or skip VIP changes silently.
 */

export type WhenExpr =
  | { kind: 'literal'; value: unknown }
  | { kind: 'var'; path: string }
  | { kind: 'list'; items: WhenExpr[] }
  | { kind: 'not'; operand: WhenExpr }
  | { kind: 'and' | 'or'; left: WhenExpr; right: WhenExpr }
  | { kind: '==' | '!=' | 'in' | 'not in'; left: WhenExpr; right: WhenExpr }
  | { kind: 'defined'; path: string; negate: boolean };

/** One condition as written, parsed; a task's `when` is a list of them, all of which must hold. */
export interface WhenCondition {
  text: string;
  expr: WhenExpr;
  source: Location;
}

type Token = { t: 'name' | 'str' | 'num' | 'op'; v: string; at: number };

const SUPPORTED = 'vipush supports only variables, literals, ==, !=, in, not in, not, and, or, parentheses, is defined and is not defined';

class WhenSyntaxError extends Error {}

const MAX_TOKENS = 500;

function tokenize(text: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  while (i < text.length) {
    const c = text[i];
    if (/\s/.test(c)) {
      i++;
      continue;
    }
    const name = /^[A-Za-z_][A-Za-z0-9_]*(\.(?:[A-Za-z_][A-Za-z0-9_]*|[0-9]+))*/.exec(text.slice(i));
    if (name) {
      out.push({ t: 'name', v: name[0], at: i });
      i += name[0].length;
      continue;
    }
    const num = /^-?[0-9]+(\.[0-9]+)?(?![A-Za-z_.])/.exec(text.slice(i));
    if (num) {
      out.push({ t: 'num', v: num[0], at: i });
      i += num[0].length;
      continue;
    }
    if (c === '"' || c === "'") {
      let j = i + 1;
      let s = '';
      while (j < text.length && text[j] !== c) {
        if (text[j] === '\\') throw new WhenSyntaxError(`escapes in strings are not supported (at column ${j + 1})`);
        s += text[j++];
      }
      if (j >= text.length) throw new WhenSyntaxError(`unclosed string starting at column ${i + 1}`);
      out.push({ t: 'str', v: s, at: i });
      i = j + 1;
      continue;
    }
    const op = /^(==|!=|\(|\)|\[|\]|,)/.exec(text.slice(i));
    if (op) {
      out.push({ t: 'op', v: op[0], at: i });
      i += op[0].length;
      continue;
    }
    const other = /^(\{\{|\{%|<=|>=|<|>|\||~|\+|-|\*|\/|%|\.|=)/.exec(text.slice(i));
    throw new WhenSyntaxError(`"${other ? other[0] : c}" (column ${i + 1}) is not supported`);
  }
  return out;
}

class Parser {
  private i = 0;
  constructor(private readonly tokens: Token[]) {}

  parse(): WhenExpr {
    if (this.tokens.length === 0) throw new WhenSyntaxError('the condition is empty');
    const e = this.or();
    const extra = this.tokens[this.i];
    if (extra) throw new WhenSyntaxError(`"${extra.v}" (column ${extra.at + 1}) is not supported here`);
    return e;
  }

  private peek(v: string): boolean {
    const t = this.tokens[this.i];
    return t !== undefined && (t.t === 'op' || t.t === 'name') && t.v === v;
  }

  private take(v: string): boolean {
    if (!this.peek(v)) return false;
    this.i++;
    return true;
  }

  private expect(v: string): void {
    if (!this.take(v)) {
      const t = this.tokens[this.i];
      throw new WhenSyntaxError(t ? `expected "${v}" at column ${t.at + 1}, found "${t.v}"` : `expected "${v}" at the end`);
    }
  }

  private or(): WhenExpr {
    let left = this.and();
    while (this.take('or')) left = { kind: 'or', left, right: this.and() };
    return left;
  }

  private and(): WhenExpr {
    let left = this.not();
    while (this.take('and')) left = { kind: 'and', left, right: this.not() };
    return left;
  }

  private not(): WhenExpr {
    if (this.take('not')) return { kind: 'not', operand: this.not() };
    return this.comparison();
  }

  private comparison(): WhenExpr {
    const left = this.test();
    for (const op of ['==', '!=', 'in'] as const) {
      if (this.take(op)) return { kind: op, left, right: this.test() };
    }
    if (this.peek('not') && this.tokens[this.i + 1]?.v === 'in') {
      this.i += 2;
      return { kind: 'not in', left, right: this.test() };
    }
    return left;
  }

  /** `x is defined`, `x is not defined` */
  private test(): WhenExpr {
    const start = this.tokens[this.i];
    const operand = this.primary();
    if (!this.take('is')) return operand;
    const negate = this.take('not');
    const t = this.tokens[this.i];
    if (t?.t !== 'name' || (t.v !== 'defined' && t.v !== 'undefined')) {
      throw new WhenSyntaxError(`only "is defined" and "is not defined" are supported${t ? `, not "is ${negate ? 'not ' : ''}${t.v}"` : ''}`);
    }
    if (t.v === 'undefined') throw new WhenSyntaxError('"is undefined" is not supported; write "is not defined"');
    this.i++;
    if (operand.kind !== 'var') throw new WhenSyntaxError(`"is defined" applies to a variable, not to "${start?.v}"`);
    return { kind: 'defined', path: operand.path, negate };
  }

  private primary(): WhenExpr {
    const t = this.tokens[this.i];
    if (!t) throw new WhenSyntaxError('the condition ends too early');
    this.i++;
    if (t.t === 'str') return { kind: 'literal', value: t.v };
    if (t.t === 'num') return { kind: 'literal', value: Number(t.v) };
    if (t.t === 'op' && t.v === '(') {
      const e = this.or();
      this.expect(')');
      return e;
    }
    if (t.t === 'op' && t.v === '[') {
      const items: WhenExpr[] = [];
      if (!this.take(']')) {
        do items.push(this.or());
        while (this.take(','));
        this.expect(']');
      }
      return { kind: 'list', items };
    }
    if (t.t === 'name') {
      if (this.peek('(')) throw new WhenSyntaxError(`calls ("${t.v}(…)") are not supported`);
      if (['true', 'True'].includes(t.v)) return { kind: 'literal', value: true };
      if (['false', 'False'].includes(t.v)) return { kind: 'literal', value: false };
      if (['none', 'None'].includes(t.v)) return { kind: 'literal', value: null };
      if (['and', 'or', 'not', 'in', 'is', 'if', 'else'].includes(t.v)) throw new WhenSyntaxError(`"${t.v}" (column ${t.at + 1}) is not supported here`);
      return { kind: 'var', path: t.v };
    }
    throw new WhenSyntaxError(`"${t.v}" (column ${t.at + 1}) is not supported here`);
  }
}

/** Parses one condition, or says why not (one line, for a located error). */
export function parseWhen(text: string): { expr: WhenExpr } | { error: string } {
  if (/\{[{%]/.test(text)) {
    return { error: `\`when\` ${JSON.stringify(text)}: write the condition without "{{ }}" (\`when\` is an expression already: \`when: vip_enabled\`)` };
  }
  try {
    const tokens = tokenize(text);
    // the parser recurses once per nesting level: bound it, so no input can exhaust the stack
    if (tokens.length > MAX_TOKENS) throw new WhenSyntaxError(`the condition is too long (over ${MAX_TOKENS} words and symbols)`);
    return { expr: new Parser(tokens).parse() };
  } catch (e) {
    if (!(e instanceof WhenSyntaxError)) throw e;
    return { error: `\`when\` ${JSON.stringify(text)}: ${e.message} (${SUPPORTED})` };
  }
}

/** Python's truth of a value, which is Jinja's. */
export function truthy(v: unknown): boolean {
  if (v === null || v === undefined || v === false || v === 0 || v === '') return false;
  if (Array.isArray(v)) return v.length > 0;
  if (typeof v === 'object') return Object.keys(v).length > 0;
  return true;
}

/** Python's ==: a boolean is the number 0 or 1, lists and maps compare item by item. */
function pyEqual(a: unknown, b: unknown): boolean {
  const num = (x: unknown) => (typeof x === 'boolean' ? Number(x) : x);
  const [x, y] = [num(a), num(b)];
  if (x === null || x === undefined || y === null || y === undefined) return x === y || (x ?? null) === (y ?? null);
  if (typeof x !== typeof y) return false;
  if (Array.isArray(x) || Array.isArray(y)) {
    return Array.isArray(x) && Array.isArray(y) && x.length === y.length && x.every((v, i) => pyEqual(v, y[i]));
  }
  if (typeof x === 'object') {
    const xo = x as Record<string, unknown>;
    const yo = y as Record<string, unknown>;
    const keys = Object.keys(xo);
    return keys.length === Object.keys(yo).length && keys.every((k) => Object.hasOwn(yo, k) && pyEqual(xo[k], yo[k]));
  }
  return x === y;
}

class WhenEvalError extends Error {}

function evaluate(e: WhenExpr, renderer: TemplateRenderer, at: Location): unknown {
  switch (e.kind) {
    case 'literal':
      return e.value;
    case 'list':
      return e.items.map((i) => evaluate(i, renderer, at));
    case 'var': {
      const r = renderer.lookupPath(e.path, at);
      if (r.ok === true) return r.value;
      throw new WhenDiagnostics(r.diagnostics);
    }
    case 'defined': {
      const r = renderer.lookupPath(e.path, at);
      if (r.ok === false) throw new WhenDiagnostics(r.diagnostics);
      return (r.ok === true) !== e.negate;
    }
    case 'not':
      return !truthy(evaluate(e.operand, renderer, at));
    case 'and': {
      // as Python: the first false operand, or the last one
      const left = evaluate(e.left, renderer, at);
      return truthy(left) ? evaluate(e.right, renderer, at) : left;
    }
    case 'or': {
      const left = evaluate(e.left, renderer, at);
      return truthy(left) ? left : evaluate(e.right, renderer, at);
    }
    case '==':
      return pyEqual(evaluate(e.left, renderer, at), evaluate(e.right, renderer, at));
    case '!=':
      return !pyEqual(evaluate(e.left, renderer, at), evaluate(e.right, renderer, at));
    case 'in':
    case 'not in': {
      const needle = evaluate(e.left, renderer, at);
      const hay = evaluate(e.right, renderer, at);
      let found: boolean;
      if (typeof hay === 'string') {
        if (typeof needle !== 'string') throw new WhenEvalError(`"in" a string needs a string on its left, got ${describe(needle)}`);
        found = hay.includes(needle);
      } else if (Array.isArray(hay)) {
        found = hay.some((v) => pyEqual(v, needle));
      } else if (hay !== null && typeof hay === 'object') {
        found = typeof needle === 'string' && Object.hasOwn(hay, needle);
      } else {
        throw new WhenEvalError(`"in" needs a list, a map or a string on its right, got ${describe(hay)}`);
      }
      return found !== (e.kind === 'not in');
    }
  }
}

function describe(v: unknown): string {
  if (v === null || v === undefined) return 'none';
  if (typeof v === 'boolean' || typeof v === 'number') return String(v);
  if (typeof v === 'string') return JSON.stringify(v);
  return Array.isArray(v) ? 'a list' : 'a map';
}

class WhenDiagnostics extends Error {
  constructor(readonly diagnostics: Diagnostic[]) {
    super('when');
  }
}

/** Whether every condition holds for the variables `renderer` knows; a variable that is not there is an error, unless under `is defined`. */
export function evaluateWhen(
  conditions: readonly WhenCondition[],
  renderer: TemplateRenderer,
): { value: boolean; failed?: string } | { diagnostics: Diagnostic[] } {
  for (const c of conditions) {
    try {
      if (!truthy(evaluate(c.expr, renderer, c.source))) return { value: false, failed: c.text };
    } catch (e) {
      if (e instanceof WhenDiagnostics)
        return { diagnostics: e.diagnostics.map((d) => ({ ...d, message: `\`when\` ${JSON.stringify(c.text)}: ${d.message}` })) };
      if (e instanceof WhenEvalError) return { diagnostics: [{ loc: c.source, message: `\`when\` ${JSON.stringify(c.text)}: ${e.message}` }] };
      throw e;
    }
  }
  return { value: true };
}
