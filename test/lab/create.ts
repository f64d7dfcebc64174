import { readFileSync } from 'node:fs';
import { mkdtemp, mkdir, writeFile, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, normalize } from 'node:path';
import pLimit from 'p-limit';
import type { ExecResult } from '../../src/transport/types.js';
import { run, runOk, runSync, isAlive, killRef, killPid, waitGone, LabError, type ProcessRef } from './exec.js';
import {
  addNamespaces,
  addPort,
  buildSwitch,
  deletePort,
  destroyLabByPrefix,
  hostOctet,
  labDirsOf,
  labMac,
  namespacesOf,
  claimSubnet,
  pidsInNamespaces,
  randomPrefix,
  setPort,
  CLIENT_OCTET,
  CONTROLLER_OCTET,
  DIRECTOR_OCTET,
  LAB_PREFIX_RE,
  MAX_HOSTS,
  VIP_OCTET,
} from './network.js';
import {
  generateKey,
  HOST_STATE_DIR,
  hostStateDir,
  knownHostsLine,
  nsenterArgs,
  startHttpProcess,
  startInit,
  startSshdProcess,
  writeHostFiles,
  type Started,
} from './host-processes.js';
import { inventoryYaml } from './inventory.js';
import { ensureLabPackages } from './packages.js';
import { parseArpingMacs, parseCurlOutput, parseIpAddrJson } from './parse.js';
import type { ExecOptions, HostRef, HttpResult, Lab, LabAddress, LabHost, LabOptions } from './lab.js';

type Role = 'realserver' | 'director' | 'client';

interface HostState {
  host: LabHost;
  role: Role;
  http: boolean;
  seedEtc: Record<string, string | null>;
  init: ProcessRef | null;
  sshd: Started | null;
  httpServer: Started | null;
}

/** How long one process may take to come up; generous because 200 hosts start on 2 cores. */
const START_TIMEOUT_MS = 60_000;
/** Host starts in flight at once; each is a handful of short-lived processes. */
const START_CONCURRENCY = 12;
const KEYGEN_CONCURRENCY = 8;

// ---- teardown on exit and signals ------------------------------------------

/** Labs (and labs still being claimed) to remove if this process ends first. */
interface PendingTeardown {
  teardownSync(): void;
}
const activeLabs = new Set<PendingTeardown>();
const TEARDOWN_SIGNALS: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];
let handlersInstalled = false;

function onExit(): void {
  for (const lab of [...activeLabs]) lab.teardownSync();
}

function onSignal(signal: NodeJS.Signals): void {
  onExit();
  for (const s of TEARDOWN_SIGNALS) process.removeListener(s, onSignal);
  handlersInstalled = false;
  process.removeListener('exit', onExit);
  // Only re-raise when nobody else handles the signal, so the default action (exit) happens.
  if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
}

function installTeardownHandlers(): void {
  if (handlersInstalled) return;
  handlersInstalled = true;
  process.on('exit', onExit);
  for (const s of TEARDOWN_SIGNALS) process.on(s, onSignal);
}

// ---- the lab ----------------------------------------------------------------

class FleetLab implements Lab {
  readonly subnet: string;
  readonly controllerIp: string;
  readonly controllerIf: string;
  readonly vip: string;
  readonly inventoryFile: string;
  readonly knownHostsFile: string;
  readonly privateKeyFile: string;
  readonly publicKeyFile: string;
  readonly authorizedKeysFile: string;
  readonly switchNs: string;
  readonly hosts: LabHost[];
  readonly timings: Record<string, number> = {};
  private readonly states: HostState[];
  private readonly byName = new Map<string, HostState>();
  private tornDown = false;

