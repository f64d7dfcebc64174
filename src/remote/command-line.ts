import { shJoin, shQuote } from './quote.js';

/** argv is quoted by the one quoting function; a script is passed to `sh -c` as one quoted word. */
export type Command = { argv: string[] } | { script: string };

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
