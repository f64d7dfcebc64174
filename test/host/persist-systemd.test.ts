/**
 * persist: systemd. systemd 252's own checker reads the unit and its drop-in,
 * and the unit's ExecStart= runs, as systemd would run it at boot, in fresh
 * network namespaces of this run (deleted afterwards): it adds exactly the
 * declared VIPs with their scope and label, only while arp_ignore hides them,
 * again without harm, and leaves every other address alone. Needs root.
 */
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { renderPersistAll } from '../../src/modules/address/persist/index.js';
import { facts, vip } from '../fixtures/persist/helpers.js';
import { execStartArgv } from '../fixtures/persist/unit-file.js';

const IS_ROOT = process.getuid?.() === 0;
const temps: string[] = [];
const namespaces: string[] = [];

function run(cmd: string, args: string[]): SpawnSyncReturns<string> {
  return spawnSync(cmd, args, { encoding: 'utf8', timeout: 60_000 });
}

function ok(r: SpawnSyncReturns<string>, what: string): string {
  if (r.error) throw new Error(`${what}: ${r.error.message}`);
  if (r.status !== 0) throw new Error(`${what} exited ${r.status}: ${r.stderr}${r.stdout}`);
  return r.stdout;
}

const TASKS = [vip('198.18.1.250/32', { label: 'lo:1' }), vip('198.18.1.251/32'), vip('2001:db8::10/128')];
const plan = renderPersistAll('systemd', TASKS, facts({ systemd: true }));
const unit = plan.files[0];
const argv = execStartArgv(unit.content);

/** A fresh namespace with lo up (systemd brings it up before any unit) and eth0 holding an IPv4 address. */
function namespace(tag: string, arpIgnore: { all: number; eth0: number }): string {
  const ns = `vpsd-${tag}-${process.pid}`;
  ok(run('ip', ['netns', 'add', ns]), `ip netns add ${ns}`);
  namespaces.push(ns);
  const sh = (script: string) => ok(run('ip', ['netns', 'exec', ns, 'sh', '-ec', script]), script);
  sh(
    [
      'ip link set lo up',
      'ip link add eth0 type veth peer name eth1',
      'ip addr add 10.9.0.2/24 dev eth0',
      'ip link set eth0 up',
      // new namespaces copy conf/all from the machine's: set what the test needs
      `echo ${arpIgnore.all} > /proc/sys/net/ipv4/conf/all/arp_ignore`,
      `echo ${arpIgnore.eth0} > /proc/sys/net/ipv4/conf/eth0/arp_ignore`,
      'echo 0 > /proc/sys/net/ipv4/conf/eth1/arp_ignore',
    ].join('\n'),
  );
  return ns;
}

/** The unit's command, run in the namespace as systemd runs it: no shell in between. */
function boot(ns: string, args = argv): SpawnSyncReturns<string> {
  return run('ip', ['netns', 'exec', ns, ...args]);
}

/** lo's and eth0's IPv4 and IPv6 addresses, as `ip -o addr` prints them up to the label. */
function addresses(ns: string): string[] {
  const out = ok(run('ip', ['netns', 'exec', ns, 'ip', '-o', 'addr', 'show']), 'ip addr');
  return out
    .split('\n')
    .filter((l) => l && !/ fe80::/.test(l))
    .map((l) =>
      l
        .replace(/\\.*$/, '')
        .replace(/^\d+: /, '')
        .replace(/\s+/g, ' ')
        .trim(),
    )
    .sort();
}

beforeAll(() => {
  if (!IS_ROOT) throw new Error('persist-systemd tests need root (network namespaces)');
  expect(plan.problems).toEqual([]);
});

afterAll(() => {
  for (const ns of namespaces) run('ip', ['netns', 'del', ns]);
  for (const d of temps) rmSync(d, { recursive: true, force: true });
});

describe('the unit and its drop-in, read by systemd-analyze verify', () => {
  it('are accepted without a warning', () => {
    const dir = mkdtempSync(join(tmpdir(), 'vipush-unit-'));
    temps.push(dir);
    const unitPath = join(dir, basename(unit.path));
    writeFileSync(unitPath, unit.content);
    const dropIn = plan.files[1];
    mkdirSync(join(dir, 'multi-user.target.d'));
    writeFileSync(join(dir, 'multi-user.target.d', basename(dropIn.path)), dropIn.content);
    const r = spawnSync('systemd-analyze', ['verify', unitPath], {
      encoding: 'utf8',
      timeout: 60_000,
      env: { ...process.env, SYSTEMD_UNIT_PATH: `${dir}:` },
    });
    expect(r.error).toBeUndefined();
    expect(r.status, r.stderr).toBe(0);
    // verify exits 0 after skipping what it does not understand: it must say nothing about our files
    expect(r.stderr.split('\n').filter((l) => l.includes(dir))).toEqual([]);
  });

  it('notices a unit it would read differently (the check can fail)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'vipush-unit-'));
    temps.push(dir);
    const bad = join(dir, basename(unit.path));
    writeFileSync(
      bad,
      unit.content.replace(/ExecStart=(.*)$/m, (_l, cmd: string) => `ExecStart=${cmd.replace(/\$\$/g, '\\$')}`),
    );
    const r = spawnSync('systemd-analyze', ['verify', bad], { encoding: 'utf8', timeout: 60_000, env: { ...process.env, SYSTEMD_UNIT_PATH: `${dir}:` } });
    expect(r.stderr.split('\n').filter((l) => l.includes(dir))).not.toEqual([]);
  });
});

