import { performance } from 'node:perf_hooks';
import pLimit from 'p-limit';
import type { Client, ClientChannel } from 'ssh2';
import { HostError } from '../../errors.js';
import { commandLine, withBecome, withRemoteTimeout } from '../../remote/command-line.js';
import type { ConnectTarget, Endpoint } from '../resolve.js';
import type { Command, ExecOptions, ExecResult, ShellSession, Transport } from '../types.js';
import type { TransportLogger } from './run-connections.js';
import { CappedChunks, MAX_STDOUT_BYTES, STDERR_TAIL_BYTES, TailBuffer } from './bounded.js';
import { cannotStart, describeEndpoint, guarded, listenerFailure, stoppedAfterTimeout, sudoRefusal, tooMuchStdout } from './failures.js';
import type { JumpLease } from './jump.js';
import { SshShellSession } from './session.js';

/** OpenSSH allows 10 sessions per connection (MaxSessions); stay below it. */
const MAX_CHANNELS_PER_CONNECTION = 8;
const CLOSE_WAIT_MS = 2_000;

interface RawResult {
  stdout: Buffer;
  stderr: Buffer;
  code: number | null;
  signal: string | null;
  durationMs: number;
}

function abbreviate(text: string): string {
  return text.length > 120 ? `${text.slice(0, 117)}...` : text;
}

/**
 * One SSH connection to one host, reused for every command and file. A
 * command's failure is a value (its exit code); a failure of the connection
 * is a HostError, and after one the transport is dead: every later call
 * fails at once with the same error.
 */
export class SshTransport implements Transport {
  readonly host: string;
  readonly address: string;
  readonly port: number;
  readonly user: string;
  private readonly client: Client;
  private readonly where: string;
  private readonly become: boolean;
  private readonly becomeUser: string;
  private readonly commandTimeoutMs: number;
  private readonly maxStdoutBytes: number;
  private readonly logger: TransportLogger;
  private readonly channels = pLimit(MAX_CHANNELS_PER_CONNECTION);
  private readonly running = new Set<(err: HostError) => void>();
  private jump: Pick<JumpLease, 'release'> | null;
  private lost: HostError | null = null;
  private closing = false;
  private lastError: Error | undefined;

  /** Use connectHost(); this takes a client that is already logged in. */
  constructor(
    client: Client,
    endpoint: Endpoint,
    target: ConnectTarget,
    settings: { commandTimeoutMs: number; logger: TransportLogger; maxStdoutBytes?: number },
    jump: Pick<JumpLease, 'release'> | null,
  ) {
    this.host = target.host;
    this.address = endpoint.address;
    this.port = endpoint.port;
    this.user = endpoint.user;
    this.client = client;
    this.where = describeEndpoint(endpoint);
    this.become = target.become;
    this.becomeUser = target.becomeUser ?? 'root';
    this.commandTimeoutMs = settings.commandTimeoutMs;
    this.maxStdoutBytes = settings.maxStdoutBytes ?? MAX_STDOUT_BYTES;
    this.logger = settings.logger;
    this.jump = jump;
    // Listening for 'error' for as long as the client lives: an ssh2 'error' with no listener kills the process.
    this.client.on('error', (e: Error) => {
      this.lastError = e;
    });
    const markLost = guarded(
      () => this.markLost(),
      (e) => this.logger.debug(`${this.where}: ${e instanceof Error ? e.message : String(e)}`),
    );
    this.client.on('end', markLost);
    this.client.on('close', markLost);
  }

  /** False once the connection dropped or was closed. */
  get alive(): boolean {
    return this.lost === null;
  }

  private markLost(): void {
    if (this.lost) return;
    this.lost = this.closing
      ? new HostError(this.host, 'connection-lost', `the connection to ${this.where} was closed`)
      : new HostError(this.host, 'connection-lost', `lost the SSH connection to ${this.where}: ${this.lastError?.message ?? 'the server closed it'}`);
    const running = [...this.running];
    this.running.clear();
    for (const fail of running) fail(this.lost);
    const jump = this.jump;
    this.jump = null;
    jump?.release();
    // last: the one call out of this module, so whatever it does, the commands have failed already
    if (!this.closing) this.logger.warn(this.lost.message);
  }

