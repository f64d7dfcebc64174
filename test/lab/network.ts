import { randomInt } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, readlinkSync, rmdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run, runOk, runSync, killPid, killRef, LabError, type ProcessRef } from './exec.js';

/** Every lab namespace is `${prefix}-<role>`; nothing else is ever deleted. */
export const LAB_PREFIX_RE = /^vp[0-9a-f]{4}$/;
const LAB_NS_RE = /^(vp[0-9a-f]{4})-/;

export const MAX_HOSTS = 240;
export const VIP_OCTET = 250;
export const CONTROLLER_OCTET = 1;
export const DIRECTOR_OCTET = 2;
export const CLIENT_OCTET = 3;

/** Real servers start at .11 and step over the VIP's .250, so 240 of them fit. */
export function hostOctet(index: number): number {
  const octet = 11 + index;
  return octet >= VIP_OCTET ? octet + 1 : octet;
}

/** Locally administered and deterministic: 02:76:70 ("vp"), the subnet's third octet, the host's last octet. */
export function labMac(k: number, octet: number): string {
  const hex = (n: number) => n.toString(16).padStart(2, '0');
  return `02:76:70:${hex(k)}:00:${hex(octet)}`;
}

export function randomPrefix(): string {
  return `vp${randomInt(0, 0x10000).toString(16).padStart(4, '0')}`;
}

function ipToInt(ip: string): number {
  return ip.split('.').reduce((acc, part) => acc * 256 + Number(part), 0);
}

function overlaps(cidr: string, base: number, bits: number): boolean {
  const [addr, lenText] = cidr.split('/');
  if (!/^\d+\.\d+\.\d+\.\d+$/.test(addr)) return false;
  const len = lenText === undefined ? 32 : Number(lenText);
  if (len === 0) return false; // the default route covers everything; it is not a use of the subnet
  const common = Math.min(len, bits);
  const mask = common === 0 ? 0 : (0xffffffff << (32 - common)) >>> 0;
  return (ipToInt(addr) & mask) >>> 0 === (base & mask) >>> 0;
}

async function subnetUsers(): Promise<{ cidr: string; dev: string }[]> {
  const routes = JSON.parse((await runOk('ip', ['-j', '-4', 'route', 'show', 'table', 'all'])) || '[]') as { dst?: string; dev?: string }[];
  const links = JSON.parse((await runOk('ip', ['-j', '-4', 'addr', 'show'])) || '[]') as {
    ifname: string;
    addr_info?: { local: string; prefixlen: number }[];
  }[];
  return [
    ...routes.filter((r) => r.dst && r.dst !== 'default').map((r) => ({ cidr: r.dst!, dev: r.dev ?? '' })),
    ...links.flatMap((l) => (l.addr_info ?? []).map((a) => ({ cidr: `${a.local}/${a.prefixlen}`, dev: l.ifname }))),
  ];
}

function subnetTouched(users: readonly { cidr: string; dev: string }[], k: number, exceptDev?: string): boolean {
  const base = ipToInt(`198.18.${k}.0`);
  return users.some((u) => u.dev !== exceptDev && overlaps(u.cidr, base, 24));
}

/**
 * Picks 198.18.K.0/24 (RFC 2544, never a real network) with K random among
 * those no route or address on this machine touches, and claims it at once by
 * putting the controller address on a new root-side veth. Two labs starting at
 * the same moment could pick the same K; the one that sees the other's
 * address after claiming gives K up and picks again.
 */
export async function claimSubnet(controllerIf: string, peerIf: string): Promise<number> {
  await runOk('ip', ['link', 'add', controllerIf, 'type', 'veth', 'peer', 'name', peerIf]);
  for (let attempt = 0; attempt < 20; attempt++) {
    const users = await subnetUsers();
    const free: number[] = [];
    for (let k = 1; k <= 254; k++) if (!subnetTouched(users, k)) free.push(k);
    if (free.length === 0) break;
    const k = free[randomInt(0, free.length)];
    await runOk('ip', ['-batch', '-'], {
      input: `link set dev ${controllerIf} address ${labMac(k, CONTROLLER_OCTET)}\naddr add 198.18.${k}.${CONTROLLER_OCTET}/24 dev ${controllerIf}\n`,
    });
    if (!subnetTouched(await subnetUsers(), k, controllerIf)) return k;
    await runOk('ip', ['addr', 'flush', 'dev', controllerIf]);
  }
  throw new LabError('no free 198.18.K.0/24 subnet on this machine: every K is used by a route or address');
}