  constructor(
    readonly prefix: string,
    readonly subnetOctet: number,
    readonly dir: string,
    private readonly opts: LabOptions,
  ) {
    const net = `198.18.${subnetOctet}`;
    this.subnet = `${net}.0/24`;
    this.controllerIp = `${net}.${CONTROLLER_OCTET}`;
    this.controllerIf = `${prefix}c`;
    this.vip = `${net}.${VIP_OCTET}`;
    this.switchNs = `${prefix}-sw`;
    this.inventoryFile = join(dir, 'inventory.yml');
    this.knownHostsFile = join(dir, 'known_hosts');
    this.privateKeyFile = join(dir, 'id_ed25519');
    this.publicKeyFile = join(dir, 'id_ed25519.pub');
    this.authorizedKeysFile = join(dir, 'authorized_keys');

    const sshOnVantage = opts.sshOnDirectorAndClient ?? true;
    const make = (name: string, nsSuffix: string, port: string, octet: number, role: Role, ssh: boolean): HostState => {
      const hostDir = join(dir, 'hosts', name);
      const host: LabHost = {
        name,
        ns: `${prefix}-${nsSuffix}`,
        ip: `${net}.${octet}`,
        mac: labMac(subnetOctet, octet),
        upperDir: join(hostDir, 'upper'),
        dir: hostDir,
        logFile: join(hostDir, 'host.log'),
        bootLogFile: join(hostDir, 'boot.log'),
        switchPort: port,
        ssh,
      };
      return {
        host,
        role,
        http: role === 'realserver' && (opts.httpServers ?? true),
        seedEtc: (role === 'realserver' && opts.hostOptions?.[name]?.seedEtc) || {},
        init: null,
        sshd: null,
        httpServer: null,
      };
    };
    this.states = [];
    for (let i = 0; i < opts.hosts; i++) {
      const name = `h${i + 1}`;
      this.states.push(make(name, name, name, hostOctet(i), 'realserver', true));
    }
    if (opts.director ?? true) this.states.push(make('director', 'dir', 'dir', DIRECTOR_OCTET, 'director', sshOnVantage));
    if (opts.client ?? true) this.states.push(make('client', 'cli', 'cli', CLIENT_OCTET, 'client', sshOnVantage));
    for (const s of this.states) this.byName.set(s.host.name, s);
    this.hosts = this.states.filter((s) => s.role === 'realserver').map((s) => s.host);
  }

  get director(): LabHost {
    const s = this.byName.get('director');
    if (!s) throw new LabError(`lab ${this.prefix} was created without a director`);
    return s.host;
  }

  get client(): LabHost {
    const s = this.byName.get('client');
    if (!s) throw new LabError(`lab ${this.prefix} was created without a client`);
    return s.host;
  }

  private log(message: string): void {
    this.opts.log?.(message);
  }

  private state(ref: HostRef): HostState {
    const name = typeof ref === 'string' ? ref : ref.name;
    const s = this.byName.get(name) ?? this.states.find((x) => x.host.ns === name);
    if (!s) throw new LabError(`lab ${this.prefix} has no host "${name}"`);
    return s;
  }

  host(ref: HostRef): LabHost {
    return this.state(ref).host;
  }

  // ---- creation -------------------------------------------------------------

