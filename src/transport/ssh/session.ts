import { performance } from 'node:perf_hooks';
import type { ClientChannel } from 'ssh2';
import { HostError } from '../../errors.js';
import { shQuote } from '../../remote/quote.js';
import { withRemoteTimeout } from '../../remote/command-line.js';
import type { ExecResult, ShellSession } from '../types.js';
import { CappedChunks, STDERR_TAIL_BYTES, TailBuffer } from './bounded.js';
import { guarded, listenerFailure, stoppedAfterTimeout, sudoRefusal, tooMuchStdout } from './failures.js';
import { newNonce, readyLine } from '../../remote/markers.js';

/** What the session needs from its transport. */
export interface SessionLink {
  /** the connection's failure, once it dropped */
  lost: () => HostError | null;
  /** registers a callback the transport calls when the connection drops; returns its removal */
  watch: (fail: (e: HostError) => void) => () => void;
  sudo: boolean;
  /** stdout one exchange (or the last script) may send */
  maxStdoutBytes: number;
  onError: (e: Error) => void;
}

/** The ShellSession of SshTransport.session(). */
export class SshShellSession implements ShellSession {
  /** stdout since the last marker; capped, so a flood fails this host instead of filling memory */
  private readonly out: CappedChunks;
  private readonly err = new TailBuffer(STDERR_TAIL_BYTES);
  private code: number | null = null;
  private signal: string | null = null;
  private closed = false;
  private ended = false;
  /** set when the host sent too much, or a listener threw: every wait and every later call fails with it */
  private failure: HostError | null = null;
  /** what the shell is doing now, for messages */
  private what = 'the shell';
  private wake: (() => void) | null = null;

  constructor(
    private readonly host: string,
    private readonly ch: ClientChannel,
    private readonly link: SessionLink,
  ) {
    this.out = new CappedChunks(link.maxStdoutBytes);
    const guard = <A extends unknown[]>(listener: (...args: A) => void) => guarded(listener, (e) => this.fail(listenerFailure(host, this.what, e)));
    ch.on(
      'data',
      guard((chunk: Buffer) => {
        if (this.failure) return;
        if (!this.out.push(chunk)) return this.fail(tooMuchStdout(host, this.what, link.maxStdoutBytes));
        this.wake?.();
      }),
    );
    ch.stderr.on(
      'data',
      guard((chunk: Buffer) => this.err.push(chunk)),
    );
    ch.on(
      'exit',
      guard((exitCode: number | null, signalName?: string) => {
        this.code = typeof exitCode === 'number' ? exitCode : null;
        this.signal = signalName ? `SIG${signalName}` : null;
      }),
    );
    ch.on(
      'error',
      guard((e: Error) => link.onError(e)),
    );
    const done = guard(() => {
      this.closed = true;
      this.wake?.();
    });
    ch.on(
      'close',
      guard(() => {
        if (ch.stderr.readableEnded || ch.stderr.destroyed) done();
        else ch.stderr.once('end', done);
      }),
    );
  }

  /** The first failure stays: the wait under way ends with it, then the channel is closed (the host's shell goes). */
  private fail(e: HostError): void {
    this.failure ??= e;
    this.out.clear();
    this.ended = true;
    this.wake?.();
    this.ch.close();
  }

  /** Nothing more can be sent once the shell ended: the connection's error if it dropped, else that. */
  private assertOpen(what: string): void {
    if (this.failure) throw this.failure;
    if (this.ended || this.closed) throw this.link.lost() ?? new HostError(this.host, 'command', `${what}: the shell has already ended`);
  }

  private stderr(): string {
    return this.err.bytes().toString('utf8');
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
        if (this.failure) return settle(this.failure);
        if (ready()) return settle();
        if (!this.closed) return;
        const lost = this.link.lost();
        if (lost) return settle(lost);
        const stderr = this.stderr();
        const refused = sudoRefusal(this.host, this.link.sudo, this.code, stderr);
        if (refused) return settle(refused);
        const last = stderr.trim().split('\n').slice(-1)[0] ?? '';
        const ended = { code: this.code, lastStderrLine: last };
        settle(
          new HostError(this.host, 'command', `${opts.what} ended early (exit ${this.code ?? this.signal ?? 'unknown'})${last ? `: ${last}` : ''}`, ended),
        );
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
    const line = Buffer.from(readyLine(newNonce()));
    const marker = line.toString().trimEnd();
    this.assertOpen(opts.what);
    this.what = opts.what;
    this.ch.write(input(marker));
    // only the last line.length bytes are compared on each chunk, so a long answer costs no rescans
    await this.waitFor(() => this.out.endsWith(line), opts);
    const all = this.out.bytes();
    this.out.clear();
    return all.subarray(0, all.length - line.length);
  }

  exchange(script: string, opts: { timeoutMs: number; what: string }): Promise<Buffer> {
    return this.untilMarker((marker) => `${script}\nprintf '%s\\n' '${marker}'\n`, opts);
  }

  async finish(script: string, opts: { timeoutMs: number; what: string; hostDeadline?: boolean }): Promise<ExecResult> {
    const started = performance.now();
    const errBefore = this.err.totalBytes;
    if (opts.hostDeadline === false || opts.timeoutMs <= 0) {
      // The shell has run everything sent so far (the last exchange's marker came back), so it reads
      // this script next, as it is: no program started for it.
      this.assertOpen(opts.what);
      this.what = opts.what;
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
    const stdout = this.out.bytes();
    const stderr = this.err.since(errBefore).toString('utf8');
    return { stdout: stdout.toString('utf8'), stdoutBytes: stdout, stderr, code: this.code, signal: this.signal, durationMs: performance.now() - started };
  }

  close(): void {
    if (this.ended || this.closed) return;
    this.ended = true;
    this.ch.end();
  }
}
