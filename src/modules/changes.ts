import { createHash } from 'node:crypto';
// only the patch writer (the package's index loads every diff algorithm: start-up time on every run)
import { createTwoFilesPatch } from 'diff/lib/patch/create.js';
import type { HostFacts } from '../facts/types.js';
import { shJoin } from '../transport/quote.js';
import { sysctlPath } from '../facts/gather.js';
import type { Change, DriftItem } from './types.js';

/** Applies a change to the simulated state, so later tasks plan against what earlier ones did. */
export function simulate(state: HostFacts, c: Change): void {
  switch (c.kind) {
    case 'file':
      state.files.set(c.path, c.after ? { content: c.after.content, mode: c.after.mode, uid: c.before?.uid ?? 0, gid: c.before?.gid ?? 0 } : null);
      break;
    case 'sysctl-live': {
      state.sysctls.set(c.key, c.to);
      const m = /^net\.ipv4\.conf\.([^.]+)\.(arp_ignore|arp_announce)$/.exec(c.key);
      if (m) {
        const cur = state.arp.get(m[1]) ?? { arpIgnore: 0, arpAnnounce: 0 };
        state.arp.set(m[1], m[2] === 'arp_ignore' ? { ...cur, arpIgnore: Number(c.to) } : { ...cur, arpAnnounce: Number(c.to) });
      }
      break;
    }
    case 'address': {
      const [ip, prefix] = c.cidr.split('/');
      if (c.op === 'add') state.addresses.push({ dev: c.dev, family: c.family, local: ip, prefixlen: Number(prefix), scope: c.scope, label: c.label });
      else state.addresses = state.addresses.filter((a) => !(a.dev === c.dev && a.local === ip && a.prefixlen === Number(prefix)));
      break;
    }
    case 'command':
    case 'exec':
      break;
  }
}

/**
 * Hidden ARP's order of operations, enforced in this one place: every
 * address removal runs first (the VIP goes down before anything else), then
 * the rest in playbook order. Address additions stay where the playbook put
 * them, after the sysctl tasks; the ARP guard in the address module refuses a
 * playbook that would add a VIP before ARP is hidden.
 */
export function safeOrder<T extends { change: Change }>(steps: T[]): T[] {
  const isDel = (s: T) => s.change.kind === 'address' && s.change.op === 'del';
  return [...steps.filter(isDel), ...steps.filter((s) => !isDel(s))];
}

/** The undo of a change, as a change. Commands can't be undone. */
export function inverse(c: Change): Change | undefined {
  switch (c.kind) {
    case 'file':
      return {
        kind: 'file',
        path: c.path,
        restore: true,
        before: c.after ? { content: c.after.content, mode: c.after.mode, uid: c.before?.uid ?? 0, gid: c.before?.gid ?? 0 } : null,
        after: c.before ? { content: c.before.content, mode: c.before.mode, uid: c.before.uid, gid: c.before.gid } : null,
      };
    case 'sysctl-live':
      return c.from === null ? undefined : { kind: 'sysctl-live', key: c.key, from: c.to, to: c.from };
    case 'address':
      return { ...c, op: c.op === 'add' ? 'del' : 'add' };
    case 'command':
      return c.undo ? { kind: 'command', argv: c.undo.argv, shell: c.undo.shell, reportChanged: true } : undefined;
    default:
      return undefined;
  }
}

/** A directory on the host for vipush's run lock and scratch output: root's only (/run/lock is world-writable). */
export const HOST_RUN_DIR = '/run/vipush';
/**
 * The scratch file a program's answer goes to when the script needs it in a variable: only the run holding
 * the lock writes it, and the shell reads it back with `read` (a $(...) would cost every host a forked
 * subshell). It is on /run, so a full disk under /etc does not stop an undo from checking its file.
 */
const SCRATCH = `${HOST_RUN_DIR}/out`;

/**
 * Shell functions used by the step snippets below. Each prints why it failed
 * on stderr. Written for the host's CPU: shell builtins wherever they do the
 * job (a fleet pays for every program a step starts), so a file write runs
 * sha256sum (only to check an existing file), sync and mv, a sysctl write
 * none, an address change one `ip`.
 */
