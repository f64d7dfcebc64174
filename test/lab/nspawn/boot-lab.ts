/**
 * The systemd tier of the lab: real Debian 12 hosts with systemd as PID 1,
 * each a `systemd-nspawn -b` container on an overlay of the cached rootfs
 * (rootfs.ts), in its own network namespace on the lab's bridge. The root
 * namespace is the controller and reaches every host over SSH, exactly as in
 * the namespace lab; namespaces, prefix (`vpXXXX`) and lab dir follow the same
 * scheme, so `cli.js down PREFIX` removes a boot lab too.
 *
 * What this machine (PID 1 not systemd, hybrid cgroups) needs, from the
 * feasibility run of issue 19: nspawn starts through `nsenter --net` (`ip
 * netns exec` remounts /sys and nspawn fails with "No medium found"), with
 * --register=no --keep-unit and a cgroup directory of its own per host, and
 * fs.inotify.max_user_instances raised (each host takes about 9).
 *
 * Each boot runs in a private mount namespace that holds the host's overlay,
 * so the overlay goes away with the host's processes however they end.
 */
import type { ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync, existsSync, mkdtempSync, symlinkSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { ExecResult } from '../../../src/transport/types.js';
import { killPid, LabError, run, runOk, runSync, sleep, spawnDetached, tailOf, waitForPort, waitGone } from '../exec.js';
import { generateKey, knownHostsLine } from '../host-processes.js';
import { inventoryYaml } from '../inventory.js';
import type { LabAddress, LabHost } from '../lab.js';
import {
  raiseInotify,
  addNamespaces,
  addPort,
  deletePort,
  buildSwitch,
  CGROUP_ROOTS,
  claimSubnet,
  destroyLabByPrefix,
  hostOctet,
  labMac,
  namespacesOf,
  pidsInNamespaces,
  randomPrefix,
  CLIENT_OCTET,
  DIRECTOR_OCTET,
  VIP_OCTET,
} from '../network.js';

/** the lab's own arping namespace: after the controller (.1), the director (.2) and the client (.3) */
const ARP_OCTET = 4;
import { parseArpingMacs, parseIpAddrJson } from '../parse.js';
import { ensureLabPackages } from '../packages.js';
import { ensureRootfs } from './rootfs.js';

export type NetworkStack = 'ifupdown' | 'networkd' | 'netplan' | 'networkmanager';

export interface BootHostSpec {
  /**
   * inventory name: h1, h2, ... (real servers), or `director` (holds the VIP on eth0, so it answers
   * ARP for it) and `client` (the vantage host of vipush's gates); the namespace is `${prefix}-${name}`
   */
  name: string;
  stack: NetworkStack;
  /** read-only bind mounts from this machine into the host (`--bind-ro=src:dst`) */
  bindRo?: { src: string; dst: string }[];
}

export interface BootLabOptions {
  hosts: BootHostSpec[];
  /** progress messages */
  log?: (message: string) => void;
}

export interface BootHost extends LabHost {
  stack: NetworkStack;
  /** the host's overlay upper dir is `upperDir`; its root as the host sees it is the overlay of it over the rootfs */
  rootUpper: string;
  /** nspawn's console and the host's boot messages */
  consoleLog: string;
}

/** How long one boot may take; 2 shared cores. */
const BOOT_TIMEOUT_MS = 120_000;
const INOTIFY_PER_HOST = 16;
/** The service that brings the network up on a host of each stack; checked active after every boot. */
const STACK_UNIT: Record<NetworkStack, string> = {
  ifupdown: 'networking.service',
  networkd: 'systemd-networkd.service',
  netplan: 'systemd-networkd.service',
  networkmanager: 'NetworkManager.service',
};

interface HostState {
  host: BootHost;
  spec: BootHostSpec;
  nspawn: ChildProcess | null;
  exited: Promise<number | null> | null;
  bootId: string | null;
}

export class BootLab {
  readonly subnet: string;
  readonly controllerIp: string;
  readonly vip: string;
  readonly inventoryFile: string;
  readonly knownHostsFile: string;
  readonly privateKeyFile: string;
  readonly publicKeyFile: string;
  readonly switchNs: string;
  /** a plain namespace (no processes) the lab's own arping runs in: `${prefix}-arp` */
  readonly arpNs: string;
  readonly arpIp: string;
  readonly hosts: BootHost[];
  readonly timings: Record<string, number> = {};
  private readonly states = new Map<string, HostState>();
  private tornDown = false;

  constructor(
    readonly prefix: string,
    readonly subnetOctet: number,
    readonly dir: string,
    readonly rootfs: string,
    private readonly opts: BootLabOptions,
  ) {
    const net = `198.18.${subnetOctet}`;
    this.subnet = `${net}.0/24`;
    this.controllerIp = `${net}.1`;
    this.vip = `${net}.${VIP_OCTET}`;
    this.switchNs = `${prefix}-sw`;
    this.arpNs = `${prefix}-arp`;
    this.arpIp = `${net}.${ARP_OCTET}`;
    this.inventoryFile = join(dir, 'inventory.yml');
    this.knownHostsFile = join(dir, 'known_hosts');
    this.privateKeyFile = join(dir, 'id_ed25519');
    this.publicKeyFile = join(dir, 'id_ed25519.pub');
    let realServers = 0;
    this.hosts = opts.hosts.map((spec) => {
      const hostDir = join(dir, 'hosts', spec.name);
      const octet = spec.name === 'director' ? DIRECTOR_OCTET : spec.name === 'client' ? CLIENT_OCTET : hostOctet(realServers++);
      const host: BootHost = {
        name: spec.name,
        ns: `${prefix}-${spec.name}`,
        ip: `${net}.${octet}`,
        mac: labMac(subnetOctet, octet),
        upperDir: join(hostDir, 'upper', 'etc'),
        rootUpper: join(hostDir, 'upper'),
        dir: hostDir,
        logFile: join(hostDir, 'host.log'),
        consoleLog: join(hostDir, 'console.log'),
        bootLogFile: join(hostDir, 'console.log'),
        switchPort: spec.name,
        ssh: true,
        stack: spec.stack,
      };
      this.states.set(spec.name, { host, spec, nspawn: null, exited: null, bootId: null });
      return host;
    });
  }

  private log(m: string): void {
    this.opts.log?.(m);
  }

  private state(ref: string | LabHost): HostState {
    const name = typeof ref === 'string' ? ref : ref.name;
    const s = this.states.get(name);
    if (!s) throw new LabError(`boot lab ${this.prefix} has no host "${name}"`);
    return s;
  }

  host(ref: string | LabHost): BootHost {
    return this.state(ref).host;
  }

  /** The controller's key and every host's host key, the network, each host's files, then every host booted. */
  async build(): Promise<void> {
    const t0 = Date.now();
    raiseInotify(this.dir, INOTIFY_PER_HOST * this.hosts.length);
    await generateKey(this.privateKeyFile, `vipush-boot-lab-${this.prefix}`);
    const all = [...this.states.values()];
    for (const s of all) {
      mkdirSync(join(s.host.dir, 'work'), { recursive: true });
      mkdirSync(join(s.host.dir, 'merged'), { recursive: true });
      mkdirSync(s.host.upperDir, { recursive: true });
      await generateKey(join(s.host.dir, 'ssh_host_ed25519_key'), s.host.name);
      this.seedHost(s);
    }
    await addNamespaces([this.switchNs, this.arpNs, ...all.map((s) => s.host.ns)]);
    await buildSwitch(
      this.switchNs,
      [
        ...all.map((s) => ({ port: s.host.switchPort, ns: s.host.ns, mac: s.host.mac })),
        { port: 'probe', ns: this.arpNs, mac: labMac(this.subnetOctet, ARP_OCTET) },
      ],
      { ifname: `${this.prefix}c`, peer: `${this.prefix}s` },
    );
    await runOk('ip', ['-n', this.arpNs, '-batch', '-'], { input: `link set lo up\naddr add ${this.arpIp}/24 dev eth0\nlink set eth0 up\n` });
    this.timings.setup = Date.now() - t0;

    const known = await Promise.all(this.hosts.map((h) => knownHostsLine({ ...h, dir: h.dir })));
    writeFileSync(this.knownHostsFile, `${known.join('\n')}\n`, { mode: 0o600 });
    writeFileSync(
      this.inventoryFile,
      inventoryYaml({
        prefix: this.prefix,
        privateKeyFile: this.privateKeyFile,
        hosts: this.hosts.filter((h) => /^h\d+$/.test(h.name)),
        director: this.hosts.find((h) => h.name === 'director') ?? null,
        client: this.hosts.find((h) => h.name === 'client') ?? null,
      }),
      { mode: 0o600 },
    );
    const t1 = Date.now();
    const results = await Promise.allSettled(all.map((s) => this.boot(s)));
    for (const r of results) if (r.status === 'rejected') throw r.reason;
    this.timings.boot = Date.now() - t1;
    this.log(`boot lab ${this.prefix}: ${all.length} hosts up in ${Date.now() - t0} ms`);
  }

  /** Files in the host's upper dir before its first boot: name, SSH, its network stack's config and units. */
  private seedHost(s: HostState): void {
    const h = s.host;
    const root = h.rootUpper;
    const put = (path: string, content: string | Buffer, mode = 0o644) => {
      const target = join(root, path);
      mkdirSync(dirname(target), { recursive: true });
      writeFileSync(target, content, { mode });
      chmodSync(target, mode);
    };
    const enable = (unit: string, wantedBy: string) => {
      const link = join(root, 'etc/systemd/system', `${wantedBy}.wants`, unit);
      mkdirSync(dirname(link), { recursive: true });
      const lib = existsSync(join(this.rootfs, 'usr/lib/systemd/system', unit)) ? '/usr/lib/systemd/system' : '/lib/systemd/system';
      symlinkSync(`${lib}/${unit}`, link);
    };
    put('etc/hostname', `${h.name}\n`);
    put('etc/hosts', `127.0.0.1 localhost\n127.0.1.1 ${h.name}\n`);
    put('etc/ssh/ssh_host_ed25519_key', readFileSync(join(h.dir, 'ssh_host_ed25519_key')), 0o600);
    put('etc/ssh/ssh_host_ed25519_key.pub', readFileSync(join(h.dir, 'ssh_host_ed25519_key.pub')));
    put(
      'etc/ssh/sshd_config.d/lab.conf',
      [
        'HostKey /etc/ssh/ssh_host_ed25519_key',
        'PermitRootLogin prohibit-password',
        'PasswordAuthentication no',
        'KbdInteractiveAuthentication no',
        'UseDNS no',
        'MaxStartups 100:30:200',
        'MaxSessions 50',
        '',
      ].join('\n'),
    );
    put('root/.ssh/authorized_keys', readFileSync(this.publicKeyFile), 0o600);
    chmodSync(join(root, 'root'), 0o700);
    chmodSync(join(root, 'root/.ssh'), 0o700);
    const cidr = `${h.ip}/24`;
    switch (s.spec.stack) {
      case 'ifupdown':
        put('etc/network/interfaces.d/eth0', `auto eth0\niface eth0 inet static\n    address ${cidr}\n`);
        enable('networking.service', 'multi-user.target');
        break;
      case 'networkd':
        put('etc/systemd/network/10-eth0.network', `[Match]\nName=eth0\n\n[Network]\nAddress=${cidr}\nLinkLocalAddressing=no\nIPv6AcceptRA=no\n`);
        enable('systemd-networkd.service', 'multi-user.target');
        enable('systemd-networkd.socket', 'sockets.target');
        break;
      case 'netplan':
        put('etc/netplan/10-eth0.yaml', `network:\n  version: 2\n  renderer: networkd\n  ethernets:\n    eth0:\n      addresses: [${cidr}]\n`, 0o600);
        enable('systemd-networkd.service', 'multi-user.target');
        enable('systemd-networkd.socket', 'sockets.target');
        break;
      case 'networkmanager':
        put(
          'etc/NetworkManager/system-connections/eth0.nmconnection',
          `[connection]\nid=eth0\ntype=ethernet\ninterface-name=eth0\n\n[ipv4]\nmethod=manual\naddress1=${cidr}\n\n[ipv6]\nmethod=disabled\n`,
          0o600,
        );
        enable('NetworkManager.service', 'multi-user.target');
        break;
    }
  }

  /** One boot of a host: resolves once sshd answers and systemd has finished starting up, with the new boot id. */
  private async boot(s: HostState): Promise<string> {
    const h = s.host;
    const cgroups = CGROUP_ROOTS.filter((r) => existsSync(join(r, 'cgroup.procs'))).map((r) => join(r, `vipush-lab-${this.prefix}-${h.name}`));
    for (const c of cgroups) mkdirSync(c, { recursive: true });
    const binds = (s.spec.bindRo ?? []).flatMap((b) => ['--bind-ro', `${b.src}:${b.dst}`]);
    // $1 rootfs, $2 upper, $3 work, $4 merged, $5 machine name, then the cgroup dirs, then --, then nspawn's extra options
    const script = `set -e
mount -t overlay overlay -o "lowerdir=$1,upperdir=$2,workdir=$3" "$4"
root=$4 name=$5
shift 5
while [ "$1" != -- ]; do echo $$ > "$1/cgroup.procs"; shift; done
shift
SYSTEMD_NSPAWN_API_VFS_WRITABLE=network exec systemd-nspawn --quiet --boot --directory="$root" --machine="$name" --register=no --keep-unit \\
  --capability=CAP_NET_ADMIN,CAP_NET_RAW --console=passive "$@"
`;
    const args = [
      `--net=/run/netns/${h.ns}`,
      '--',
      'unshare',
      '--mount',
      '--propagation',
      'private',
      '--',
      'sh',
      '-c',
      script,
      'boot',
      this.rootfs,
      h.rootUpper,
      join(h.dir, 'work'),
      join(h.dir, 'merged'),
      `${this.prefix}-${h.name}`,
      ...cgroups,
      '--',
      ...binds,
    ];
    const child = spawnDetached('nsenter', args, h.consoleLog);
    s.nspawn = child;
    s.exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve(code ?? (signal ? 128 : null))));
    await waitForPort(h.ip, 22, `sshd of boot host ${h.name}`, h.consoleLog, child, BOOT_TIMEOUT_MS);
    const unit = STACK_UNIT[s.spec.stack];
    const r = await this.ssh(h, [`systemctl is-system-running --wait; systemctl is-active ${unit}; cat /proc/sys/kernel/random/boot_id`], {
      timeoutMs: BOOT_TIMEOUT_MS,
    });
    const lines = r.stdout.trim().split('\n');
    const bootId = lines.at(-1) ?? '';
    if (!/^[0-9a-f-]{36}$/.test(bootId)) throw new LabError(`boot host ${h.name}: no boot id over SSH (exit ${r.code}): ${r.stderr.trim()}`);
    if (!/^(running|degraded)$/.test(lines[0] ?? '')) throw new LabError(`boot host ${h.name}: systemd is "${lines[0]}" after the boot`);
    if (lines[1] !== 'active') throw new LabError(`boot host ${h.name}: ${unit} (its ${s.spec.stack} stack) is "${lines[1]}" after the boot`);
    s.bootId = bootId;
    return bootId;
  }

  /** The boot id the host reported at its last boot. */
  bootId(ref: string | LabHost): string {
    const id = this.state(ref).bootId;
    if (!id) throw new LabError(`boot host ${this.host(ref).name} is not booted`);
    return id;
  }

  /** A shell command on the host over SSH as root, as the controller reaches it. Never throws on exit codes. */
  ssh(ref: string | LabHost, command: readonly string[], opts: { input?: string; timeoutMs?: number } = {}): Promise<ExecResult> {
    const h = this.host(ref);
    return run(
      'ssh',
      [
        '-i',
        this.privateKeyFile,
        '-o',
        `UserKnownHostsFile=${this.knownHostsFile}`,
        '-o',
        'StrictHostKeyChecking=yes',
        '-o',
        'BatchMode=yes',
        '-o',
        'ConnectTimeout=10',
        '-o',
        'LogLevel=ERROR',
        `root@${h.ip}`,
        '--',
        ...command,
      ],
      { input: opts.input, timeoutMs: opts.timeoutMs ?? 60_000 },
    );
  }

  async sshOk(ref: string | LabHost, command: string, opts: { input?: string; timeoutMs?: number } = {}): Promise<string> {
    const r = await this.ssh(ref, [command], opts);
    if (r.code !== 0) throw new LabError(`on ${this.host(ref).name}: ${command} failed (exit ${r.code ?? r.signal}): ${r.stderr.trim()}`);
    return r.stdout;
  }

  async addresses(ref: string | LabHost, dev = 'lo'): Promise<LabAddress[]> {
    return parseIpAddrJson(await this.sshOk(ref, `ip -j addr show dev ${dev}`));
  }

  async sysctl(ref: string | LabHost, key: string): Promise<string> {
    return (await this.sshOk(ref, `sysctl -n ${key}`)).trim();
  }

  /** The VIP as a normal address on the director's eth0, so the director answers ARP for it (live only). */
  async setupDirector(): Promise<void> {
    await this.sshOk('director', `ip addr replace ${this.vip}/32 dev eth0`);
  }

  /** Distinct MACs that answered ARP for `vip` (default the lab's VIP), asked from the lab's arp namespace: three broadcasts. */
  async arpOwners(vip: string = this.vip): Promise<string[]> {
    await runOk('ip', ['-n', this.arpNs, 'neigh', 'flush', 'dev', 'eth0']);
    const r = await run('ip', ['netns', 'exec', this.arpNs, 'arping', '-b', '-c3', '-I', 'eth0', vip], { timeoutMs: 15_000 });
    if (r.code === 0 || r.code === 1) return parseArpingMacs(r.stdout);
    throw new LabError(`arping ${vip} failed (exit ${r.code ?? r.signal}): ${r.stderr.trim()}`);
  }

  /**
   * A real reboot: `systemctl reboot` inside, nspawn exits 133, the host boots again from its overlay
   * in a new network namespace (nothing live survives), and this resolves once a new boot id is
   * reported over SSH and the host's network stack service is active.
   */
  async reboot(ref: string | LabHost): Promise<string> {
    const s = this.state(ref);
    const before = this.bootId(ref);
    const exited = s.exited;
    if (!exited) throw new LabError(`boot host ${s.host.name} is not running`);
    await this.ssh(s.host, ['systemctl reboot'], { timeoutMs: 30_000 });
    const code = await Promise.race([exited, sleep(BOOT_TIMEOUT_MS).then(() => 'timeout' as const)]);
    if (code !== 133) {
      throw new LabError(`reboot of ${s.host.name}: nspawn ended with ${code} instead of 133; see ${s.host.consoleLog}:\n${tailOf(s.host.consoleLog)}`);
    }
    // A reboot loses the kernel's network state (addresses, routes, net.* sysctls): the host gets a new
    // network namespace, and its switch port a new veth with the same MAC, as the namespace lab does.
    const h = s.host;
    await deletePort(this.switchNs, h.switchPort);
    await runOk('ip', ['netns', 'del', h.ns]);
    await addNamespaces([h.ns]);
    await addPort(this.switchNs, { port: h.switchPort, ns: h.ns, mac: h.mac });
    const after = await this.boot(s);
    if (after === before) throw new LabError(`reboot of ${s.host.name}: the boot id did not change`);
    return after;
  }

  /** Powers every host off (nspawn turns SIGTERM into a clean shutdown), then removes what is left like `cli.js down`. */
  async teardown(): Promise<void> {
    if (this.tornDown) return;
    this.tornDown = true;
    activeLabs.delete(this);
    const running = [...this.states.values()].filter((s) => s.nspawn?.pid && s.nspawn.exitCode === null && s.nspawn.signalCode === null);
    for (const s of running) s.nspawn!.kill('SIGTERM');
    await Promise.race([Promise.all(running.map((s) => s.exited)), sleep(30_000)]);
    const pids = pidsInNamespaces(namespacesOf(this.prefix));
    for (const pid of pids) killPid(pid);
    await waitGone(pids, 10_000);
    this.finish();
  }

  teardownSync(): void {
    if (this.tornDown) return;
    this.tornDown = true;
    activeLabs.delete(this);
    this.finish();
  }

  /** Like `cli.js down`: processes, namespaces, cgroup dirs, the lab dir, and the inotify limit put back. */
  private finish(): void {
    destroyLabByPrefix(this.prefix, { dirs: [this.dir] });
  }
}