  async build(): Promise<void> {
    const t0 = Date.now();
    const lap = (phase: string, since: number) => {
      this.timings[phase] = Date.now() - since;
    };

    for (const s of this.states) {
      await mkdir(HOST_STATE_DIR, { recursive: true, mode: 0o700 });
      await mkdir(s.host.upperDir, { recursive: true });
      await mkdir(join(s.host.dir, 'work'), { recursive: true });
      await mkdir(hostStateDir(s.host), { recursive: true, mode: 0o700 });
      await seedEtc(s.host.upperDir, s.seedEtc);
    }

    const keys = (async () => {
      const t = Date.now();
      const limit = pLimit(KEYGEN_CONCURRENCY);
      await Promise.all([
        limit(() => generateKey(this.privateKeyFile, `vipush-lab-${this.prefix}`)),
        ...this.states.filter((s) => s.host.ssh).map((s) => limit(() => generateKey(join(s.host.dir, 'ssh_host_ed25519_key'), s.host.name))),
      ]);
      lap('keys', t);
    })();
    const network = (async () => {
      const t = Date.now();
      await addNamespaces([this.switchNs, ...this.states.map((s) => s.host.ns)]);
      await buildSwitch(
        this.switchNs,
        this.states.map((s) => ({ port: s.host.switchPort, ns: s.host.ns, mac: s.host.mac })),
        { ifname: this.controllerIf, peer: controllerPeerIf(this.prefix) },
      );
      lap('network', t);
    })();
    // Both run to the end before a failure is reported, so teardown never races a half-built step.
    const settled = await Promise.allSettled([keys, network]);
    for (const r of settled) if (r.status === 'rejected') throw r.reason;
    this.log(`lab ${this.prefix}: ${this.states.length} namespaces on ${this.subnet}`);

    await writeFile(this.authorizedKeysFile, await readFile(this.publicKeyFile), { mode: 0o600 });
    for (const s of this.states) await writeHostFiles(s.host, this.authorizedKeysFile);

    const t = Date.now();
    const limit = pLimit(START_CONCURRENCY);
    const started = await Promise.allSettled(this.states.map((s) => limit(() => this.bootHost(s, 'fresh'))));
    for (const r of started) if (r.status === 'rejected') throw r.reason;
    lap('processes', t);

    const known = await Promise.all(this.states.filter((s) => s.host.ssh).map((s) => knownHostsLine(s.host)));
    await writeFile(this.knownHostsFile, known.join('\n') + '\n', { mode: 0o600 });
    await writeFile(
      this.inventoryFile,
      inventoryYaml({
        prefix: this.prefix,
        privateKeyFile: this.privateKeyFile,
        hosts: this.hosts,
        director: this.byName.get('director')?.host ?? null,
        client: this.byName.get('client')?.host ?? null,
      }),
      { mode: 0o600 },
    );
    lap('total', t0);
    this.log(`lab ${this.prefix}: up in ${this.timings.total} ms`);
  }

  /** init (network basics and mounts, plus the boot steps on reboot), then sshd, then the HTTP server. */
  private async bootHost(s: HostState, mode: 'fresh' | 'boot'): Promise<void> {
    const init = await startInit(s.host, mode, START_TIMEOUT_MS);
    s.init = init;
    const [sshd, http] = await Promise.allSettled([
      s.host.ssh ? startSshdProcess(s.host, init, START_TIMEOUT_MS).then((p) => (s.sshd = p)) : null,
      s.http ? startHttpProcess(s.host, init, START_TIMEOUT_MS).then((p) => (s.httpServer = p)) : null,
    ]);
    for (const r of [sshd, http]) if (r.status === 'rejected') throw r.reason;
  }

  private initOf(s: HostState): ProcessRef {
    if (!s.init || !isAlive(s.init)) throw new LabError(`host ${s.host.name} of lab ${this.prefix} is not running`);
    return s.init;
  }

  // ---- director and VIP -------------------------------------------------------

  async setupDirector(hosts?: readonly HostRef[]): Promise<void> {
    const director = this.director;
    const targets = (hosts ?? this.hosts).map((h) => this.host(h));
    if (targets.length === 0) throw new LabError('setupDirector needs at least one real server');
    await this.nsOk(director, ['ip', 'addr', 'replace', `${this.vip}/32`, 'dev', 'eth0']);
    const map = targets.map((h, i) => `${i} : ${h.mac}`).join(', ');
    // The source MAC is rewritten too: otherwise the bridge would learn the
    // client's MAC on the director's port and misdeliver the real servers' replies.
    const rules = [
      `table netdev ${this.prefix} {}`,
      `delete table netdev ${this.prefix}`,
      `table netdev ${this.prefix} {`,
      '  chain ingress {',
      '    type filter hook ingress device "eth0" priority 0; policy accept;',
      `    ip daddr ${this.vip} tcp dport 80 ether saddr set ${director.mac} ether daddr set jhash ip saddr . tcp sport mod ${targets.length} map { ${map} } fwd to "eth0"`,
      '  }',
      '}',
      '',
    ].join('\n');
    await this.nsOk(director, ['nft', '-f', '-'], { input: rules });
  }

