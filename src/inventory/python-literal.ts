/**
 * Python's ast.literal_eval, for the values of an INI inventory: Ansible's INI
 * plugin passes each value through it and keeps the text when it fails. So
 * `True`, `42`, `0x1F`, `1.5`, `None`, `[1, 'a']`, `{'k': 1}`, `(1, 2)` and
 * quoted strings are typed, and `yes`, `true`, `02:30`, `{{ x }}` stay text.
 *
 * `undefined` means "not a literal" (Ansible then keeps the text as it is).
 * Tuples become lists, as they do in Ansible's JSON; sets, complex numbers
 * and bytes that are not UTF-8 are not literals here (Ansible cannot print them).
 */
export function pythonLiteral(text: string): { value: unknown } | undefined {
  const p = new LiteralParser(text.replace(/^[ \t]+/, ''));
  try {
    const value = p.expression();
    p.skipSpace();
    if (!p.atEnd()) return undefined;
    return { value };
  } catch (e) {
    if (e instanceof NotALiteral) return undefined;
    throw e;
  }
}

class NotALiteral extends Error {}
const fail = (): never => {
  throw new NotALiteral();
};

/** Deep enough for any inventory value; keeps the recursion bounded. */
const MAX_DEPTH = 100;

const SIMPLE_ESCAPES: Record<string, string> = { '\n': '', '\\': '\\', "'": "'", '"': '"', a: '\x07', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t', v: '\v' };

class LiteralParser {
  private i = 0;
  private depth = 0;

  constructor(private readonly s: string) {}

  atEnd(): boolean {
    return this.i >= this.s.length;
  }

  skipSpace(): void {
    for (;;) {
      const c = this.s[this.i];
      if (c === ' ' || c === '\t' || c === '\f') this.i++;
      else if (c === '\\' && this.s[this.i + 1] === '\n') this.i += 2;
      else if (c === '#') {
        while (this.i < this.s.length && this.s[this.i] !== '\n') this.i++;
      } else return;
    }
  }

  /** Inside brackets, newlines are blanks too. */
  private skipSpaceInBrackets(): void {
    for (;;) {
      this.skipSpace();
      if (this.s[this.i] === '\n' || this.s[this.i] === '\r') this.i++;
      else return;
    }
  }

  expression(): unknown {
    if (++this.depth > MAX_DEPTH) fail();
    this.skipSpace();
    const c = this.s[this.i];
    let value: unknown;
    if (c === '+' || c === '-') {
      this.i++;
      this.skipSpace();
      const operand = this.atom();
      if (typeof operand !== 'number' || this.lastWasBool) fail();
      value = c === '-' ? -(operand as number) + 0 : operand;
    } else value = this.atom();
    this.depth--;
    return value;
  }

  private lastWasBool = false;

  private atom(): unknown {
    this.lastWasBool = false;
    const c = this.s[this.i];
    if (c === undefined) return fail();
    if (c === '[') return this.sequence(']');
    if (c === '(') return this.parenthesized();
    if (c === '{') return this.dict();
    if (/[0-9.]/.test(c) && /[0-9]/.test(this.s[c === '.' ? this.i + 1 : this.i] ?? '')) return this.number();
    const word = /^[A-Za-z_][A-Za-z0-9_]*/.exec(this.s.slice(this.i))?.[0];
    if (word !== undefined) {
      const next = this.s[this.i + word.length];
      if ((next === "'" || next === '"') && /^(?:[rRuUbB]|[rR][bB]|[bB][rR])$/.test(word)) return this.strings();
      this.i += word.length;
      if (word === 'True' || word === 'False') {
        this.lastWasBool = true;
        return word === 'True';
      }
      if (word === 'None') return null;
      return fail();
    }
    if (c === "'" || c === '"') return this.strings();
    return fail();
  }

  private sequence(close: string): unknown[] {
    this.i++;
    const items: unknown[] = [];
    for (;;) {
      this.skipSpaceInBrackets();
      if (this.s[this.i] === close) {
        this.i++;
        return items;
      }
      items.push(this.expression());
      this.skipSpaceInBrackets();
      if (this.s[this.i] === ',') this.i++;
      else if (this.s[this.i] !== close) fail();
    }
  }

  /** `(x)` is x; `()`, `(x,)` and `(x, y)` are tuples, which Ansible prints as lists. */
  private parenthesized(): unknown {
    this.i++;
    this.skipSpaceInBrackets();
    if (this.s[this.i] === ')') {
      this.i++;
      return [];
    }
    const first = this.expression();
    this.skipSpaceInBrackets();
    if (this.s[this.i] === ')') {
      this.i++;
      return first;
    }
    if (this.s[this.i] !== ',') fail();
    const rest = this.sequence(')'); // starts past the comma
    return [first, ...rest];
  }

  private dict(): unknown {
    this.i++;
    const out: Record<string, unknown> = {};
    for (;;) {
      this.skipSpaceInBrackets();
      if (this.s[this.i] === '}') {
        this.i++;
        return out;
      }
      const key = this.expression();
      this.skipSpaceInBrackets();
      if (this.s[this.i] !== ':') fail(); // a set, which Ansible cannot print either
      this.i++;
      const value = this.expression();
      if (key === null || typeof key === 'object') fail();
      out[keyText(key)] = value;
      this.skipSpaceInBrackets();
      if (this.s[this.i] === ',') this.i++;
      else if (this.s[this.i] !== '}') fail();
    }
  }

  private number(): number {
    const rest = this.s.slice(this.i);
    const radix = /^0([xXoObB])((?:_?[0-9a-fA-F])+)/.exec(rest);
    if (radix) {
      const base = { x: 16, o: 8, b: 2 }[radix[1].toLowerCase() as 'x' | 'o' | 'b'];
      const digits = radix[2].replace(/_/g, '');
      if (![...digits].every((d) => Number.parseInt(d, base) < base)) fail();
      this.i += radix[0].length;
      this.noIdentifierAfter();
      return Number.parseInt(digits, base);
    }
    const float = /^(?:(?:[0-9](?:_?[0-9])*)?\.[0-9](?:_?[0-9])*|[0-9](?:_?[0-9])*\.?)(?:[eE][-+]?[0-9](?:_?[0-9])*)?/.exec(rest);
    if (!float) return fail();
    const text = float[0];
    const isInt = /^[0-9_]+$/.test(text);
    // Python refuses 01 (but allows 0, 00 and 0_0).
    if (isInt && /^0/.test(text) && /[1-9]/.test(text)) fail();
    this.i += text.length;
    if (this.s[this.i] === 'j' || this.s[this.i] === 'J') fail();
    this.noIdentifierAfter();
    return Number(text.replace(/_/g, ''));
  }

  private noIdentifierAfter(): void {
    if (/[A-Za-z0-9_]/.test(this.s[this.i] ?? '')) fail();
  }

  /** One or more adjacent string literals, concatenated; bytes and text do not mix. */
  private strings(): string {
    let out = '';
    let kind: 'bytes' | 'text' | undefined;
    for (;;) {
      this.skipSpace();
      const m = /^([rRuUbB]|[rR][bB]|[bB][rR])?(['"])/.exec(this.s.slice(this.i));
      if (!m) break;
      const prefix = (m[1] ?? '').toLowerCase();
      const k = prefix.includes('b') ? 'bytes' : 'text';
      if (kind && kind !== k) fail();
      kind = k;
      this.i += prefix.length;
      out += this.string(prefix.includes('r'), k === 'bytes');
    }
    if (kind === undefined) fail();
    return out;
  }

  private string(raw: boolean, bytes: boolean): string {
    const q = this.s[this.i];
    const triple = this.s.startsWith(q.repeat(3), this.i);
    const close = triple ? q.repeat(3) : q;
    this.i += close.length;
    let out = '';
    for (;;) {
      if (this.i >= this.s.length) fail();
      if (this.s.startsWith(close, this.i)) {
        this.i += close.length;
        break;
      }
      const c = this.s[this.i];
      if (!triple && c === '\n') fail();
      if (bytes && c.charCodeAt(0) > 0x7f) fail();
      if (c !== '\\') {
        out += c;
        this.i++;
        continue;
      }
      const next = this.s[this.i + 1];
      if (next === undefined) fail();
      if (raw) {
        out += c + next;
        this.i += 2;
        continue;
      }
      this.i += 2;
      if (next in SIMPLE_ESCAPES) out += SIMPLE_ESCAPES[next];
      else if (/[0-7]/.test(next)) {
        const digits = (next + (/^[0-7]{0,2}/.exec(this.s.slice(this.i))?.[0] ?? '')).slice(0, 3);
        this.i += digits.length - 1;
        out += String.fromCodePoint(Number.parseInt(digits, 8));
      } else if (next === 'x' || (!bytes && (next === 'u' || next === 'U'))) {
        const n = next === 'x' ? 2 : next === 'u' ? 4 : 8;
        const hex = this.s.slice(this.i, this.i + n);
        if (!new RegExp(`^[0-9a-fA-F]{${n}}$`).test(hex)) fail();
        const cp = Number.parseInt(hex, 16);
        if (cp > 0x10ffff) fail();
        out += String.fromCodePoint(cp);
        this.i += n;
      } else if (next === 'N' && !bytes) {
        return fail(); // named characters: not worth a table
      } else out += `\\${next}`;
    }
    if (bytes) {
      // to_text decodes bytes as UTF-8; other bytes are not printable JSON in Ansible either
      const octets = Uint8Array.from([...out].map((ch) => ch.charCodeAt(0)));
      if (octets.some((_, k) => out.charCodeAt(k) > 0xff)) fail();
      try {
        return new TextDecoder('utf-8', { fatal: true }).decode(octets);
      } catch {
        return fail();
      }
    }
    return out;
  }
}

/** A dict key as JSON writes it: Python's json turns True into "true", None into "null", 1.0 into "1.0". */
function keyText(key: unknown): string {
  if (typeof key === 'boolean') return key ? 'true' : 'false';
  return String(key);
}
