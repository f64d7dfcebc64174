import { shJoin, shQuote } from './quote.js';
import type { Command } from './types.js';

/**
 * The command lines and shell scripts the SSH transport sends. They are pure
 * strings, so they can be checked against a local `sh` without SSH. Every
 * value in them goes through shQuote; file contents travel on stdin.
 *
 * sshd runs each line through the login shell (`$SHELL -c`), so the remote
 * user needs a POSIX shell, as Ansible also assumes.
 */

export function commandLine(cmd: Command): string {
  if ('argv' in cmd) {
    if (cmd.argv.length === 0) throw new Error('cannot run an empty argv');
    return shJoin(cmd.argv);
  }
  return `sh -c ${shQuote(cmd.script)}`;
}

/**
 * Gives the command a deadline of its own on the host, a second after the
 * transport's, so a timed-out command dies even though the SSH side can't
 * kill it: sshd refuses "signal" requests in root sessions (they run without
 * privilege separation), and closing the channel leaves the process running.
 * GNU timeout signals the command's whole process group: TERM first, KILL
 * two seconds later. Hosts without timeout(1) run the command as it is.
 */
export function withRemoteTimeout(line: string, timeoutMs: number): string {
  if (timeoutMs <= 0) return line;
  const seconds = Math.ceil(timeoutMs / 1000) + 1;
  // `sh -s` and `sh -c '<script>'` are already one program with its arguments: timeout runs it as it is
  // (one shell fewer on the host for every command). Anything else gets a shell of its own.
  if (SH_C_LINE.test(line)) return `if command -v timeout >/dev/null 2>&1; then exec timeout -k 2 ${seconds} ${line}; else exec ${line}; fi`;
  const quoted = shQuote(line);
  return `if command -v timeout >/dev/null 2>&1; then exec timeout -k 2 ${seconds} sh -c ${quoted}; else exec sh -c ${quoted}; fi`;
}

/** `sh -s`, or `sh -c` and one single-quoted word, as commandLine() and shQuote() write them. */
const SH_C_LINE = /^sh (?:-s|-c '(?:[^']|'\\'')*')$/;

/**
 * Wraps a command line for `sudo -n` when it must run as another user.
 * Non-interactive on purpose: a password prompt would hang a parallel run.
 */
export function withBecome(line: string, become: { enabled: boolean; user: string; connectedUser: string }): { line: string; sudo: boolean } {
  if (!become.enabled || become.user === become.connectedUser) return { line, sudo: false };
  return { line: `sudo -n -u ${shQuote(become.user)} -- sh -c ${shQuote(line)}`, sudo: true };
}

/** sudo -n's ways of saying it would have to ask for a password. */
export function sudoNeedsPassword(stderr: string): boolean {
  return /^sudo: (a password is required|a terminal is required|sorry, you must have a tty)/m.test(stderr);
}

export interface WriteScriptOptions {
  mode?: number;
  owner?: string;
}

const OWNER = /^[A-Za-z0-9_][A-Za-z0-9._-]*(:[A-Za-z0-9_][A-Za-z0-9._-]*)?$/;

export function formatMode(mode: number): string {
  if (!Number.isInteger(mode) || mode < 0 || mode > 0o7777) throw new Error(`file mode ${mode} is not between 0 and 07777`);
  return mode.toString(8).padStart(4, '0');
}

/**
 * Replaces a file atomically with the bytes on stdin, in one round trip:
 * a temp file in the same directory (so the rename stays on one file
 * system), the existing file's mode, owner and SELinux label copied onto
 * it, the requested mode and owner applied, fsync, then rename over the
 * target. A symlink is followed, so the file it points to is replaced and
 * the link survives (Debian's /etc/sysctl.d/99-sysctl.conf is one). The temp
 * file is removed on any failure.
 */
export function writeFileScript(path: string, opts: WriteScriptOptions = {}): string {
  if (opts.owner !== undefined && !OWNER.test(opts.owner)) throw new Error(`owner "${opts.owner}" is not user or user:group`);
  const lines = [
    `t=${shQuote(path)}`,
    // $(...) drops trailing newlines; the x keeps them, then goes.
    `if [ -L "$t" ]; then t=$(readlink -f -- "$t" && echo x) || exit 1; t=\${t%??}; fi`,
    `d=$(dirname -- "$t" && echo x) || exit 1`,
    `d=\${d%??}`,
    `tmp=$(mktemp -- "$d/.vipush-tmp.XXXXXXXXXX") || exit 1`,
    `trap 'rm -f -- "$tmp"' EXIT`,
    `trap 'exit 1' HUP INT TERM`,
    `cat > "$tmp" || exit 1`,
    `if [ -e "$t" ]; then`,
    `  chmod --reference="$t" -- "$tmp" || exit 1`,
    `  chown --reference="$t" -- "$tmp" || exit 1`,
    // SELinux hosts only: elsewhere chcon fails, and that is fine.
    `  if command -v chcon >/dev/null 2>&1; then chcon --reference="$t" -- "$tmp" 2>/dev/null || :; fi`,
    `else`,
    // mktemp creates 0600; a new file should look like any other new file.
    `  chmod -- "$(printf %o $((0666 & ~$(umask))))" "$tmp" || exit 1`,
    `fi`,
  ];
  if (opts.mode !== undefined) lines.push(`chmod -- ${formatMode(opts.mode)} "$tmp" || exit 1`);
  if (opts.owner !== undefined) lines.push(`chown -- ${shQuote(opts.owner)} "$tmp" || exit 1`);
  lines.push(
    `sync -- "$tmp" || exit 1`,
    `mv -f -- "$tmp" "$t" || exit 1`,
    `trap - EXIT`,
    // the rename itself reaches the disk once the directory is synced
    `sync -- "$d" 2>/dev/null || :`,
  );
  return lines.join('\n');
}