  async naiveVip(host: HostRef): Promise<void> {
    const r = await this.hostExec(host, ['ip', 'addr', 'replace', `${this.vip}/32`, 'dev', 'lo']);
    if (r.code !== 0) throw new LabError(`naiveVip on ${this.host(host).name}: ${r.stderr.trim()}`);
  }

  // ---- observation ------------------------------------------------------------

  async arpOwners(vip: string = this.vip, from?: HostRef): Promise<string[]> {
    const vantage = from ?? this.client;
    await this.nsOk(vantage, ['ip', 'neigh', 'flush', 'dev', 'eth0']);
    // -b: every probe is a broadcast. Without it arping unicasts to the first
    // responder after one reply, and with -w it stops after -c *replies*, so
    // `-c3 -w4` can miss a fourth owner that answered the same broadcast.
    const r = await this.nsExec(vantage, ['arping', '-b', '-c3', '-I', 'eth0', vip], { timeoutMs: 15_000 });
    const macs = parseArpingMacs(r.stdout);
    // iputils arping exits 1 when nothing answered (and also when replies outnumber probes); 2 is a failure of the probe itself.
    if (r.code === 0 || r.code === 1) return macs;
    throw new LabError(`arping ${vip} from ${typeof vantage === 'string' ? vantage : vantage.name} failed (exit ${r.code ?? r.signal}): ${r.stderr.trim()}`);
  }

  async httpGet(url: string, from?: HostRef): Promise<HttpResult> {
    const r = await this.nsExec(from ?? this.client, ['curl', '-sS', '--max-time', '3', '-o', '-', '-w', '\n%{http_code}', url], { timeoutMs: 10_000 });
    return parseCurlOutput(r.stdout, r.stderr);
  }

  async hostExec(host: HostRef, argv: readonly string[], opts: ExecOptions = {}): Promise<ExecResult> {
    if (argv.length === 0) throw new LabError('hostExec needs a command');
    return run('nsenter', nsenterArgs(this.initOf(this.state(host)), argv), opts);
  }

  async nsExec(ns: HostRef, argv: readonly string[], opts: ExecOptions = {}): Promise<ExecResult> {
    if (argv.length === 0) throw new LabError('nsExec needs a command');
    return run('ip', ['netns', 'exec', this.nsName(ns), ...argv], opts);
  }

  private nsName(ref: HostRef): string {
    if (typeof ref !== 'string') return ref.ns;
    const s = this.byName.get(ref) ?? this.states.find((x) => x.host.ns === ref);
    if (s) return s.host.ns;
    if (ref === this.switchNs) return ref;
    throw new LabError(`lab ${this.prefix} has no namespace or host "${ref}"`);
  }

  private async nsOk(ns: HostRef, argv: readonly string[], opts: ExecOptions = {}): Promise<string> {
    const r = await this.nsExec(ns, argv, opts);
    if (r.code !== 0) throw new LabError(`${argv.join(' ')} in ${this.nsName(ns)} failed (exit ${r.code ?? r.signal}): ${r.stderr.trim()}`);
    return r.stdout;
  }

  async sysctl(host: HostRef, key: string): Promise<string> {
    const r = await this.hostExec(host, ['sysctl', '-n', key]);
    if (r.code !== 0 || r.stderr.trim() !== '') throw new LabError(`sysctl ${key} on ${this.host(host).name}: ${r.stderr.trim() || `exit ${r.code}`}`);
    return r.stdout.trim();
  }