export const SHELL_PRELUDE = [
  // h: the sha256 of file $1, through the scratch file
  `vp_sha() { h=; sha256sum < "$1" > ${SCRATCH} && read -r h vp_l < ${SCRATCH}; }`,
  // path printf-format mode umask expect newsha [uid gid]
  // The bytes come as a printf format (see printfFormat), written by the shell itself into a new temp
  // file in the target's directory (noclobber: O_EXCL, never through a planted link), created with the
  // wanted mode by the umask ('-': chmod). expect is '-', 'absent' or the sha256 the plan saw: a file
  // changed since vipush read it is not overwritten. newsha ('-' or a sha256): a file that already
  // holds the new bytes is left alone (an undo on a full disk must not fail for nothing). Symlinks are
  // followed. uid gid: chown to them (the plan gives an existing file's owner when it is not root's).
  // Steps run in the script's own shell (no subshell each): what a function changes, it puts back.
  "vp_write() {",
  "  p=$1; [ ! -L \"$p\" ] || p=$(readlink -f -- \"$1\") || return 1",
  "  h=; if [ -f \"$p\" ] && { [ \"$6\" != - ] || [ ${#5} -eq 64 ]; }; then vp_sha \"$p\" || return 1; fi",
  "  if [ \"$6\" != - ] && [ \"$h\" = \"$6\" ]; then chmod \"$3\" \"$p\"; return; fi",
  "  case $5 in -) ;; absent) [ ! -e \"$p\" ] || { echo \"$1 appeared since vipush read it; run again\" >&2; return 1; } ;;",
  "    *) [ \"$h\" = \"$5\" ] || { echo \"$1 changed since vipush read it; run again\" >&2; return 1; } ;; esac",
  // a file that was absent is created in place (O_EXCL, then fsync): no temp file and rename needed
  "  if [ \"$5\" = absent ]; then t=$p; else t=\"${p%/*}/.vipush-$vp_r-${p##*/}\"; [ ! -e \"$t\" ] && [ ! -L \"$t\" ] || rm -f -- \"$t\"; fi",
  "  [ \"$4\" = - ] || umask \"$4\"",
  "  set -C; { : > \"$t\"; } 2>/dev/null; r=$?; set +C; umask 022",
  "  [ $r -eq 0 ] || { echo \"cannot create $t\" >&2; return 1; }",
  "  printf -- \"$2\" > \"$t\" || { rm -f -- \"$t\"; echo \"cannot write $1\" >&2; return 1; }",
  "  [ \"$4\" != - ] || chmod \"$3\" \"$t\" || { rm -f -- \"$t\"; return 1; }",
  "  if [ -n \"${7:-}\" ]; then chown \"$7:$8\" \"$t\" || { rm -f -- \"$t\"; return 1; }; fi",
  "  sync -- \"$t\" && { [ \"$t\" = \"$p\" ] || mv -f -- \"$t\" \"$p\"; } || { rm -f -- \"$t\"; echo \"cannot replace $1\" >&2; return 1; }",
  "}",
  "vp_rm() { [ ! -e \"$1\" ] || rm -f -- \"$1\"; }",
  // the kernel's file, written and read back by the shell: what `sysctl -w` does, without the program
  "vp_sysctl() { # key value procpath",
  "  k=$1 w=$2 e=",
  "  printf '%s\\n' \"$2\" 2>/dev/null > \"$3\" || e='the kernel refused the value'",
  // read back; whitespace folded as the kernel prints tabs (ip_local_port_range)
  "  v=; read -r v < \"$3\" 2>/dev/null; set -f; set -- $v; set +f; v=\"$*\"",
  "  [ \"$v\" = \"$w\" ] || { echo \"sysctl $k: wanted $w, the kernel has ${v:-nothing}${e:+ ($e)}\" >&2; return 1; }",
  "}",
  // one `ip` changes the address and reads it back (a batch; the values are validated: no blanks); its answer
  // comes back through the scratch file, its lines joined by blanks
  `vp_ipout() { o=; while IFS= read -r vp_l || [ -n "$vp_l" ]; do o="$o$vp_l "; done < ${SCRATCH}; }`,
  "vp_addr_add() { # family cidr dev scope [label]",
  `  ip -o -"$1" -batch - > ${SCRATCH} 2>&1 <<VIPUSH_IP`,
  "addr add $2 dev $3 scope $4${5:+ label $5}",
  "addr show dev $3 to $2",
  "VIPUSH_IP",
  "  vp_ipout",
  "  case \" $o\" in *\" scope $4 \"*) ;; *) echo \"$2 is not on $3 with scope $4 after adding it${o:+: $o}\" >&2; return 1 ;; esac",
  "}",
  // an address already gone is fine (-force: the read-back runs anyway); one still there is not
  "vp_addr_del() { # family cidr dev",
  `  ip -o -"$1" -force -batch - > ${SCRATCH} 2>&1 <<VIPUSH_IP`,
  "addr del $2 dev $3",
  "addr show dev $3 to $2",
  "VIPUSH_IP",
  "  vp_ipout",
  "  case \"$o\" in *inet*) echo \"$2 is still on $3 after removing it: $o\" >&2; return 1 ;; esac",
  "}",
].join('\n');

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
function fileOwner(c: Extract<Change, { kind: 'file' }>): number[] {
  const { before, after } = c;
  if (!after) return [];
  if (after.uid !== undefined && after.gid !== undefined && !(before && before.uid === after.uid && before.gid === after.gid)) return [after.uid, after.gid];
  return before && (before.uid !== 0 || before.gid !== 0) ? [before.uid, before.gid] : [];
}

