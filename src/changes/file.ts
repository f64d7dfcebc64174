import { createHash } from 'node:crypto';
// only the patch writer (the package's index loads every diff algorithm: start-up time on every run)
import { createTwoFilesPatch } from 'diff/lib/patch/create.js';
import type { ChangeKind, FileChange } from './types.js';

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

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
    const a = c.before ? c.before.content.toString('utf8') : '';
    const b = c.after ? c.after.content.toString('utf8') : '';
    return createTwoFilesPatch(c.before ? c.path : '/dev/null', c.after ? c.path : '/dev/null', a, b, undefined, undefined, { context: 3 });
  },
  summary(c) {
    return c.after ? `${c.before ? 'update' : 'create'} ${c.path}` : `remove ${c.path}`;
  },
  drift(c) {
    return { item: `file ${c.path}`, expected: c.after ? 'content as planned' : 'absent', actual: c.before ? 'different content' : 'absent' };
  },
};