describe('ExecStart=, run as systemd runs it at boot', () => {
  it('adds exactly the declared VIPs with their scope and label, and nothing else changes', () => {
    const ns = namespace('add', { all: 3, eth0: 0 });
    ok(run('ip', ['netns', 'exec', ns, 'ip', 'addr', 'add', '198.18.9.9/32', 'dev', 'lo']), 'ip addr add');
    const before = addresses(ns);
    const r = boot(ns);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toBe('added 198.18.1.250/32 to lo\nadded 198.18.1.251/32 to lo\nadded 2001:db8::10/128 to lo\n');
    const after = addresses(ns);
    expect(after.filter((a) => !before.includes(a))).toEqual([
      'lo inet 198.18.1.250/32 scope host lo:1',
      'lo inet 198.18.1.251/32 scope host lo',
      'lo inet6 2001:db8::10/128 scope global',
    ]);
    expect(before.filter((a) => !after.includes(a))).toEqual([]);
    expect(before).toContain('lo inet 198.18.9.9/32 scope global lo');
    expect(before).toContain('eth0 inet 10.9.0.2/24 scope global eth0');

    // a second start (systemctl restart, or a unit started by hand) changes nothing
    const again = boot(ns);
    expect(again.status, again.stderr).toBe(0);
    expect(again.stdout).toBe('198.18.1.250/32 is on lo already\n198.18.1.251/32 is on lo already\n2001:db8::10/128 is on lo already\n');
    expect(addresses(ns)).toEqual(after);
  });

  it('puts a VIP back as declared when another tool added it with scope global and no label', () => {
    const ns = namespace('fix', { all: 1, eth0: 0 });
    ok(run('ip', ['netns', 'exec', ns, 'ip', 'addr', 'add', '198.18.1.250/32', 'dev', 'lo']), 'ip addr add');
    const r = boot(ns);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout.split('\n')[0]).toBe('removed 198.18.1.250/32 from lo (not as declared)');
    expect(addresses(ns).filter((a) => a.includes('198.18.1.250'))).toEqual(['lo inet 198.18.1.250/32 scope host lo:1']);
  });

  it('adds no IPv4 VIP while ARP for it would be answered, and fails so the unit shows it', () => {
    const ns = namespace('arp', { all: 0, eth0: 0 });
    const r = boot(ns);
    expect(r.status).toBe(1);
    expect(r.stderr).toBe(
      'not adding 198.18.1.250/32 to lo: arp_ignore is 0 on eth0 (max of conf/all and conf/eth0), so eth0 would answer ARP for it\n' +
        'not adding 198.18.1.251/32 to lo: arp_ignore is 0 on eth0 (max of conf/all and conf/eth0), so eth0 would answer ARP for it\n',
    );
    const lo = addresses(ns).filter((a) => a.startsWith('lo '));
    // IPv6 has no ARP: its VIP is added
    expect(lo).toEqual(['lo inet 127.0.0.1/8 scope host lo', 'lo inet6 2001:db8::10/128 scope global', 'lo inet6 ::1/128 scope host']);
  });

  it('reads arp_ignore as the kernel does: max(conf/all, conf/IFACE), and 3 only for scope host', () => {
    const perIface = namespace('iface', { all: 0, eth0: 1 });
    expect(boot(perIface).status).toBe(0);
    expect(addresses(perIface).filter((a) => a.includes('198.18.1.25'))).toHaveLength(2);

    const scopeGlobal = renderPersistAll('systemd', [vip('198.18.1.252/32', { scope: 'global' })], facts());
    const three = namespace('three', { all: 3, eth0: 0 });
    const r = boot(three, execStartArgv(scopeGlobal.files[0].content));
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('not adding 198.18.1.252/32 to lo: arp_ignore is 3 on eth0');
    expect(addresses(three).filter((a) => a.includes('198.18.1.252'))).toEqual([]);
  });
});
