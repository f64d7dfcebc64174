import { spawnSync } from 'node:child_process';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { shJoin, shQuote } from '../../src/remote/quote.js';

/** What a real POSIX sh makes of a command line: its stdout, byte for byte. */
function sh(script: string): Buffer {
  const r = spawnSync('sh', ['-c', script]);
  if (r.status !== 0) throw new Error(`sh failed (${r.status}): ${r.stderr.toString()}`);
  return r.stdout;
}

/** Strings made of pieces a shell treats specially, and any other code point but NUL. */
const hostile = fc
  .array(
    fc.oneof(
      fc.constantFrom(
        "'",
        '"',
        '\\',
        '$',
        '$(',
        ')',
        '`',
        '\n',
        '\r',
        '\t',
        ' ',
        '*',
        '?',
        '~',
        '!',
        '#',
        ';',
        '&',
        '|',
        '<',
        '>',
        '{',
        '}',
        '-',
        '--',
        '%',
        "'\\''",
        '$1',
        '${x}',
      ),
      fc.string({ unit: 'binary' }),
    ),
    { maxLength: 12 },
  )
  .map((parts) => parts.join('').replace(/\0/g, ''));

/** Each value printed by its own printf, NUL-terminated; one sh per batch keeps the test fast. */
function printEach(values: string[], wrap: (printf: string) => string = (x) => x): string[] {
  const script = values.map((v) => wrap(`printf '%s\\0' ${shQuote(v)}`)).join('\n');
  return sh(script).toString('utf8').split('\0').slice(0, -1);
}

const batches = fc.array(hostile, { minLength: 1, maxLength: 25 });

describe('shQuote through a real sh', () => {
  it('keeps any string exactly as one word', () => {
    fc.assert(
      fc.property(batches, (values) => {
        expect(printEach(values)).toEqual(values);
      }),
      { numRuns: 60 },
    );
  });

  it('survives a second level of sh -c, as with sudo ... sh -c', () => {
    fc.assert(
      fc.property(batches, (values) => {
        expect(printEach(values, (printf) => `sh -c ${shQuote(printf)}`)).toEqual(values);
      }),
      { numRuns: 40 },
    );
  });

  it('passes positional arguments through as separate words', () => {
    fc.assert(
      fc.property(batches, (argv) => {
        const out = sh(`sh -c 'for a; do printf "%s\\0" "$a"; done' _ ${shJoin(argv)}`);
        expect(out.toString('utf8').split('\0').slice(0, -1)).toEqual(argv);
      }),
      { numRuns: 40 },
    );
  });

  it('quotes the empty string and leaves plain words alone', () => {
    expect(shQuote('')).toBe("''");
    expect(shQuote('net.ipv4.conf.all.arp_ignore=1')).toBe('net.ipv4.conf.all.arp_ignore=1');
    expect(shQuote("it's")).toBe(`'it'\\''s'`);
    expect(sh(`printf %s ${shQuote('')}`).length).toBe(0);
  });

  it('refuses NUL, which no shell word can hold', () => {
    expect(() => shQuote('a\0b')).toThrow(/NUL/);
  });
});