export function listNamespaces(): string[] {
  const r = runSync('ip', ['netns', 'list']);
  return r.stdout
    .split('\n')
    .map((l) => l.trim().split(' ')[0])
    .filter((n) => n !== '');
}

export function namespacesOf(prefix: string): string[] {
  return listNamespaces().filter((n) => n.startsWith(`${prefix}-`));
}

export async function addNamespaces(names: readonly string[]): Promise<void> {
  if (names.length === 0) return;
  await runOk('ip', ['-batch', '-'], { input: names.map((n) => `netns add ${n}\n`).join('') });
}

export interface SwitchPort {
  port: string;
  ns: string;
  mac: string;
}

/**
 * Creates the bridge and every host's veth from inside the switch, in one
 * `ip` process, and plugs in the controller's veth (claimed by claimSubnet).
 */
export async function buildSwitch(switchNs: string, ports: readonly SwitchPort[], controller: { ifname: string; peer: string }): Promise<void> {
  await runOk('ip', ['-batch', '-'], { input: `link set ${controller.peer} netns ${switchNs}\nlink set ${controller.ifname} up\n` });
  const lines = ['link add br0 type bridge', 'link set br0 up', `link set ${controller.peer} name ctl`, 'link set ctl master br0 up'];
  for (const p of ports) lines.push(...portLines(p));
  await runOk('ip', ['-n', switchNs, '-batch', '-'], { input: lines.join('\n') + '\n' });
}

function portLines(p: SwitchPort): string[] {
  // iproute2 6.1 takes the peer's address only after its netns.
  return [`link add ${p.port} type veth peer name eth0 netns ${p.ns} address ${p.mac}`, `link set ${p.port} master br0 up`];
}

export async function addPort(switchNs: string, p: SwitchPort): Promise<void> {
  await runOk('ip', ['-n', switchNs, '-batch', '-'], { input: portLines(p).join('\n') + '\n' });
}

export async function deletePort(switchNs: string, port: string): Promise<void> {
  const r = await run('ip', ['-n', switchNs, 'link', 'del', port]);
  if (r.code !== 0 && !/Cannot find device/.test(r.stderr)) throw new LabError(`cannot delete switch port ${port}: ${r.stderr.trim()}`);
}

export async function setPort(switchNs: string, port: string, state: 'up' | 'down'): Promise<void> {
  await runOk('ip', ['-n', switchNs, 'link', 'set', port, state]);
}

/**
 * Processes whose network namespace is one of `namespaces`, found the way
 * `ip netns pids` does (by namespace inode) but in one pass over /proc for
 * all of them: one `ip netns pids` per host scans /proc once per host.
 */
export function pidsInNamespaces(namespaces: readonly string[]): number[] {
  const inodes = new Set<number>();
  for (const ns of namespaces) {
    try {
      inodes.add(statSync(`/run/netns/${ns}`).ino);
    } catch {
      // not there (any more)
    }
  }
  if (inodes.size === 0) return [];
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let link: string;
    try {
      link = readlinkSync(`/proc/${entry}/ns/net`);
    } catch {
      continue; // exited meanwhile
    }
    const m = /^net:\[(\d+)\]$/.exec(link);
    if (m && inodes.has(Number(m[1])) && Number(entry) !== process.pid) pids.push(Number(entry));
  }
  return pids;
}

export interface DestroyReport {
  namespaces: string[];
  killed: number;
  dirs: string[];
}

/**
 * Removes everything of one lab, synchronously so it can run from an 'exit'
 * handler: processes first (found through their namespaces, plus the ones we
 * track), then the namespaces, the root-side veth and the lab dirs.
 */
export function destroyLabByPrefix(prefix: string, opts: { tracked?: readonly ProcessRef[]; dirs?: readonly string[] } = {}): DestroyReport {
  if (!LAB_PREFIX_RE.test(prefix)) throw new LabError(`refusing to delete "${prefix}": a lab prefix is vp followed by 4 hex digits`);
  const namespaces = namespacesOf(prefix);
  const pids = pidsInNamespaces(namespaces);
  for (const pid of pids) killPid(pid);
  for (const ref of opts.tracked ?? []) killRef(ref);
  if (namespaces.length > 0) runSync('ip', ['-force', '-batch', '-'], namespaces.map((n) => `netns del ${n}\n`).join(''));
  const controllerIf = `${prefix}c`;
  if (runSync('ip', ['link', 'show', 'dev', controllerIf]).code === 0) runSync('ip', ['link', 'del', controllerIf]);
  removeLabCgroups(prefix);
  const dirs = opts.dirs ?? labDirsOf(prefix);
  for (const d of dirs) {
    lowerInotifyBy(d);
    rmSync(d, { recursive: true, force: true });
  }
  return { namespaces, killed: pids.length, dirs: [...dirs] };
}

