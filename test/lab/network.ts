import { randomInt } from 'node:crypto';
import { readdirSync, rmSync } from 'node:fs';
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
  return ((ipToInt(addr) & mask) >>> 0) === ((base & mask) >>> 0);
}

/**
 * 198.18.K.0/24 (RFC 2544, never a real network), K random among those no
 * route or address on this machine touches, so parallel labs never collide.
 */
export async function pickSubnetOctet(): Promise<number> {
  const routes = JSON.parse((await runOk('ip', ['-j', '-4', 'route', 'show', 'table', 'all'])) || '[]') as { dst?: string }[];
  const addrs = JSON.parse((await runOk('ip', ['-j', '-4', 'addr', 'show'])) || '[]') as { addr_info?: { local: string; prefixlen: number }[] }[];
  const used = [
    ...routes.map((r) => r.dst).filter((d): d is string => !!d && d !== 'default'),
    ...addrs.flatMap((l) => (l.addr_info ?? []).map((a) => `${a.local}/${a.prefixlen}`)),
  ];
  const free: number[] = [];
  for (let k = 1; k <= 254; k++) {
    const base = ipToInt(`198.18.${k}.0`);
    if (!used.some((c) => overlaps(c, base, 24))) free.push(k);
  }
  if (free.length === 0) throw new LabError('no free 198.18.K.0/24 subnet on this machine: every K is used by a route or address');
  return free[randomInt(0, free.length)];
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

/** Creates the bridge and every host's veth from inside the switch, in one `ip` process. */
export async function buildSwitch(switchNs: string, ports: readonly SwitchPort[], controller: { ifname: string; mac: string; cidr: string }): Promise<void> {
  await runOk('ip', ['-batch', '-'], {
    input: [
      `link add ${controller.ifname} address ${controller.mac} type veth peer name ctl netns ${switchNs}`,
      `addr add ${controller.cidr} dev ${controller.ifname}`,
      `link set ${controller.ifname} up`,
      '',
    ].join('\n'),
  });
  const lines = ['link add br0 type bridge', 'link set br0 up', 'link set ctl master br0 up'];
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

export async function pidsInNamespace(ns: string): Promise<number[]> {
  const r = await run('ip', ['netns', 'pids', ns]);
  return r.stdout.split('\n').filter((l) => /^\d+$/.test(l.trim())).map(Number);
}

function pidsInNamespacesSync(namespaces: readonly string[]): number[] {
  if (namespaces.length === 0) return [];
  const r = runSync('ip', ['-force', '-batch', '-'], namespaces.map((n) => `netns pids ${n}\n`).join(''));
  return r.stdout.split('\n').filter((l) => /^\d+$/.test(l.trim())).map(Number);
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
  const pids = pidsInNamespacesSync(namespaces).filter((p) => p !== process.pid);
  for (const pid of pids) killPid(pid);
  for (const ref of opts.tracked ?? []) killRef(ref);
  if (namespaces.length > 0) runSync('ip', ['-force', '-batch', '-'], namespaces.map((n) => `netns del ${n}\n`).join(''));
  const controllerIf = `${prefix}c`;
  if (runSync('ip', ['link', 'show', 'dev', controllerIf]).code === 0) runSync('ip', ['link', 'del', controllerIf]);
  const dirs = opts.dirs ?? labDirsOf(prefix);
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
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
