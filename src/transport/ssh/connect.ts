import { homedir, userInfo } from 'node:os';
import { join } from 'node:path';
import { NodeSSH, type Config as NodeSshConfig } from 'node-ssh';
import type { AuthenticationType, Client, NextAuthHandler } from 'ssh2';
import { HostError } from '../../errors.js';
import type { PassphrasePrompt } from '../auth-keys.js';
import { DEFAULT_HOST_KEY_ALGORITHMS, fingerprintSha256, hostKeyAlgorithmsFor, keyTypeOfBlob, KnownHostsVerifier, knownHostsName } from '../known-hosts.js';
import { shQuote } from '../../remote/quote.js';
import { resolveTarget, type ConnectTarget, type Endpoint } from '../resolve.js';
import { loadSshConfig, type SshConfig } from '../ssh-config.js';
import { planAuth, type AuthPlan, type KeySources } from './auth-plan.js';
import { MAX_STDOUT_BYTES } from './bounded.js';
import { describeEndpoint, guarded, seconds, TransientFailure } from './failures.js';
import { hostKeyRefusal, type HostKeyPolicy } from './host-key-check.js';
import type { JumpLease } from './jump.js';
import { RunConnections, type TransportLogger } from './run-connections.js';
import { SshTransport } from './transport.js';

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
  /** ansible.cfg remote_user and private_key_file: below the inventory, above ssh_config */
  configUser?: string;
  configPrivateKeyFile?: string;
  /** the whole connection set-up, retries included, ends within this (default 10 s) */
  connectTimeoutMs?: number;
  /** attempts for transient set-up failures (refused, reset, timed out); default 3 */
  connectAttempts?: number;
  keepaliveIntervalMs?: number;
  keepaliveCountMax?: number;
  /** per-command limit when exec() gives none (default 10 min; 0 for none) */
  commandTimeoutMs?: number;
  /** stdout one command or one shell exchange may send before vipush stops it and fails the host (default 64 MiB) */
  maxStdoutBytes?: number;
  /** asked once per encrypted key file when VIPUSH_KEY_PASSPHRASE is not set */
  promptPassphrase?: PassphrasePrompt;
  /** default ~/.ssh/config; null reads none */
  sshConfigFile?: string | null;
  logger?: TransportLogger;
  /** one per run, shared by all its connectHost calls; a fresh one per call when absent (nothing shared) */
  connections?: RunConnections;
  /** HOME, USER, SSH_AUTH_SOCK, VIPUSH_KEY_PASSPHRASE are read from here (default process.env) */
  env?: NodeJS.ProcessEnv;
}

export const CONNECT_DEFAULTS = {
  connectTimeoutMs: 10_000,
  connectAttempts: 3,
  keepaliveIntervalMs: 5_000,
  keepaliveCountMax: 3,
  commandTimeoutMs: 600_000,
  maxStdoutBytes: MAX_STDOUT_BYTES,
} as const;

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

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

interface RunContext extends KeySources, HostKeyPolicy {
  logger: TransportLogger;
  connectAttempts: number;
  keepaliveIntervalMs: number;
  keepaliveCountMax: number;
}

const RETRYABLE_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE']);
const RETRY_REASONS: Record<string, string> = { ECONNREFUSED: 'connection refused', ECONNRESET: 'connection reset', ETIMEDOUT: 'no TCP answer' };
/** Failures of the network path: retrying within the connect timeout does not help. */
const NO_ROUTE: Record<string, string> = { EHOSTUNREACH: 'no route to the host', ENETUNREACH: 'no route to its network' };

interface AttemptState {
  refusal?: HostError;
  knownTypes: string[];
  tried: string[];
  /** how far the attempt got: the TCP connection, then the server's SSH identification line */
  progress: 'none' | 'tcp' | 'ident';
}

/** Why a connection set-up ran out of time, by how far it got: the operator's next step differs for each. */
function timeoutReason(state: AttemptState, ms: number): string {
  switch (state.progress) {
    case 'none':
      return `no TCP answer within ${seconds(ms)} (a firewall dropping the packets, or the host down)`;
    case 'tcp':
      return `TCP connected, but no SSH banner within ${seconds(ms)} (sshd overloaded or hung, or not sshd on that port)`;
    case 'ident':
      return `the server sent its SSH banner, but the handshake did not finish within ${seconds(ms)}`;
  }
}