export function labDirsOf(prefix: string): string[] {
  const base = tmpdir();
  return readdirSync(base)
    .filter((n) => n.startsWith(`vipush-lab-${prefix}-`))
    .map((n) => join(base, n));
}

export interface LabSummary {
  prefix: string;
  namespaces: number;
  dirs: string[];
}

/** Labs on this machine, found by their namespaces and lab dirs. */
export function listLabs(): LabSummary[] {
  const byPrefix = new Map<string, LabSummary>();
  const entry = (prefix: string) => {
    let s = byPrefix.get(prefix);
    if (!s) {
      s = { prefix, namespaces: 0, dirs: [] };
      byPrefix.set(prefix, s);
    }
    return s;
  };
  for (const ns of listNamespaces()) {
    const m = LAB_NS_RE.exec(ns);
    if (m) entry(m[1]).namespaces++;
  }
  for (const name of readdirSync(tmpdir())) {
    const m = /^vipush-lab-(vp[0-9a-f]{4})-/.exec(name);
    if (m) entry(m[1]).dirs.push(join(tmpdir(), name));
  }
  return [...byPrefix.values()].sort((a, b) => a.prefix.localeCompare(b.prefix));
}

/** Where the systemd tier (nspawn/boot-lab.ts) puts each host: `vipush-lab-PREFIX-HOST` under each of these that exists. */
export const CGROUP_ROOTS = ['/sys/fs/cgroup/systemd', '/sys/fs/cgroup/unified'];
const NSPAWN_PROPAGATE = '/run/systemd/nspawn/propagate';

/**
 * Removes the cgroup dirs of a lab's systemd hosts, depth-first, once their processes are gone (a
 * killed host's processes may take a moment to leave). Returns the dirs that stayed.
 */
export function removeLabCgroups(prefix: string): string[] {
  if (!LAB_PREFIX_RE.test(prefix)) return [];
  const left: string[] = [];
  const rmTree = (dir: string) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) if (e.isDirectory()) rmTree(join(dir, e.name));
    for (let i = 0; ; i++) {
      try {
        rmdirSync(dir);
        return;
      } catch {
        if (i >= 100) {
          left.push(dir);
          return;
        }
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20);
      }
    }
  };
  for (const root of CGROUP_ROOTS) {
    if (!existsSync(root)) continue;
    for (const name of readdirSync(root)) if (name.startsWith(`vipush-lab-${prefix}-`)) rmTree(join(root, name));
  }
  // nspawn's mount propagation dir per machine (`PREFIX-HOST`): it removes it itself unless it was killed
  if (existsSync(NSPAWN_PROPAGATE)) {
    for (const name of readdirSync(NSPAWN_PROPAGATE)) {
      if (!name.startsWith(`${prefix}-`)) continue;
      try {
        rmdirSync(join(NSPAWN_PROPAGATE, name)); // empty once its machine is gone; never reached into
      } catch {
        left.push(join(NSPAWN_PROPAGATE, name));
      }
    }
  }
  return left;
}

const INOTIFY_KEY = '/proc/sys/fs/inotify/max_user_instances';
/** A lab dir holding this file raised fs.inotify.max_user_instances by the number in it (nspawn/boot-lab.ts). */
export const INOTIFY_RAISE_FILE = 'inotify-raised';

/** Raises the machine's inotify instance limit by `by` and notes it in the lab dir, so teardown or `down` puts it back. */
export function raiseInotify(labDir: string, by: number): void {
  const now = Number(readFileSync(INOTIFY_KEY, 'utf8').trim());
  writeFileSync(join(labDir, INOTIFY_RAISE_FILE), `${by}\n`);
  writeFileSync(INOTIFY_KEY, `${now + by}\n`);
}

/** Takes back what the lab added (other labs may have raised the limit meanwhile, so never a saved absolute value). */
function lowerInotifyBy(labDir: string): void {
  let by: number;
  try {
    by = Number(readFileSync(join(labDir, INOTIFY_RAISE_FILE), 'utf8').trim());
  } catch {
    return;
  }
  if (!Number.isInteger(by) || by <= 0) return;
  const now = Number(readFileSync(INOTIFY_KEY, 'utf8').trim());
  writeFileSync(INOTIFY_KEY, `${Math.max(128, now - by)}\n`);
  rmSync(join(labDir, INOTIFY_RAISE_FILE), { force: true });
}
