import type { Command } from '../remote/command-line.js';

export type { Command };

/**
 * The only interface modules and the engine use to reach a host. Only
 * src/transport/ssh/ knows SSH; unit tests use a fake that implements this.
 */
export interface ExecResult {
  /** The SSH transport fails the host instead when a command sends more than its cap (64 MiB). */
  stdout: string;
  /** The end of it: the SSH transport keeps the last 64 KiB. */
  stderr: string;
  /** Exit status, or null when the command was killed by a signal or the connection dropped. */
  code: number | null;
  signal: string | null;
  durationMs: number;
  /** stdout exactly as the host sent it (the string above is its UTF-8 reading). */
  stdoutBytes?: Buffer;
}

export interface ExecOptions {
  /** Bytes fed to the command's standard input. */
  stdin?: string | Buffer;
  /** Kill the command (and report a timeout) after this long. */
  timeoutMs?: number;
  /**
   * false: no deadline of its own on the host (no timeout(1) process), only
   * the controller's. For short read-only commands, where a command left
   * running after a timeout harms nothing.
   */
  hostDeadline?: boolean;
  /** Run through `sudo -n` (as becomeUser, default root). */
  become?: boolean;
  becomeUser?: string;
}

/**
 * One shell on the host, fed script by script on its standard input: a
 * host's facts and its apply script share one exec channel (one shell
 * started by sshd, not two).
 */
export interface ShellSession {
  /** Runs a script in the shell; resolves with its stdout once all of it has run. The shell goes on. */
  exchange(script: string, opts: { timeoutMs: number; what: string }): Promise<Buffer>;
  /**
   * Runs the last script, then ends the shell; resolves with the script's
   * output and exit. With `hostDeadline` (the default) the script gets a
   * deadline of its own on the host, as exec gives a command (`timeout`, in
   * a new shell); without it, the script runs in this shell as it is, and
   * only the controller's deadline applies.
   */
  finish(script: string, opts: { timeoutMs: number; what: string; hostDeadline?: boolean }): Promise<ExecResult>;
  /** Ends the shell without running anything more. */
  close(): void;
}

export interface Transport {
  readonly host: string;
  exec(cmd: Command, opts?: ExecOptions): Promise<ExecResult>;
  /** A shell on the host for a host's whole run: facts, then the apply script. */
  session(opts?: { become?: boolean }): Promise<ShellSession>;
  close(): Promise<void>;
}
