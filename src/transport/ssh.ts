import { homedir, userInfo } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { NodeSSH, type Config as NodeSshConfig } from 'node-ssh';
import pLimit from 'p-limit';
import type { AnyAuthMethod, AuthenticationType, Channel, Client, ClientChannel, NextAuthHandler } from 'ssh2';
import { HostError } from '../errors.js';
import { agentSocket, loadPrivateKey, PASSPHRASE_ENV, type PassphrasePrompt } from './auth-keys.js';
import { DEFAULT_HOST_KEY_ALGORITHMS, fingerprintSha256, hostKeyAlgorithmsFor, keyTypeOfBlob, KnownHostsVerifier, knownHostsName } from './known-hosts.js';
import { shQuote } from '../remote/quote.js';
import { commandLine, readFileScript, READ_ABSENT_EXIT, sudoNeedsPassword, withBecome, withRemoteTimeout } from './remote-commands.js';
import { defaultKeyFiles, resolveTarget, type ConnectTarget, type Endpoint } from './resolve.js';
import { loadSshConfig, type SshConfig } from './ssh-config.js';
import type { Command, ExecOptions, ExecResult, ShellSession, Transport } from './types.js';

export type { ConnectTarget } from './resolve.js';

export interface TransportLogger {
  debug(message: string): void;
  warn(message: string): void;
}

export interface ConnectOptions {
  /** default ~/.ssh/known_hosts and /etc/ssh/ssh_known_hosts; new keys go to the first */
  knownHostsFiles?: string[];
  /** share one parsed known_hosts across the hosts of a run; loaded from knownHostsFiles when absent */
  knownHosts?: KnownHostsVerifier;
  /** trust and record the key of a host known_hosts has never seen (a changed key is still refused) */
  acceptNewHostKeys?: boolean;
  /** --private-key: wins over the inventory and ssh_config */
  privateKeyFile?: string;
  /** -u: wins over the inventory and ssh_config */
  user?: string;
  /** the whole connection set-up, retries included, ends within this (default 10 s) */
  connectTimeoutMs?: number;
  /** attempts for transient set-up failures (refused, reset, timed out); default 3 */
  connectAttempts?: number;
  keepaliveIntervalMs?: number;
  keepaliveCountMax?: number;
  /** per-command limit when exec() gives none (default 10 min; 0 for none) */
  commandTimeoutMs?: number;
  /** asked once per encrypted key file when VIPUSH_KEY_PASSPHRASE is not set */
  promptPassphrase?: PassphrasePrompt;
  /** default ~/.ssh/config; null reads none */
  sshConfigFile?: string | null;
  logger?: TransportLogger;
  /** HOME, USER, SSH_AUTH_SOCK, VIPUSH_KEY_PASSPHRASE are read from here (default process.env) */
  env?: NodeJS.ProcessEnv;
}

export const CONNECT_DEFAULTS = {
  connectTimeoutMs: 10_000,
  connectAttempts: 3,
  keepaliveIntervalMs: 5_000,
  keepaliveCountMax: 3,
  commandTimeoutMs: 600_000,
} as const;

/** OpenSSH allows 10 sessions per connection (MaxSessions); stay below it. */
const MAX_CHANNELS_PER_CONNECTION = 8;
const CLOSE_WAIT_MS = 2_000;

/**
 * Fast and strong first: curve25519 key exchange, AES-GCM (hardware AES) and
 * ChaCha20-Poly1305. Nothing weaker than ssh2's own defaults is added.
 */
const KEX_ALGORITHMS = [
  'curve25519-sha256',
  'curve25519-sha256@libssh.org',
  'ecdh-sha2-nistp256',
  'ecdh-sha2-nistp384',
  'ecdh-sha2-nistp521',
  'diffie-hellman-group-exchange-sha256',
  'diffie-hellman-group16-sha512',
  'diffie-hellman-group18-sha512',
  'diffie-hellman-group14-sha256',
];
const CIPHER_ALGORITHMS = ['aes128-gcm@openssh.com', 'chacha20-poly1305@openssh.com', 'aes256-gcm@openssh.com', 'aes128-ctr', 'aes256-ctr'];

const noLogger: TransportLogger = { debug() {}, warn() {} };

function describeEndpoint(e: { label: string; address: string; port: number }): string {
  const addr = e.port === 22 ? e.address : `${e.address}:${e.port}`;
  return e.label === e.address ? addr : `${e.label} (${addr})`;
}

