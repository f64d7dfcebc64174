import { describe, expect, it } from 'vitest';
import { describeDiff, type FileChange } from '../../src/changes/index.js';
import { DIFF_LIMITS } from '../../src/changes/file.js';

const lines = (n: number, line: (i: number) => string) => Buffer.from(Array.from({ length: n }, (_, i) => `${line(i)}\n`).join(''));
const change = (before: Buffer | null, after: Buffer | null): FileChange => ({
  kind: 'file',
  path: '/etc/sysctl.d/90-big.conf',
  before: before && { content: before, mode: 0o644, uid: 0, gid: 0 },
  after: after && { content: after, mode: 0o644 },
});

// Bounded by size and by work, never by the clock: each case stays on one side of a limit whatever the machine's speed.
describe('--diff of a file', () => {
  it('is a unified diff for a modest change, even in a large file', () => {
    const before = lines(15_000, (i) => `net.x${i} = 0`);
    const after = lines(15_000, (i) => (i % 1000 === 7 ? `net.x${i} = 1` : `net.x${i} = 0`));
    const d = describeDiff(change(before, after));
    expect(d).toContain('--- /etc/sysctl.d/90-big.conf\n+++ /etc/sysctl.d/90-big.conf\n');
    expect(d).toContain('\n-net.x7 = 0\n+net.x7 = 1\n');
    expect(d.match(/^@@ /gm)).toHaveLength(15);
    expect(d.endsWith('\n')).toBe(true);
  });

  it('shows a new file against /dev/null', () => {
    const d = describeDiff(change(null, Buffer.from('net.ipv4.ip_forward = 1\n')));
    expect(d).toContain('--- /dev/null\n+++ /etc/sysctl.d/90-big.conf\n');
    expect(d).toContain('\n+net.ipv4.ip_forward = 1\n');
  });

  it('is one line naming the sizes when a file has too many lines', () => {
    const before = lines(30_000, (i) => `net.x${i} = 0`);
    const after = Buffer.concat([before, Buffer.from('net.y = 1\n')]);
    expect(describeDiff(change(before, after))).toBe(
      `--- /etc/sysctl.d/90-big.conf: diff skipped: 30000 -> 30001 lines, ${before.length} -> ${after.length} bytes, over 20000 lines\n`,
    );
  });

  it('is one line when a file is over 1 MiB, in whatever few lines', () => {
    const after = Buffer.alloc(DIFF_LIMITS.bytes + 1, 'a');
    expect(describeDiff(change(null, after))).toBe(`--- /etc/sysctl.d/90-big.conf: diff skipped: 0 -> 1 lines, 0 -> ${after.length} bytes, over 1 MiB\n`);
  });

  it('is one line when the two differ in too many lines (12,000 lines, all changed)', () => {
    const before = lines(12_000, (i) => `net.x${i} = 0`);
    const after = lines(12_000, (i) => `net.x${i} = 1`);
    // jsdiff stops at the edit limit, long before its time limit; on a very slow machine the clock may come first
    expect(describeDiff(change(before, after))).toMatch(
      new RegExp(
        `^--- /etc/sysctl\\.d/90-big\\.conf: diff skipped: 12000 -> 12000 lines, ${before.length} -> ${after.length} bytes, over (${DIFF_LIMITS.edits} line edits|${DIFF_LIMITS.ms} ms of work)\\n$`,
      ),
    );
  });

  it('is the same text for the same file on every host', () => {
    const before = lines(12_000, (i) => `net.a${i} = 0`);
    const after = lines(12_000, (i) => `net.a${i} = 1`);
    const first = describeDiff(change(before, after));
    expect(describeDiff(change(Buffer.from(before), Buffer.from(after)))).toBe(first);
  });
});
