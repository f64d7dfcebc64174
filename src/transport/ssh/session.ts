import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type { ClientChannel } from 'ssh2';
import { HostError } from '../../errors.js';
import { shQuote } from '../quote.js';
import { withRemoteTimeout } from '../remote-commands.js';
import type { ExecResult, ShellSession } from '../types.js';
import { stoppedAfterTimeout, sudoRefusal } from './failures.js';

/** The ShellSession of SshTransport.session(). */
export class SshShellSession implements ShellSession {
  private out: Buffer = Buffer.alloc(0);
  private errChunks: Buffer[] = [];
  private code: number | null = null;
  private signal: string | null = null;
  private closed = false;
  private ended = false;
  private wake: (() => void) | null = null;

  constructor(
    private readonly host: string,
    private readonly ch: ClientChannel,
    private readonly link: { lost: () => HostError | null; watch: (fail: (e: HostError) => void) => () => void; sudo: boolean; onError: (e: Error) => void },
  ) {
    ch.on('data', (chunk: Buffer) => {
      this.out = this.out.length === 0 ? chunk : Buffer.concat([this.out, chunk]);
      this.wake?.();
    });
    ch.stderr.on('data', (chunk: Buffer) => this.errChunks.push(chunk));
    ch.on('exit', (exitCode: number | null, signalName?: string) => {
      this.code = typeof exitCode === 'number' ? exitCode : null;
      this.signal = signalName ? `SIG${signalName}` : null;
    });
    ch.on('error', (e: Error) => link.onError(e));
    ch.on('close', () => {
      const done = () => {
        this.closed = true;
        this.wake?.();
      };
      if (ch.stderr.readableEnded || ch.stderr.destroyed) done();
      else ch.stderr.once('end', done);
    });
  }

  /** Nothing more can be sent once the shell ended: the connection's error if it dropped, else that. */
  private assertOpen(what: string): void {
    if (this.ended || this.closed) throw this.link.lost() ?? new HostError(this.host, 'command', `${what}: the shell has already ended`);
  }

  private stderr(): string {
    return Buffer.concat(this.errChunks).toString('utf8');
  }

  /** Resolves when `ready()` holds after new output; rejects on a timeout, a lost connection, or the shell exiting first. */
  private waitFor(ready: () => boolean, opts: { timeoutMs: number; what: string }): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      let unwatch = () => {};
      const settle = (err?: Error) => {
        this.wake = null;
        if (timer) clearTimeout(timer);
        unwatch();
        if (err) reject(err);
        else resolve();
      };
      const check = () => {
        if (ready()) return settle();
        if (!this.closed) return;
        const lost = this.link.lost();
        if (lost) return settle(lost);
        const stderr = this.stderr();
        const refused = sudoRefusal(this.host, this.link.sudo, this.code, stderr);
        if (refused) return settle(refused);
        const last = stderr.trim().split('\n').slice(-1)[0] ?? '';
        settle(new HostError(this.host, 'command', `${opts.what} ended early (exit ${this.code ?? this.signal ?? 'unknown'})${last ? `: ${last}` : ''}`));
      };
      unwatch = this.link.watch((e) => settle(e));
      if (opts.timeoutMs > 0) {
        timer = setTimeout(() => {
          settle(stoppedAfterTimeout(this.host, opts.what, opts.timeoutMs));
          this.ch.close();
        }, opts.timeoutMs);
      }
      this.wake = check;
      check();
    });
  }

  /**
   * Writes input that ends by printing a fresh marker line, waits for that
   * line at the end of the output, and returns the output before it.
   */
  private async untilMarker(input: (marker: string) => string, opts: { timeoutMs: number; what: string }): Promise<Buffer> {
    const marker = `@@vipush:ready:${randomBytes(8).toString('hex')}`;
    const line = Buffer.from(`${marker}\n`);
    this.assertOpen(opts.what);
    this.ch.write(input(marker));
    await this.waitFor(() => this.out.length >= line.length && this.out.subarray(this.out.length - line.length).equals(line), opts);
    const out = this.out.subarray(0, this.out.length - line.length);
    this.out = Buffer.alloc(0);
    return out;
  }

  exchange(script: string, opts: { timeoutMs: number; what: string }): Promise<Buffer> {
    return this.untilMarker((marker) => `${script}\nprintf '%s\\n' '${marker}'\n`, opts);
  }

  async finish(script: string, opts: { timeoutMs: number; what: string; hostDeadline?: boolean }): Promise<ExecResult> {
    const started = performance.now();
    const errBefore = this.stderr().length;
    if (opts.hostDeadline === false || opts.timeoutMs <= 0) {
      // The shell has run everything sent so far (the last exchange's marker came back), so it reads
      // this script next, as it is: no program started for it.
      this.assertOpen(opts.what);
    } else {
      // The shell becomes `timeout … sh -c …` (the same host deadline as any command), which says it is
      // ready and then reads the rest of the input itself: `. /dev/stdin`, no second sh started.
      await this.untilMarker((marker) => {
        const line = `sh -c ${shQuote(`printf '%s\\n' '${marker}'; if [ -r /dev/stdin ]; then . /dev/stdin; else exec sh -s; fi`)}`;
        return `${withRemoteTimeout(line, opts.timeoutMs)}\n`;
      }, opts);
    }
    this.ended = true;
    this.ch.end(script);
    // the script's exit status and what it printed are the answer
    await this.waitFor(() => this.closed, opts);
    const lost = this.link.lost();
    if (lost && this.code === null) throw lost;
    const stdout = this.out;
    const durationMs = performance.now() - started;
    return { stdout: stdout.toString('utf8'), stdoutBytes: stdout, stderr: this.stderr().slice(errBefore), code: this.code, signal: this.signal, durationMs };
  }

  close(): void {
    if (this.ended || this.closed) return;
    this.ended = true;
    this.ch.end();
  }
}
