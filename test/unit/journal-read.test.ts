import { describe, expect, it } from 'vitest';
import { parseJournal } from '../../src/remote/script.js';
import { mark } from './fake-transport.js';

const N = 'n0nce';

describe('parseJournal: what a host says of its journal (untrusted)', () => {
  it('reads the state, run and counts, and the failed undos', () => {
    const out = `${mark(N, 'jstep 0')}${mark(N, 'begin 0')}RTNETLINK answers: boom\n${mark(N, 'failed 0')}${mark(N, 'journal undone r1 2 1')}`;
    expect(parseJournal(Buffer.from(out), N)).toEqual({ state: 'undone', run: 'r1', undone: 2, failed: 1, failures: ['RTNETLINK answers: boom'] });
  });

  it('takes no unknown state and no non-number counts', () => {
    expect(parseJournal(Buffer.from(mark(N, 'journal pwned r1 1 1')), N)).toBeUndefined();
    expect(parseJournal(Buffer.from(mark(N, 'journal end r1 x y')), N)).toMatchObject({ undone: 0, failed: 0 });
  });

  it('keeps at most 20 failed undos, each cut at 2000 characters', () => {
    const one = (i: number) => `${mark(N, `jstep ${i}`)}${mark(N, `begin ${i}`)}${'x'.repeat(10_000)}${mark(N, `failed ${i}`)}`;
    const out = Array.from({ length: 50 }, (_, i) => one(i)).join('') + mark(N, 'journal undone r1 0 50');
    const read = parseJournal(Buffer.from(out), N);
    expect(read?.failures).toHaveLength(20);
    expect(read?.failures[0]).toHaveLength(2001);
  });
});
