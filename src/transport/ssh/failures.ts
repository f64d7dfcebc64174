import { HostError } from '../../errors.js';
import { sudoNeedsPassword } from '../../remote/command-line.js';

/**
 * The failures the SSH transport reports from more than one place, each
 * worded in one function, so a command and a shell session say the same
 * thing about the same problem.
 */

export function describeEndpoint(e: { label: string; address: string; port: number }): string {
  const addr = e.port === 22 ? e.address : `${e.address}:${e.port}`;
  return e.label === e.address ? addr : `${e.label} (${addr})`;
}

export function seconds(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  return ms % 1000 === 0 ? `${ms / 1000} s` : `${(ms / 1000).toFixed(1)} s`;
}

/** A set-up failure that a new attempt may cure (sshd restarting, MaxStartups, a dropped SYN). */
export class TransientFailure extends Error {
  constructor(readonly error: HostError) {
    super(error.message);
  }
}

/** An auth HostError when what ran under `sudo -n` failed because sudo wanted a password; null otherwise. */
export function sudoRefusal(host: string, sudo: boolean, code: number | null, stderr: string): HostError | null {
  if (!sudo || code !== 1 || !sudoNeedsPassword(stderr)) return null;
  return new HostError(host, 'auth', `sudo on ${host} needs a password; vipush uses sudo -n: allow NOPASSWD for this user or connect as root`);
}

export function stoppedAfterTimeout(host: string, what: string, timeoutMs: number): HostError {
  return new HostError(host, 'timeout', `${what} on ${host} did not finish within ${seconds(timeoutMs)}; vipush stopped it`);
}

/** The channel for a command or a shell could not be opened on a connection that is still up. */
export function cannotStart(host: string, what: 'a command' | 'a shell', where: string, cause: Error): HostError {
  return new HostError(host, 'connection-lost', `cannot start ${what} on ${where}: ${cause.message}`);
}

/** 64 MiB, 64 KiB or 1000 bytes: a limit as a person would write it. */
export function formatBytes(n: number): string {
  if (n >= 1 << 20 && n % (1 << 20) === 0) return `${n / (1 << 20)} MiB`;
  if (n >= 1 << 10 && n % (1 << 10) === 0) return `${n / (1 << 10)} KiB`;
  return `${n} bytes`;
}

export function tooMuchStdout(host: string, what: string, capBytes: number): HostError {
  return new HostError(host, 'command', `${host} sent more than ${formatBytes(capBytes)} on stdout for ${what}; vipush stopped it`);
}

/** A listener of ours threw: a bug, reported as this host's failure instead of crashing the run. */
export function listenerFailure(host: string, what: string, cause: unknown): HostError {
  const reason = cause instanceof Error ? cause.message : String(cause);
  return new HostError(host, 'command', `vipush could not handle what ${host} sent for ${what}: ${reason}`);
}

/**
 * Wraps an event listener so that nothing it throws escapes into ssh2's
 * socket handling, where it would crash the process: it goes to onThrow,
 * which fails the one host instead.
 */
export function guarded<A extends unknown[]>(listener: (...args: A) => void, onThrow: (e: unknown) => void): (...args: A) => void {
  return (...args: A) => {
    try {
      listener(...args);
    } catch (e) {
      try {
        onThrow(e);
      } catch {
        // onThrow only settles a promise and closes a channel; should even that throw, no one is left to tell
      }
    }
  };
}