  async addresses(host: HostRef, dev = 'lo'): Promise<LabAddress[]> {
    const r = await this.hostExec(host, ['ip', '-j', 'addr', 'show', 'dev', dev]);
    if (r.code !== 0) throw new LabError(`ip addr show dev ${dev} on ${this.host(host).name}: ${r.stderr.trim()}`);
    return parseIpAddrJson(r.stdout);
  }

  etcUpper(host: HostRef): string {
    return this.host(host).upperDir;
  }

  // ---- faults and lifecycle ---------------------------------------------------

  async killSshd(host: HostRef): Promise<void> {
    const s = this.state(host);
    const pids = pidsInNamespaces([s.host.ns]).filter((pid) => commOf(pid) === 'sshd');
    for (const pid of pids) killPid(pid);
    if (s.sshd) killRef(s.sshd.ref);
    s.sshd = null;
    const left = await waitGone(pids);
    if (left.length > 0) throw new LabError(`sshd processes ${left.join(', ')} of ${s.host.name} survived SIGKILL`);
  }

  async startSshd(host: HostRef): Promise<void> {
    const s = this.state(host);
    if (!s.host.ssh) throw new LabError(`host ${s.host.name} has no sshd (sshOnDirectorAndClient: false)`);
    if (s.sshd && isAlive(s.sshd.ref)) return;
    s.sshd = await startSshdProcess(s.host, this.initOf(s), START_TIMEOUT_MS);
  }

  async linkDown(host: HostRef): Promise<void> {
    await setPort(this.switchNs, this.host(host).switchPort, 'down');
  }

  async linkUp(host: HostRef): Promise<void> {
    await setPort(this.switchNs, this.host(host).switchPort, 'up');
  }

  async reboot(host: HostRef): Promise<string> {
    const s = this.state(host);
    const h = s.host;
    const pids = pidsInNamespaces([h.ns]);
    for (const pid of pids) killPid(pid);
    for (const ref of [s.init, s.sshd?.ref, s.httpServer?.ref]) if (ref) killRef(ref);
    s.init = s.sshd = s.httpServer = null;
    // The overlay over the same upper dir may only be mounted again once the old mount namespace is gone.
    const left = await waitGone(pids, 10_000);
    if (left.length > 0) throw new LabError(`reboot of ${h.name}: processes ${left.join(', ')} survived SIGKILL`);
    await deletePort(this.switchNs, h.switchPort);
    await runOk('ip', ['netns', 'del', h.ns]);
    await addNamespaces([h.ns]);
    await addPort(this.switchNs, { port: h.switchPort, ns: h.ns, mac: h.mac });
    await this.bootHost(s, 'boot');
    return readFile(h.bootLogFile, 'utf8');
  }

  // ---- teardown ---------------------------------------------------------------

  private trackedRefs(): ProcessRef[] {
    return this.states.flatMap((s) => [s.init, s.sshd?.ref, s.httpServer?.ref].filter((r): r is ProcessRef => !!r));
  }

  async teardown(): Promise<void> {
    if (this.tornDown) return;
    this.tornDown = true;
    activeLabs.delete(this);
    const pids = [
      ...pidsInNamespaces(namespacesOf(this.prefix)),
      ...this.trackedRefs()
        .filter(isAlive)
        .map((r) => r.pid),
    ];
    for (const pid of pids) killPid(pid);
    await waitGone(pids);
    destroyLabByPrefix(this.prefix, { dirs: [this.dir] });
  }

  /** For exit and signal handlers, where nothing asynchronous runs any more. */
  teardownSync(): void {
    if (this.tornDown) return;
    this.tornDown = true;
    activeLabs.delete(this);
    destroyLabByPrefix(this.prefix, { tracked: this.trackedRefs(), dirs: [this.dir] });
  }
}

function commOf(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return '';
  }
}