  private run(line: string, stdin: string | Buffer | undefined, timeoutMs: number, what: string): Promise<RawResult> {
    if (this.lost) return Promise.reject(this.lost);
    return this.channels(
      () =>
        new Promise<RawResult>((resolve, reject) => {
          if (this.lost) return reject(this.lost);
          const started = performance.now();
          let done = false;
          let channel: ClientChannel | undefined;
          let timer: NodeJS.Timeout | undefined;
          const settle = (finish: () => void) => {
            if (done) return;
            done = true;
            if (timer) clearTimeout(timer);
            this.running.delete(onLost);
            finish();
          };
          const onLost = (err: HostError) => settle(() => reject(err));
          this.running.add(onLost);
          if (timeoutMs > 0) {
            timer = setTimeout(() => {
              settle(() => reject(stoppedAfterTimeout(this.host, what, timeoutMs)));
              channel?.close();
            }, timeoutMs);
          }
          const failToStart = (e: Error) => settle(() => reject(this.lost ?? cannotStart(this.host, 'a command', this.where, e)));
          try {
            this.client.exec(line, (err, ch) => {
              if (err) return failToStart(err);
              channel = ch;
              if (done) return ch.close();
              const stdout = new CappedChunks(this.maxStdoutBytes);
              const stderr = new TailBuffer(STDERR_TAIL_BYTES);
              let code: number | null = null;
              let signal: string | null = null;
              const fail = (e: HostError) => {
                settle(() => reject(e));
                stdout.clear();
                ch.close();
              };
              const guard = <A extends unknown[]>(listener: (...args: A) => void) => guarded(listener, (e) => fail(listenerFailure(this.host, what, e)));
              ch.on(
                'data',
                guard((chunk: Buffer) => {
                  if (done) return;
                  if (!stdout.push(chunk)) fail(tooMuchStdout(this.host, what, this.maxStdoutBytes));
                }),
              );
              ch.stderr.on(
                'data',
                guard((chunk: Buffer) => stderr.push(chunk)),
              );
              ch.on(
                'exit',
                guard((exitCode: number | null, signalName?: string) => {
                  code = typeof exitCode === 'number' ? exitCode : null;
                  signal = signalName ? `SIG${signalName}` : null;
                }),
              );
              ch.on(
                'error',
                guard((e: Error) => {
                  this.lastError = e;
                }),
              );
              const finish = guard(() => {
                if (done) return;
                // taken before settling, so should taking it throw, the guard can still fail the command
                const result = { stdout: stdout.bytes(), stderr: stderr.bytes(), code, signal, durationMs: performance.now() - started };
                settle(() => (this.lost ? reject(this.lost) : resolve(result)));
              });
              ch.on(
                'close',
                guard(() => {
                  if (ch.stderr.readableEnded || ch.stderr.destroyed) finish();
                  else ch.stderr.once('end', finish);
                }),
              );
              if (stdin === undefined) ch.end();
              else ch.end(stdin);
            });
          } catch (e) {
            failToStart(e as Error);
          }
        }),
    );
  }

  /**
   * A shell (`sh -s`) kept open on one exec channel, fed script by script.
   * It runs without a host deadline until finish(), which first replaces it
   * with `timeout … sh -s` (so the apply script has the same deadline on the
   * host as any command). The next script is only sent once the shell has
   * printed that it is ready for it, so a shell that reads ahead can't
   * swallow input meant for the next one.
   */
  async session(opts: { become?: boolean } = {}): Promise<ShellSession> {
    if (this.lost) throw this.lost;
    const wrapped = withBecome('sh -s', { enabled: opts.become ?? this.become, user: this.becomeUser, connectedUser: this.user });
    const ch = await new Promise<ClientChannel>((resolve, reject) => {
      try {
        this.client.exec(wrapped.line, (err, channel) => {
          if (err) reject(this.lost ?? cannotStart(this.host, 'a shell', this.where, err));
          else resolve(channel);
        });
      } catch (e) {
        reject(this.lost ?? cannotStart(this.host, 'a shell', this.where, e as Error));
      }
    });
    return new SshShellSession(this.host, ch, {
      lost: () => this.lost,
      watch: (fail) => {
        this.running.add(fail);
        return () => this.running.delete(fail);
      },
      sudo: wrapped.sudo,
      maxStdoutBytes: this.maxStdoutBytes,
      onError: (e) => {
        this.lastError = e;
      },
    });
  }

  /**
   * The one path every command takes: its own deadline on the host, sudo
   * when needed, one channel; sudo's password prompt becomes an auth error.
   */
  private async runCommand(line: string, opts: ExecOptions & { what: string }): Promise<RawResult> {
    const timeoutMs = opts.timeoutMs ?? this.commandTimeoutMs;
    const wrapped = withBecome(opts.hostDeadline === false ? line : withRemoteTimeout(line, timeoutMs), {
      enabled: opts.become ?? this.become,
      user: opts.becomeUser ?? this.becomeUser,
      connectedUser: this.user,
    });
    const raw = await this.run(wrapped.line, opts.stdin, timeoutMs, opts.what);
    const refused = sudoRefusal(this.host, wrapped.sudo, raw.code, raw.stderr.toString('utf8'));
    if (refused) throw refused;
    return raw;
  }

  /**
   * Runs a command. `become` and `becomeUser` default to the host's
   * (ansible_become, ansible_become_user); sudo is skipped when already
   * connected as that user. A non-zero exit is returned, not thrown.
   */
  async exec(cmd: Command, opts: ExecOptions = {}): Promise<ExecResult> {
    const what = 'argv' in cmd ? `\`${abbreviate(cmd.argv.join(' '))}\`` : `script \`${abbreviate(cmd.script.split('\n')[0])}\``;
    const raw = await this.runCommand(commandLine(cmd), { ...opts, what });
    const { stdout, stderr, code, signal, durationMs } = raw;
    return { stdout: stdout.toString('utf8'), stderr: stderr.toString('utf8'), code, signal, durationMs, stdoutBytes: stdout };
  }

  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    if (!this.lost) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          this.client.destroy();
          resolve();
        }, CLOSE_WAIT_MS);
        this.client.once('close', () => {
          clearTimeout(timer);
          resolve();
        });
        this.client.end();
      });
    }
    this.markLost();
  }
}
