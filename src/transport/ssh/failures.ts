import { HostError } from '../../errors.js';
import { sudoNeedsPassword } from '../remote-commands.js';

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