function seconds(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  return ms % 1000 === 0 ? `${ms / 1000} s` : `${(ms / 1000).toFixed(1)} s`;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** A set-up failure that a new attempt may cure (sshd restarting, MaxStartups, a dropped SYN). */
class TransientFailure extends Error {
  constructor(readonly error: HostError) {
    super(error.message);
  }
}

interface RunContext {
  verifier: KnownHostsVerifier;
  acceptNewHostKeys: boolean;
  env: NodeJS.ProcessEnv;
  home: string;
  prompt?: PassphrasePrompt;
  logger: TransportLogger;
  connectAttempts: number;
  keepaliveIntervalMs: number;
  keepaliveCountMax: number;
  knownHostsHint: string;
}

interface AuthPlan {
  methods: { label: string; method: AnyAuthMethod }[];
  /** keys that could not be offered, and why */
  skipped: string[];
}

/** Key files first (named ones), then ssh-agent, then the default key files if none was named. */
async function planAuth(endpoint: Endpoint, run: RunContext, host: string): Promise<AuthPlan> {
  const plan: AuthPlan = { methods: [], skipped: [] };
  const addKey = async (path: string, explicit: boolean) => {
    const load = await loadPrivateKey(path, run.env, run.prompt);
    switch (load.status) {
      case 'ok':
        plan.methods.push({ label: path, method: { type: 'publickey', username: endpoint.user, key: load.key } });
        return;
      case 'missing':
        if (explicit) throw new HostError(host, 'auth', `private key file ${path} does not exist`);
        return;
      case 'locked':
        plan.skipped.push(`${path} (encrypted: set ${PASSPHRASE_ENV} or run where vipush can prompt)`);
        return;
      case 'bad-passphrase':
        throw new HostError(host, 'auth', `cannot decrypt private key ${path}: wrong passphrase${load.source === 'env' ? ` (from ${PASSPHRASE_ENV})` : ''}`);
      case 'unreadable':
        if (explicit) throw new HostError(host, 'auth', `cannot use private key ${path}: ${load.reason}`);
        plan.skipped.push(`${path} (${load.reason})`);
    }
  };
  for (const source of endpoint.keyFiles) await addKey(source.path, source.explicit);
  const agent = await agentSocket(run.env);
  if (agent) plan.methods.push({ label: 'ssh-agent (SSH_AUTH_SOCK)', method: { type: 'agent', username: endpoint.user, agent } });
  if (endpoint.useDefaultKeys) for (const path of defaultKeyFiles(run.home)) await addKey(path, false);
  return plan;
}

const RETRYABLE_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE']);

interface AttemptState {
  refusal?: HostError;
  knownTypes: string[];
  tried: string[];
}

function classifyConnectError(err: unknown, endpoint: Endpoint, host: string, state: AttemptState, plan: AuthPlan, readyTimeoutMs: number): HostError | TransientFailure {
  if (state.refusal) return state.refusal;
  const e = err as Error & { level?: string; code?: string | number };
  const where = describeEndpoint(endpoint);
  if (e.level === 'client-authentication') {
    const tried = state.tried.length > 0 ? `tried ${state.tried.join(', ')}` : 'no key to offer: give --private-key or ansible_ssh_private_key_file, or start ssh-agent';
    const skipped = plan.skipped.length > 0 ? `; skipped ${plan.skipped.join(', ')}` : '';
    return new HostError(host, 'auth', `cannot log in as ${endpoint.user}@${where}: the server refused every key (${tried}${skipped})`);
  }
  if (/no matching host key format/.test(e.message) && state.knownTypes.length > 0) {
    return new HostError(
      host,
      'hostkey',
      `${where} offers none of the host key types known_hosts holds for it (${state.knownTypes.join(', ')}). vipush will not touch this host.`,
    );
  }
  if (e.level === 'client-timeout') {
    return new TransientFailure(new HostError(host, 'unreachable', `${where} is unreachable: no SSH handshake within ${seconds(readyTimeoutMs)}`));
  }
  if (typeof e.code === 'string' && RETRYABLE_CODES.has(e.code)) {
    const what = e.code === 'ECONNREFUSED' ? 'connection refused' : e.code === 'ECONNRESET' ? 'connection reset' : e.code === 'ETIMEDOUT' ? 'no answer' : e.message;
    return new TransientFailure(new HostError(host, 'unreachable', `${where} is unreachable: ${what}`));
  }
  if (/Connection lost before handshake/.test(e.message)) {
    return new TransientFailure(new HostError(host, 'unreachable', `${where} closed the connection before the SSH handshake`));
  }
  if (e.level === 'client-socket' || e.level === 'client-dns') {
    return new HostError(host, 'unreachable', `${where} is unreachable: ${e.code ?? e.message}`);
  }
  return new HostError(host, 'unreachable', `cannot connect to ${where}: ${e.message}`);
}

interface OpenedConnection {
  ssh: NodeSSH;
  client: Client;
}

function hostKeyRefusal(host: string, endpoint: Endpoint, run: RunContext, blob: Buffer, knownName: string): HostError | 'accept' | 'accept-new' {
  const where = describeEndpoint(endpoint);
  const got = fingerprintSha256(blob);
  let verdict;
  let keyType: string;
  try {
    keyType = keyTypeOfBlob(blob);
    verdict = run.verifier.check(knownName, blob);
  } catch (e) {
    return new HostError(host, 'hostkey', `${where} sent a host key vipush cannot read (${(e as Error).message}). vipush will not touch this host.`);
  }
  switch (verdict.status) {
    case 'known':
      return 'accept';
    case 'revoked':
      return new HostError(host, 'hostkey', `host key ${got} of ${where} is marked @revoked in ${verdict.entry.file}:${verdict.entry.line}. vipush will not touch this host.`);
    case 'changed':
      return new HostError(
        host,
        'hostkey',
        `REMOTE HOST IDENTIFICATION HAS CHANGED for ${where}: got ${got}, known_hosts has ${fingerprintSha256(verdict.entry.key)} (${verdict.entry.file}:${verdict.entry.line}). vipush will not touch this host.`,
      );
    case 'unknown': {
      const knownTypes = run.verifier.knownKeyTypes(knownName);
      if (knownTypes.length > 0) {
        return new HostError(host, 'hostkey', `${where} sent a ${keyType} host key (${got}) but known_hosts holds only ${knownTypes.join(', ')} keys for it. vipush will not touch this host.`);
      }
      if (run.acceptNewHostKeys) return 'accept-new';
      return new HostError(
        host,
        'hostkey',
        `unknown host key for ${where}: ${keyType} ${got}. vipush trusts only keys in known_hosts. If that is the right key, add it with \`ssh-keyscan -p ${endpoint.port} ${shQuote(endpoint.address)} >> ${run.knownHostsHint}\` (compare the fingerprint first), or run with --accept-new-host-keys.`,
      );
    }
  }
}

async function connectOnce(endpoint: Endpoint, host: string, run: RunContext, plan: AuthPlan, via: JumpLease | null, remainingMs: number): Promise<OpenedConnection> {
  const knownName = knownHostsName(endpoint.address, endpoint.port);
  const state: AttemptState = { knownTypes: run.verifier.knownKeyTypes(knownName), tried: [] };
  const sock = via ? await via.forward(endpoint, host, remainingMs) : undefined;
  const ssh = new NodeSSH();
  let nextMethod = 0;
  const config: NodeSshConfig = {
    host: endpoint.address,
    port: endpoint.port,
    username: endpoint.user,
    sock,
    readyTimeout: Math.max(1, remainingMs),
    keepaliveInterval: run.keepaliveIntervalMs,
    keepaliveCountMax: run.keepaliveCountMax,
    algorithms: {
      kex: KEX_ALGORITHMS as NonNullable<NonNullable<NodeSshConfig['algorithms']>['kex']>,
      cipher: CIPHER_ALGORITHMS as NonNullable<NonNullable<NodeSshConfig['algorithms']>['cipher']>,
      // Only the types on file for a known host, so the server can't switch to a type we hold no key for.
      serverHostKey: (state.knownTypes.length > 0 ? hostKeyAlgorithmsFor(state.knownTypes) : DEFAULT_HOST_KEY_ALGORITHMS) as NonNullable<
        NonNullable<NodeSshConfig['algorithms']>['serverHostKey']
      >,
    },
    hostVerifier: (blob: Buffer, verify: (ok: boolean) => void) => {
      const decision = hostKeyRefusal(host, endpoint, run, blob, knownName);
      if (decision === 'accept') return verify(true);
      if (decision !== 'accept-new') {
        state.refusal = decision;
        return verify(false);
      }
      run.verifier.addHost(knownName, blob).then(
        (entry) => {
          run.logger.warn(`${describeEndpoint(endpoint)}: trusted new host key ${keyTypeOfBlob(blob)} ${fingerprintSha256(blob)}, recorded in ${entry.file}:${entry.line}`);
          verify(true);
        },
        (e: Error) => {
          state.refusal = new HostError(host, 'hostkey', `cannot record the host key of ${describeEndpoint(endpoint)}: ${e.message}`);
          verify(false);
        },
      );
    },
    authHandler: (methodsLeft: AuthenticationType[] | null, _partial: boolean | null, _next: NextAuthHandler) => {
      // Every method vipush offers is public-key based (files or agent).
      if (methodsLeft && !methodsLeft.includes('publickey')) return false;
      const m = plan.methods[nextMethod++];
      if (!m) return false;
      state.tried.push(m.label);
      return m.method;
    },
  } as NodeSshConfig;
  const connecting = ssh.connect(config);
  // node-ssh creates the ssh2 client synchronously, then drops its own 'error'
  // listener once ready: without ours, a later ssh2 'error' would kill the process.
  const client = ssh.connection;
  client?.on('error', (e: Error) => run.logger.debug(`${describeEndpoint(endpoint)}: ${e.message}`));
  try {
    await connecting;
  } catch (e) {
    client?.end();
    sock?.destroy();
    throw classifyConnectError(e, endpoint, host, state, plan, remainingMs);
  }
  if (!client || ssh.connection !== client) throw new TransientFailure(new HostError(host, 'unreachable', `${describeEndpoint(endpoint)} closed the connection right after login`));
  return { ssh, client };
}

/** Connects with retries for transient failures only, all within one deadline. */
async function openConnection(endpoint: Endpoint, host: string, run: RunContext, via: JumpLease | null, deadline: number): Promise<OpenedConnection> {
  const plan = await planAuth(endpoint, run, host);
  for (let attempt = 1; ; attempt++) {
    const remaining = deadline - Date.now();
    if (remaining <= 0) throw new HostError(host, 'unreachable', `${describeEndpoint(endpoint)} is unreachable: no connection within the connect timeout`);
    try {
      return await connectOnce(endpoint, host, run, plan, via, remaining);
    } catch (e) {
      if (!(e instanceof TransientFailure)) throw e;
      const delay = 200 + Math.random() * 600;
      if (attempt >= run.connectAttempts || Date.now() + delay >= deadline) throw e.error;
      run.logger.debug(`${e.message}; attempt ${attempt + 1} of ${run.connectAttempts} in ${Math.round(delay)} ms`);
      await sleep(delay);
    }
  }
}

// ---- jump hosts ---------------------------------------------------------------

interface JumpLease {
  readonly label: string;
  /** a stream to endpoint through the jump host, for ssh2's `sock` */
  forward(endpoint: Endpoint, host: string, timeoutMs: number): Promise<Channel>;
  release(): void;
}

interface JumpConnection {
  key: string;
  /** this connection's entry in jumpPool, so a newer one under the same key is left alone */
  entry: Promise<JumpConnection>;
  label: string;
  ssh: NodeSSH;
  client: Client;
  refs: number;
  lost: boolean;
  /** the hop before this one, held for as long as this one lives */
  via: JumpLease | null;
}

/**
 * Jump host connections, shared by every target behind them within the
 * process. Keyed by the whole chain of user@address:port hops; counted by
 * reference and closed when the last target lets go.
 */
const jumpPool = new Map<string, Promise<JumpConnection>>();

function endpointKey(e: Endpoint): string {
  return `${e.user}@${e.address}:${e.port}`;
}

function leaseFor(conn: JumpConnection): JumpLease {
  let released = false;
  return {
    label: conn.label,
    forward: (endpoint, host, timeoutMs) =>
      new Promise<Channel>((resolve, reject) => {
        const where = describeEndpoint(endpoint);
        if (conn.lost) {
          reject(new HostError(host, 'unreachable', `cannot reach ${where}: the connection to jump host ${conn.label} is gone`));
          return;
        }
        let timedOut = false;
        const timer = setTimeout(() => {
          timedOut = true;
          reject(new TransientFailure(new HostError(host, 'unreachable', `${where} is unreachable through jump host ${conn.label}: no answer within ${seconds(timeoutMs)}`)));
        }, timeoutMs);
        conn.ssh.forwardOut('127.0.0.1', 0, endpoint.address, endpoint.port).then(
          (channel) => {
            clearTimeout(timer);
            if (timedOut) channel.destroy();
            else resolve(channel);
          },
          (e: Error) => {
            clearTimeout(timer);
            if (timedOut) return;
            const failure = new HostError(host, 'unreachable', `${where} is unreachable through jump host ${conn.label}: ${e.message.replace(/^\(SSH\) /, '')}`);
            reject(/refused|reset/i.test(e.message) ? new TransientFailure(failure) : failure);
          },
        );
      }),
    release: () => {
      if (released) return;
      released = true;
      conn.refs--;
      if (conn.refs > 0) return;
      if (jumpPool.get(conn.key) === conn.entry) jumpPool.delete(conn.key);
      conn.client.end();
      conn.via?.release();
    },
  };
}

async function acquireJump(hops: Endpoint[], host: string, run: RunContext, deadline: number): Promise<JumpLease> {
  const key = hops.map(endpointKey).join(' > ');
  let pending = jumpPool.get(key);
  if (!pending) {
    const hop = hops[hops.length - 1];
    pending = (async (): Promise<JumpConnection> => {
      const via = hops.length > 1 ? await acquireJump(hops.slice(0, -1), host, run, deadline) : null;
      let opened: OpenedConnection;
      try {
        opened = await openConnection(hop, host, run, via, deadline);
      } catch (e) {
        via?.release();
        throw e;
      }
      const conn: JumpConnection = { key, entry: pending!, label: hop.label, ssh: opened.ssh, client: opened.client, refs: 0, lost: false, via };
      const onGone = () => {
        if (conn.lost) return;
        conn.lost = true;
        // later targets open a fresh connection; current ones see their own streams close
        if (jumpPool.get(key) === pending) jumpPool.delete(key);
        if (conn.refs > 0) run.logger.warn(`lost the connection to jump host ${conn.label}`);
      };
      opened.client.on('end', onGone);
      opened.client.on('close', onGone);
      return conn;
    })();
    jumpPool.set(key, pending);
    const mine = pending;
    mine.catch(() => {
      if (jumpPool.get(key) === mine) jumpPool.delete(key);
    });
  }
  const conn = await pending;
  conn.refs++;
  return leaseFor(conn);
}

// ---- the transport ------------------------------------------------------------------

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
  private readonly logger: TransportLogger;
  private readonly channels = pLimit(MAX_CHANNELS_PER_CONNECTION);
  private readonly running = new Set<(err: HostError) => void>();
  private jump: Pick<JumpLease, 'release'> | null;
  private lost: HostError | null = null;
  private closing = false;
  private lastError: Error | undefined;

  /** Use connectHost(); this takes a client that is already logged in. */
  constructor(client: Client, endpoint: Endpoint, target: ConnectTarget, settings: { commandTimeoutMs: number; logger: TransportLogger }, jump: Pick<JumpLease, 'release'> | null) {
    this.host = target.host;
    this.address = endpoint.address;
    this.port = endpoint.port;
    this.user = endpoint.user;
    this.client = client;
    this.where = describeEndpoint(endpoint);
    this.become = target.become;
    this.becomeUser = target.becomeUser ?? 'root';
    this.commandTimeoutMs = settings.commandTimeoutMs;
    this.logger = settings.logger;
    this.jump = jump;
    this.client.on('error', (e: Error) => {
      this.lastError = e;
    });
    this.client.on('end', () => this.markLost());
    this.client.on('close', () => this.markLost());
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
    if (!this.closing) this.logger.warn(this.lost.message);
    for (const fail of this.running) fail(this.lost);
    this.running.clear();
    this.jump?.release();
    this.jump = null;
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
              settle(() => reject(new HostError(this.host, 'timeout', `${what} on ${this.host} did not finish within ${seconds(timeoutMs)}; vipush stopped it`)));
              channel?.close();
            }, timeoutMs);
          }
          const cannotStart = (e: Error) =>
            settle(() => reject(this.lost ?? new HostError(this.host, 'connection-lost', `cannot start a command on ${this.where}: ${e.message}`)));
          try {
            this.client.exec(line, (err, ch) => {
              if (err) return cannotStart(err);
              channel = ch;
              if (done) return ch.close();
              const stdout: Buffer[] = [];
              const stderr: Buffer[] = [];
              let code: number | null = null;
              let signal: string | null = null;
              ch.on('data', (chunk: Buffer) => stdout.push(chunk));
              ch.stderr.on('data', (chunk: Buffer) => stderr.push(chunk));
              ch.on('exit', (exitCode: number | null, signalName?: string) => {
                code = typeof exitCode === 'number' ? exitCode : null;
                signal = signalName ? `SIG${signalName}` : null;
              });
              ch.on('error', (e: Error) => {
                this.lastError = e;
              });
              const finish = () =>
                settle(() => {
                  if (this.lost) return reject(this.lost);
                  resolve({ stdout: Buffer.concat(stdout), stderr: Buffer.concat(stderr), code, signal, durationMs: performance.now() - started });
                });
              ch.on('close', () => {
                if (ch.stderr.readableEnded || ch.stderr.destroyed) finish();
                else ch.stderr.once('end', finish);
              });
              if (stdin === undefined) ch.end();
              else ch.end(stdin);
            });
          } catch (e) {
            cannotStart(e as Error);
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
          if (err) reject(this.lost ?? new HostError(this.host, 'connection-lost', `cannot start a shell on ${this.where}: ${err.message}`));
          else resolve(channel);
        });
      } catch (e) {
        reject(this.lost ?? new HostError(this.host, 'connection-lost', `cannot start a shell on ${this.where}: ${(e as Error).message}`));
      }
    });
    return new SshShellSession(this.host, ch, {
      lost: () => this.lost,
      watch: (fail) => {
        this.running.add(fail);
        return () => this.running.delete(fail);
      },
      sudo: wrapped.sudo,
      onError: (e) => {
        this.lastError = e;
      },
    });
  }

  /**
   * The one path every command takes: its own deadline on the host, sudo
   * when needed, one channel; sudo's password prompt becomes an auth error.
   */
  private async runCommand(line: string, opts: { become?: boolean; becomeUser?: string; stdin?: string | Buffer; timeoutMs?: number; hostDeadline?: boolean; what: string }): Promise<RawResult> {
    const timeoutMs = opts.timeoutMs ?? this.commandTimeoutMs;
    const wrapped = withBecome(opts.hostDeadline === false ? line : withRemoteTimeout(line, timeoutMs), {
      enabled: opts.become ?? this.become,
      user: opts.becomeUser ?? this.becomeUser,
      connectedUser: this.user,
    });
    const raw = await this.run(wrapped.line, opts.stdin, timeoutMs, opts.what);
    if (wrapped.sudo && raw.code === 1 && sudoNeedsPassword(raw.stderr.toString('utf8'))) {
      throw new HostError(this.host, 'auth', `sudo on ${this.host} needs a password; vipush uses sudo -n: allow NOPASSWD for this user or connect as root`);
    }
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
    return { stdout: raw.stdout.toString('utf8'), stderr: raw.stderr.toString('utf8'), code: raw.code, signal: raw.signal, durationMs: raw.durationMs, stdoutBytes: raw.stdout };
  }

  async readFile(path: string, opts: { become?: boolean } = {}): Promise<Buffer | null> {
    const raw = await this.runCommand(`sh -c ${shQuote(readFileScript(path))}`, { become: opts.become, what: `reading ${path}` });
    if (raw.code === 0) return raw.stdout;
    if (raw.code === READ_ABSENT_EXIT) return null;
    throw new HostError(this.host, 'command', `cannot read ${path} on ${this.host}: ${raw.stderr.toString('utf8').trim() || `exit ${raw.code ?? raw.signal}`}`);
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

// ---- connecting -----------------------------------------------------------------------

/** known_hosts lines already warned about, so a run over many hosts warns once per line */
const reportedProblems = new Set<string>();

/**
 * Opens the one connection vipush keeps to a host for the whole run.
 * Set-up failures are HostErrors: 'hostkey' (unknown, changed or revoked
 * key), 'auth', 'unreachable' (within connectTimeoutMs, transient failures
 * retried inside that time).
 */
export async function connectHost(target: ConnectTarget, opts: ConnectOptions = {}): Promise<SshTransport> {
  const env = opts.env ?? process.env;
  const home = env.HOME || homedir();
  const localUser = env.USER || env.LOGNAME || userInfo().username;
  const logger = opts.logger ?? noLogger;
  const sshConfig: SshConfig = opts.sshConfigFile === null ? { file: '', options: [] } : loadSshConfig(opts.sshConfigFile ?? join(home, '.ssh', 'config'), home);
  const resolved = resolveTarget(target, { home, localUser, cliUser: opts.user, cliPrivateKeyFile: opts.privateKeyFile, sshConfig });
  const knownHostsFiles = opts.knownHostsFiles ?? [join(home, '.ssh', 'known_hosts'), '/etc/ssh/ssh_known_hosts'];
  const verifier = opts.knownHosts ?? (await KnownHostsVerifier.load(knownHostsFiles));
  for (const p of verifier.problems) {
    const message = `${p.file}:${p.line}: ignored known_hosts line: ${p.message}`;
    if (reportedProblems.has(message)) continue;
    reportedProblems.add(message);
    logger.warn(message);
  }
  const run: RunContext = {
    verifier,
    acceptNewHostKeys: opts.acceptNewHostKeys ?? false,
    env,
    home,
    prompt: opts.promptPassphrase,
    logger,
    connectAttempts: Math.max(1, opts.connectAttempts ?? CONNECT_DEFAULTS.connectAttempts),
    keepaliveIntervalMs: opts.keepaliveIntervalMs ?? CONNECT_DEFAULTS.keepaliveIntervalMs,
    keepaliveCountMax: opts.keepaliveCountMax ?? CONNECT_DEFAULTS.keepaliveCountMax,
    knownHostsHint: verifier.files[0] ? shQuote(verifier.files[0]) : '~/.ssh/known_hosts',
  };
  const deadline = Date.now() + (opts.connectTimeoutMs ?? CONNECT_DEFAULTS.connectTimeoutMs);
  let jump: JumpLease | null = null;
  if (resolved.jumps.length > 0) {
    try {
      jump = await acquireJump(resolved.jumps, target.host, run, deadline);
    } catch (e) {
      if (e instanceof HostError) throw new HostError(target.host, e.kind, `cannot reach ${target.host} through its jump host: ${e.message}`);
      throw e;
    }
  }
  try {
    const opened = await openConnection(resolved, target.host, run, jump, deadline);
    logger.debug(`connected to ${resolved.user}@${describeEndpoint(resolved)}${jump ? ` via ${jump.label}` : ''}`);
    return new SshTransport(opened.client, resolved, target, { commandTimeoutMs: opts.commandTimeoutMs ?? CONNECT_DEFAULTS.commandTimeoutMs, logger }, jump);
  } catch (e) {
    jump?.release();
    throw e;
  }
}

/** The ShellSession of SshTransport.session(). */
class SshShellSession implements ShellSession {
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
        if (this.link.sudo && this.code === 1 && sudoNeedsPassword(stderr)) {
          return settle(new HostError(this.host, 'auth', `sudo on ${this.host} needs a password; vipush uses sudo -n: allow NOPASSWD for this user or connect as root`));
        }
        const last = stderr.trim().split('\n').slice(-1)[0] ?? '';
        const ended = { code: this.code, lastStderrLine: last };
        settle(new HostError(this.host, 'command', `${opts.what} ended early (exit ${this.code ?? this.signal ?? 'unknown'})${last ? `: ${last}` : ''}`, ended));
      };
      unwatch = this.link.watch((e) => settle(e));
      if (opts.timeoutMs > 0) {
        timer = setTimeout(() => {
          settle(new HostError(this.host, 'timeout', `${opts.what} on ${this.host} did not finish within ${seconds(opts.timeoutMs)}; vipush stopped it`));
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
    if (this.ended || this.closed) throw this.link.lost() ?? new HostError(this.host, 'command', `${opts.what}: the shell has already ended`);
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
      if (this.ended || this.closed) throw this.link.lost() ?? new HostError(this.host, 'command', `${opts.what}: the shell has already ended`);
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
    return { stdout: this.out.toString('utf8'), stdoutBytes: this.out, stderr: this.stderr().slice(errBefore), code: this.code, signal: this.signal, durationMs: performance.now() - started };
  }

  close(): void {
    if (this.ended || this.closed) return;
    this.ended = true;
    this.ch.end();
  }
}