function classifyConnectError(
  err: unknown,
  endpoint: Endpoint,
  host: string,
  state: AttemptState,
  plan: AuthPlan,
  readyTimeoutMs: number,
): HostError | TransientFailure {
  if (state.refusal) return state.refusal;
  const e = err as Error & { level?: string; code?: string | number };
  const where = describeEndpoint(endpoint);
  if (e.level === 'client-authentication') {
    const tried =
      state.tried.length > 0 ? `tried ${state.tried.join(', ')}` : 'no key to offer: give --private-key or ansible_ssh_private_key_file, or start ssh-agent';
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
    return new TransientFailure(new HostError(host, 'unreachable', `${where} is unreachable: ${timeoutReason(state, readyTimeoutMs)}`));
  }
  if (typeof e.code === 'string' && NO_ROUTE[e.code]) return new HostError(host, 'unreachable', `${where} is unreachable: ${NO_ROUTE[e.code]}`);
  if (typeof e.code === 'string' && RETRYABLE_CODES.has(e.code)) {
    const what = RETRY_REASONS[e.code] ?? e.message;
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

export interface OpenedConnection {
  ssh: NodeSSH;
  client: Client;
}

async function connectOnce(
  endpoint: Endpoint,
  host: string,
  run: RunContext,
  plan: AuthPlan,
  via: JumpLease | null,
  remainingMs: number,
): Promise<OpenedConnection> {
  const knownName = knownHostsName(endpoint.address, endpoint.port);
  const state: AttemptState = { knownTypes: run.verifier.knownKeyTypes(knownName), tried: [], progress: 'none' };
  const sock = via ? await via.forward(endpoint, host, remainingMs) : undefined;
  // through a jump host, the forwarded channel is the connection: ssh2 sees no TCP connect of its own
  if (sock) state.progress = 'tcp';
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
          const key = `${keyTypeOfBlob(blob)} ${fingerprintSha256(blob)}`;
          run.logger.warn(`${describeEndpoint(endpoint)}: trusted new host key ${key}, recorded in ${entry.file}:${entry.line}`);
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
  // node-ssh creates the ssh2 client synchronously (test/unit/transport-ssh-connect.test.ts holds it to that),
  // then drops its own 'error' listener once ready: ours stays from here to close, or a later ssh2 'error'
  // (a reset, a keepalive timeout) would kill the process. SshTransport and the jump pool only add listeners.
  const client = ssh.connection;
  client?.once('connect', () => {
    state.progress = 'tcp';
  });
  client?.on(
    'error',
    guarded(
      (e: Error) => run.logger.debug(`${describeEndpoint(endpoint)}: ${e.message}`),
      // a debug line that could not be written is not worth failing anything over
      () => undefined,
    ),
  );
  try {
    await connecting;
  } catch (e) {
    // ssh2 keeps the server's identification line once it has read it (its only sign of that stage)
    if (state.progress === 'tcp' && (client as unknown as { _remoteVer?: string } | undefined)?._remoteVer !== undefined) state.progress = 'ident';
    client?.end();
    sock?.destroy();
    throw classifyConnectError(e, endpoint, host, state, plan, remainingMs);
  }
  if (!client || ssh.connection !== client) {
    throw new TransientFailure(new HostError(host, 'unreachable', `${describeEndpoint(endpoint)} closed the connection right after login`));
  }
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
  const sshConfig: SshConfig =
    opts.sshConfigFile === null ? { file: '', options: [] } : loadSshConfig(opts.sshConfigFile ?? join(home, '.ssh', 'config'), home);
  const resolved = resolveTarget(target, {
    home,
    localUser,
    cliUser: opts.user,
    cliPrivateKeyFile: opts.privateKeyFile,
    configUser: opts.configUser,
    configPrivateKeyFile: opts.configPrivateKeyFile,
    sshConfig,
  });
  const knownHostsFiles = opts.knownHostsFiles ?? [join(home, '.ssh', 'known_hosts'), '/etc/ssh/ssh_known_hosts'];
  const verifier = opts.knownHosts ?? (await KnownHostsVerifier.load(knownHostsFiles));
  const connections = opts.connections ?? new RunConnections();
  for (const p of verifier.problems) connections.warnOnce(logger, `${p.file}:${p.line}: ignored known_hosts line: ${p.message}`);
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
      jump = await connections.jumps.acquire(resolved.jumps, (hop, via) => openConnection(hop, target.host, run, via, deadline), logger);
    } catch (e) {
      if (e instanceof HostError) throw new HostError(target.host, e.kind, `cannot reach ${target.host} through its jump host: ${e.message}`);
      throw e;
    }
  }
  try {
    const opened = await openConnection(resolved, target.host, run, jump, deadline);
    logger.debug(`connected to ${resolved.user}@${describeEndpoint(resolved)}${jump ? ` via ${jump.label}` : ''}`);
    const settings = {
      commandTimeoutMs: opts.commandTimeoutMs ?? CONNECT_DEFAULTS.commandTimeoutMs,
      maxStdoutBytes: opts.maxStdoutBytes ?? CONNECT_DEFAULTS.maxStdoutBytes,
      logger,
    };
    return new SshTransport(opened.client, resolved, target, settings, jump);
  } catch (e) {
    jump?.release();
    throw e;
  }
}
