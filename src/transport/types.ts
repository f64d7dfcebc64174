/**
 * The only interface modules and the engine use to reach a host. Only
 * src/transport/ssh.ts knows SSH; unit tests use a fake that implements this.
 */
export interface ExecResult {
  stdout: string;
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

/** argv is quoted by the one quoting function; a script is passed to `sh -c` as one quoted word. */
export type Command = { argv: string[] } | { script: string };

export interface WriteFileOptions {
  /** octal mode for a new file; an existing file keeps its mode unless this is given */
  mode?: number;
  /** "user" or "user:group" for a new file; an existing file keeps its owner unless this is given */
  owner?: string;
  become?: boolean;
}

export interface Transport {
  readonly host: string;
  exec(cmd: Command, opts?: ExecOptions): Promise<ExecResult>;
  /** The file's bytes, or null if it does not exist. */
  readFile(path: string, opts?: { become?: boolean }): Promise<Buffer | null>;
  /** Atomic: temp file in the same directory, fsync, rename. */
  writeFile(path: string, data: string | Buffer, opts?: WriteFileOptions): Promise<void>;
  close(): Promise<void>;
}