/** Seed files go into the upper dir before the overlay is mounted; null becomes a whiteout (the file is absent). */
async function seedEtc(upperDir: string, files: Record<string, string | null>): Promise<void> {
  for (const [path, content] of Object.entries(files)) {
    const rel = normalize(path.replace(/^\/etc\//, '').replace(/^\/+/, ''));
    if (rel === '.' || rel === '' || rel.startsWith('..') || rel.startsWith('/')) {
      throw new LabError(`seedEtc: "${path}" is not a path under /etc`);
    }
    const target = join(upperDir, rel);
    await mkdir(dirname(target), { recursive: true, mode: 0o755 });
    if (content === null) await runOk('mknod', [target, 'c', '0', '0']);
    else await writeFile(target, content, { mode: 0o644 });
  }
}

function validate(opts: LabOptions): void {
  if (!Number.isInteger(opts.hosts) || opts.hosts < 1 || opts.hosts > MAX_HOSTS) {
    throw new LabError(`hosts must be an integer from 1 to ${MAX_HOSTS}, got ${opts.hosts}`);
  }
  if (opts.prefix !== undefined && !LAB_PREFIX_RE.test(opts.prefix)) {
    throw new LabError(`prefix must be vp followed by 4 lowercase hex digits, got "${opts.prefix}"`);
  }
  for (const name of Object.keys(opts.hostOptions ?? {})) {
    const m = /^h(\d+)$/.exec(name);
    if (!m || Number(m[1]) < 1 || Number(m[1]) > opts.hosts) throw new LabError(`hostOptions names an unknown real server "${name}" (h1..h${opts.hosts})`);
  }
}

function controllerPeerIf(prefix: string): string {
  return `${prefix}s`;
}

function prefixInUse(prefix: string): boolean {
  return namespacesOf(prefix).length > 0 || labDirsOf(prefix).length > 0 || runSync('ip', ['link', 'show', 'dev', `${prefix}c`]).code === 0;
}

export async function createLab(opts: LabOptions): Promise<Lab> {
  validate(opts);
  await ensureLabPackages();
  if (process.getuid?.() !== 0) throw new LabError('the fleet lab needs root (network namespaces, mounts, sshd); run the tests as root');

  let prefix = opts.prefix ?? randomPrefix();
  if (opts.prefix !== undefined && prefixInUse(prefix)) throw new LabError(`lab prefix ${prefix} is in use; pick another or run: cli.js down ${prefix}`);
  for (let tries = 0; opts.prefix === undefined && prefixInUse(prefix); tries++) {
    if (tries > 100) throw new LabError('could not find an unused lab prefix');
    prefix = randomPrefix();
  }

  // From the subnet claim on, something exists that an interrupted run must remove.
  const claimed = prefix;
  const pending: PendingTeardown = { teardownSync: () => void destroyLabByPrefix(claimed) };
  if (!opts.persist) {
    installTeardownHandlers();
    activeLabs.add(pending);
  }
  let k: number;
  let dir: string;
  try {
    k = await claimSubnet(`${prefix}c`, controllerPeerIf(prefix));
    dir = await mkdtemp(join(tmpdir(), `vipush-lab-${prefix}-`));
    // The path goes into mount options (comma-separated) and unquoted YAML.
    if (!/^[A-Za-z0-9_./-]+$/.test(dir)) throw new LabError(`the temp dir path ${dir} has characters the lab cannot use; set TMPDIR to a plain path`);
  } catch (e) {
    activeLabs.delete(pending);
    destroyLabByPrefix(prefix);
    throw e;
  }

  const lab = new FleetLab(prefix, k, dir, opts);
  activeLabs.delete(pending);
  if (!opts.persist) activeLabs.add(lab);
  try {
    await lab.build();
  } catch (e) {
    await lab.teardown();
    throw e;
  }
  return lab;
}

/** Creates a lab, runs `fn`, and always tears the lab down. */
export async function withLab<T>(opts: LabOptions, fn: (lab: Lab) => Promise<T>): Promise<T> {
  const lab = await createLab({ ...opts, persist: false });
  try {
    return await fn(lab);
  } finally {
    await lab.teardown();
  }
}