/** One shell command line that performs the change and reads it back. */
export function changeShell(c: Change): string {
  switch (c.kind) {
    case 'file':
      if (!c.after) return shJoin(['vp_rm', c.path]);
      return shJoin([
        'vp_write',
        c.path,
        printfFormat(c.after.content),
        (c.after.mode & 0o7777).toString(8),
        umaskFor(c.after.mode & 0o7777),
        c.restore ? '-' : c.before ? createHash('sha256').update(c.before.content).digest('hex') : 'absent',
        c.restore ? createHash('sha256').update(c.after.content).digest('hex') : '-',
        ...fileOwner(c).map(String),
      ]);
    case 'sysctl-live':
      return shJoin(['vp_sysctl', c.key, c.to, sysctlPath(c.key)]);
    case 'address':
      return c.op === 'add'
        ? shJoin(['vp_addr_add', String(c.family), c.cidr, c.dev, c.scope, ...(c.label ? [c.label] : [])])
        : shJoin(['vp_addr_del', String(c.family), c.cidr, c.dev]);
    case 'command':
      // in a subshell: an argv naming a shell builtin (exit, cd, set...) must not act on the apply script itself
      return c.argv ? `( ${shJoin(c.argv)} )` : shJoin(['sh', '-c', c.shell ?? 'true']);
    case 'exec':
      return `( ${shJoin(c.argv)} )`;
  }
}

/** For --diff: unified diffs of files, before/after of live values. */
export function describeDiff(c: Change): string {
  switch (c.kind) {
    case 'file': {
      const a = c.before ? c.before.content.toString('utf8') : '';
      const b = c.after ? c.after.content.toString('utf8') : '';
      return createTwoFilesPatch(c.before ? c.path : '/dev/null', c.after ? c.path : '/dev/null', a, b, undefined, undefined, { context: 3 });
    }
    case 'sysctl-live':
      return `sysctl ${c.key}: ${c.from ?? '(unset)'} -> ${c.to}\n`;
    case 'address':
      return `${c.op === 'add' ? '+' : '-'} ip addr ${c.cidr} dev ${c.dev} scope ${c.scope}${c.label ? ` label ${c.label}` : ''}\n`;
    case 'command':
      return `run: ${c.argv ? shJoin(c.argv) : c.shell}\n`;
    case 'exec':
      return `run: ${shJoin(c.argv)} (${c.why})\n`;
  }
}

/** A one-line summary for progress output and reports. */
export function summarise(c: Change): string {
  switch (c.kind) {
    case 'file':
      return c.after ? `${c.before ? 'update' : 'create'} ${c.path}` : `remove ${c.path}`;
    case 'sysctl-live':
      return `${c.key} ${c.from ?? '(unset)'} -> ${c.to}`;
    case 'address':
      return `${c.op} ${c.cidr} dev ${c.dev} scope ${c.scope}${c.label ? ` label ${c.label}` : ''}`;
    case 'command':
      return `run ${c.argv ? shJoin(c.argv) : c.shell}`;
    case 'exec':
      return `run ${shJoin(c.argv)}`;
  }
}

/** Drift as {item, expected, actual}: what a change would fix. */
export function driftOf(c: Change): DriftItem | undefined {
  switch (c.kind) {
    case 'file':
      return { item: `file ${c.path}`, expected: c.after ? 'content as planned' : 'absent', actual: c.before ? 'different content' : 'absent' };
    case 'sysctl-live':
      return { item: `sysctl ${c.key}`, expected: c.to, actual: c.from ?? '(unset)' };
    case 'address':
      return c.op === 'add'
        ? { item: `address ${c.cidr} on ${c.dev}`, expected: `present, scope ${c.scope}${c.label ? `, label ${c.label}` : ''}`, actual: 'absent or different' }
        : { item: `address ${c.cidr} on ${c.dev}`, expected: 'absent', actual: `present, scope ${c.scope}` };
    default:
      return undefined;
  }
}

