import { createHash } from 'node:crypto';
// only the patch writer (the package's index loads every diff algorithm: start-up time on every run)
import { createTwoFilesPatch } from 'diff/lib/patch/create.js';
import type { ChangeKind, FileChange } from './types.js';

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/**
 * Bounds on one file's --diff (and --check) diff. It is computed synchronously, on the event loop every
 * host's connection shares: unbounded, a 12,000-line file with every line changed took 25 s, and other
 * hosts timed out meanwhile. jsdiff's work grows with the square of the edits (1,000 take about 0.2 s
 * on 20,000 lines); the clock is only a backstop. Above these, the diff is one line saying why not.
 */
export const DIFF_LIMITS = { bytes: 1024 * 1024, lines: 20_000, edits: 1_000, ms: 500 };

function lineCount(b: Buffer): number {
  let n = 0;
  for (let i = b.indexOf(10); i >= 0; i = b.indexOf(10, i + 1)) n++;
  return b.length > 0 && b[b.length - 1] !== 10 ? n + 1 : n;
}

/** Recent diffs by content: a fleet mostly holds the same file, and each host would diff it again. */
const recentDiffs = new Map<string, string>();

/** The unified diff of a file change, or one line saying why there is none. */
function boundedDiff(c: FileChange): string {
  const before = c.before?.content ?? Buffer.alloc(0);
  const after = c.after?.content ?? Buffer.alloc(0);
  const key = [c.path, c.before ? sha256(before) : '-', c.after ? sha256(after) : '-'].join('\0');
  let text = recentDiffs.get(key);
  if (text === undefined) {
    text = computeDiff(c, before, after);
    if (recentDiffs.size >= 64) recentDiffs.delete(recentDiffs.keys().next().value!);
    recentDiffs.set(key, text);
  }
  return text;
}

function computeDiff(c: FileChange, before: Buffer, after: Buffer): string {
  const lines = [lineCount(before), lineCount(after)];
  const sizes = `${lines[0]} -> ${lines[1]} lines, ${before.length} -> ${after.length} bytes`;
  const skipped = (why: string) => `--- ${c.path}: diff skipped: ${sizes}, ${why}\n`;
  if (Math.max(before.length, after.length) > DIFF_LIMITS.bytes) return skipped(`over ${DIFF_LIMITS.bytes / (1024 * 1024)} MiB`);
  if (Math.max(...lines) > DIFF_LIMITS.lines) return skipped(`over ${DIFF_LIMITS.lines} lines`);
  const started = performance.now();
  const patch = createTwoFilesPatch(
    c.before ? c.path : '/dev/null',
    c.after ? c.path : '/dev/null',
    before.toString('utf8'),
    after.toString('utf8'),
    undefined,
    undefined,
    { context: 3, maxEditLength: DIFF_LIMITS.edits, timeout: DIFF_LIMITS.ms },
  );
  if (patch !== undefined) return patch;
  // jsdiff gives up the same way for both limits: the clock tells which one it was
  return skipped(performance.now() - started >= DIFF_LIMITS.ms ? `over ${DIFF_LIMITS.ms} ms of work` : `over ${DIFF_LIMITS.edits} line edits`);
}

/**
 * Bytes as a printf(1) format that prints exactly them: `%` and `\\` doubled,
 * printable ASCII and newline as they are, every other byte as a three-digit
 * octal escape (so no following digit can extend it, and NUL survives).
 */
export function printfFormat(bytes: Buffer): string {
  let out = '';
  for (const b of bytes) {
    if (b === 0x25) out += '%%';
    else if (b === 0x5c) out += '\\\\';
    else if ((b >= 0x20 && b < 0x7f) || b === 0x0a) out += String.fromCharCode(b);
    else out += `\\${b.toString(8).padStart(3, '0')}`;
  }
  return out;
}

/** The umask that makes a new file exactly `mode`, or '-' when only chmod can (execute or special bits). */
function umaskFor(mode: number): string {
  return (mode & ~0o666) === 0 ? (~mode & 0o777).toString(8).padStart(3, '0') : '-';
}

/**
 * The owner vp_write gives the file, as numbers: a new owner, or the existing file's when it is not root's
 * (the script runs as root, so what it creates is root's). None: root's, with nothing to do. Numbers from
 * the facts, not `chown --reference`, which only GNU's chown has.
 */
function fileOwner(c: FileChange): number[] {
  const { before, after } = c;
  if (!after) return [];
  if (after.uid !== undefined && after.gid !== undefined && !(before && before.uid === after.uid && before.gid === after.gid)) return [after.uid, after.gid];
  return before && (before.uid !== 0 || before.gid !== 0) ? [before.uid, before.gid] : [];
}

export const fileKind: ChangeKind<FileChange> = {
  simulate(state, c) {
    state.files.set(c.path, c.after ? { content: c.after.content, mode: c.after.mode, uid: c.before?.uid ?? 0, gid: c.before?.gid ?? 0 } : null);
  },
  inverse(c, opts) {
    return {
      kind: 'file',
      path: c.path,
      restore: true,
      ...(opts.force ? { force: true } : {}),
      before: c.after ? { content: c.after.content, mode: c.after.mode, uid: c.before?.uid ?? 0, gid: c.before?.gid ?? 0 } : null,
      after: c.before ? { content: c.before.content, mode: c.before.mode, uid: c.before.uid, gid: c.before.gid } : null,
    };
  },
  stepArgv(c) {
    // what the file must hold for the step to go ahead: what the plan read, or for an undo what the run wrote
    const expect = c.restore && c.force ? '-' : c.before ? sha256(c.before.content) : 'absent';
    if (!c.after) return c.restore && c.before && !c.force ? ['vp_rm', c.path, expect] : ['vp_rm', c.path];
    const mode = c.after.mode & 0o7777;
    return [
      'vp_write',
      c.path,
      printfFormat(c.after.content),
      mode.toString(8),
      umaskFor(mode),
      expect,
      c.restore ? sha256(c.after.content) : '-',
      ...fileOwner(c).map(String),
    ];
  },
  mayHang: false,
  diff(c) {
    return boundedDiff(c);
  },
  summary(c) {
    return c.after ? `${c.before ? 'update' : 'create'} ${c.path}` : `remove ${c.path}`;
  },
  drift(c) {
    return { item: `file ${c.path}`, expected: c.after ? 'content as planned' : 'absent', actual: c.before ? 'different content' : 'absent' };
  },
};
