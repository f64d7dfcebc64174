import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { escapeBlock, escapeField, safeJson } from '../../src/report/escape.js';

const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/;
// strings rich in what a hostile host sends: controls, C1, separators, escapes, plain text
const hostile = fc.string({
  unit: fc.oneof(
    fc.integer({ min: 0, max: 0x3ff }).map((n) => String.fromCharCode(n)),
    fc.constantFrom('\x1b', '\u009b', '\u2028', '\n', '\r', '\\', 'a'),
  ),
});

describe('the escaper', () => {
  it('leaves no control character in a field, whatever it is given', () => {
    fc.assert(
      fc.property(hostile, (s) => {
        expect(UNSAFE.test(escapeField(s))).toBe(false);
      }),
      { numRuns: 2000 },
    );
  });

  it('keeps a block on as many lines as it had, with no control character on any', () => {
    fc.assert(
      fc.property(hostile, (s) => {
        const out = escapeBlock(s);
        expect(out.split('\n').length).toBe(s.split('\n').length);
        for (const line of out.split('\n')) expect(UNSAFE.test(line)).toBe(false);
      }),
      { numRuns: 2000 },
    );
  });

  it('leaves text without control characters as it is', () => {
    fc.assert(
      fc.property(
        fc.string().filter((s) => !UNSAFE.test(s)),
        (s) => {
          expect(escapeField(s)).toBe(s);
        },
      ),
    );
  });

  it('shows what it escaped', () => {
    expect(escapeField('a\nb\tc\x1b[2J\u009b31m\r\u2028')).toBe('a\\nb\\tc\\x1b[2J\\x9b31m\\r\\u2028');
    expect(escapeBlock('[OK] h1\n\x1b]52;c;cGF3bmVk\x07')).toBe('[OK] h1\n\\x1b]52;c;cGF3bmVk\\x07');
  });

  it('writes JSON with no raw control character that parses back to the same values', () => {
    fc.assert(
      fc.property(fc.jsonValue(), hostile, (v, s) => {
        const value = { v, s, nested: [s, { s }] };
        const text = safeJson(value, 2);
        expect(UNSAFE.test(text.replace(/\n/g, ''))).toBe(false);
        expect(JSON.parse(text)).toEqual(JSON.parse(JSON.stringify(value)));
      }),
      { numRuns: 1000 },
    );
  });
});