// ---- teardown on exit and signals, as create.ts does for the namespace lab ----

const activeLabs = new Set<{ teardownSync(): void }>();
const SIGNALS: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];
let installed = false;
function onExit(): void {
  for (const lab of [...activeLabs]) lab.teardownSync();
}
function onSignal(signal: NodeJS.Signals): void {
  onExit();
  for (const s of SIGNALS) process.removeListener(s, onSignal);
  process.removeListener('exit', onExit);
  installed = false;
  if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
}
function install(): void {
  if (installed) return;
  installed = true;
  process.on('exit', onExit);
  for (const s of SIGNALS) process.on(s, onSignal);
}

/** Checks that this machine can run the tier at all; throws (the tests fail, never skip) with what is missing. */
async function preflight(): Promise<void> {
  if (process.getuid?.() !== 0) throw new LabError('the systemd lab tier needs root');
  for (const tool of ['mmdebstrap', 'systemd-nspawn']) {
    const r = await run('sh', ['-c', `command -v ${tool}`]);
    if (r.code !== 0) throw new LabError(`the systemd lab tier needs ${tool}: apt-get install mmdebstrap systemd-container`);
  }
}

export async function createBootLab(opts: BootLabOptions): Promise<BootLab> {
  if (opts.hosts.length === 0 || opts.hosts.length > 32) throw new LabError('a boot lab has 1 to 32 hosts');
  for (const h of opts.hosts) {
    if (!/^(h\d{1,2}|director|client)$/.test(h.name)) throw new LabError(`boot host names are h1..h32, director and client, got "${h.name}"`);
  }
  if (new Set(opts.hosts.map((h) => h.name)).size !== opts.hosts.length) throw new LabError('boot host names must be distinct');
  await ensureLabPackages();
  await preflight();
  const rootfs = await ensureRootfs(opts.log);
  let prefix = randomPrefix();
  for (let i = 0; namespacesOf(prefix).length > 0 || runSync('ip', ['link', 'show', 'dev', `${prefix}c`]).code === 0; i++) {
    if (i > 100) throw new LabError('could not find an unused lab prefix');
    prefix = randomPrefix();
  }
  install();
  const claimed = prefix;
  const pending = { teardownSync: () => void destroyLabByPrefix(claimed) };
  activeLabs.add(pending);
  let k: number;
  let dir: string;
  try {
    k = await claimSubnet(`${prefix}c`, `${prefix}s`);
    dir = mkdtempSync(join(tmpdir(), `vipush-lab-${prefix}-`));
    if (!/^[A-Za-z0-9_./-]+$/.test(dir)) throw new LabError(`the temp dir path ${dir} has characters the lab cannot use; set TMPDIR to a plain path`);
  } catch (e) {
    activeLabs.delete(pending);
    destroyLabByPrefix(prefix);
    throw e;
  }
  const lab = new BootLab(prefix, k, dir, rootfs.dir, opts);
  activeLabs.delete(pending);
  activeLabs.add(lab);
  try {
    await lab.build();
  } catch (e) {
    await lab.teardown();
    throw e;
  }
  return lab;
}
