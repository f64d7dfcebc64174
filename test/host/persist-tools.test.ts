/**
 * The persistence files, read by the real tools of each stack (Debian 12):
 * netplan's generator, NetworkManager's keyfile parser (nmcli --offline),
 * ifupdown (ifquery, and ifup in a fresh network namespace) and
 * systemd-networkd (run in a fresh network namespace). Needs root; installs
 * netplan.io / network-manager / ifupdown with apt-get when they are missing.
 * No daemon is left running and no host interface is touched.
 */
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keepsScopeHost, renderPersistAll, type PersistPlan, type StackFacts } from '../../src/modules/address/persist/index.js';
import { debianFacts, facts, vip } from '../fixtures/persist/helpers.js';

const IS_ROOT = process.getuid?.() === 0;
const NETWORKD = '/lib/systemd/systemd-networkd';
const temps: string[] = [];

function run(cmd: string, args: string[], opts: { input?: string; timeout?: number } = {}): SpawnSyncReturns<string> {
  return spawnSync(cmd, args, { encoding: 'utf8', timeout: opts.timeout ?? 60_000, input: opts.input });
}

function ok(r: SpawnSyncReturns<string>, what: string): string {
  if (r.error) throw new Error(`${what}: ${r.error.message}`);
  if (r.status !== 0) throw new Error(`${what} exited ${r.status}: ${r.stderr}${r.stdout}`);
  return r.stdout;
}

function hasCommand(cmd: string): boolean {
  return run('sh', ['-c', `command -v ${cmd} || test -x ${cmd}`]).status === 0;
}

/** apt-get install when missing, as root; otherwise fail with what to do. */
function ensure(cmd: string, pkg: string): void {
  if (hasCommand(cmd)) return;
  if (!IS_ROOT) throw new Error(`${cmd} is missing; as root run: apt-get install -y --no-install-recommends ${pkg}`);
  const install = () =>
    spawnSync('apt-get', ['install', '-y', '--no-install-recommends', pkg], {
      encoding: 'utf8',
      timeout: 150_000,
      env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    });
  let r = install();
  if (r.status !== 0) {
    run('apt-get', ['update'], { timeout: 150_000 });
    r = install();
  }
  ok(r, `apt-get install ${pkg}`);
  if (!hasCommand(cmd)) throw new Error(`installed ${pkg} but ${cmd} is still missing`);
}

function tempDir(prefix: string): string {
  const d = mkdtempSync(join(tmpdir(), prefix));
  temps.push(d);
  return d;
}

/** Writes a plan's files under root, with their modes. */
function writePlan(root: string, plan: PersistPlan): void {
  expect(plan.problems).toEqual([]);
  for (const f of plan.files) {
    const p = join(root, f.path);
    mkdirSync(dirname(p), { recursive: true });
    writeFileSync(p, f.content);
    chmodSync(p, f.mode);
  }
}

/** A network namespace of this run only, deleted afterwards. */
function withNamespace<T>(tag: string, body: (ns: string) => T): T {
  const ns = `vpp-${tag}-${process.pid}`;
  ok(run('ip', ['netns', 'add', ns]), `ip netns add ${ns}`);
  try {
    return body(ns);
  } finally {
    run('ip', ['netns', 'del', ns]);
  }
}

function withoutPreamble(content: string): string {
  return content.replace(/^(#[^\n]*\n)+/, '');
}

beforeAll(() => {
  if (!IS_ROOT) throw new Error('persist-tools tests need root (apt-get, network namespaces)');
  ensure('netplan', 'netplan.io');
  ensure('nmcli', 'network-manager');
  ensure('ifquery', 'ifupdown');
  ensure(NETWORKD, 'systemd');
}, 180_000);

afterAll(() => {
  for (const d of temps) rmSync(d, { recursive: true, force: true });
});

describe('netplan (netplan generate)', () => {
  const tasks = [vip('198.18.1.250/32', { label: 'lo:1' }), vip('198.18.1.251/32'), vip('2001:db8::10/128')];

  it('renders our YAML to networkd config that carries the VIPs, with no scope', () => {
    const root = tempDir('vipush-netplan-');
    // as on Ubuntu desktops: NetworkManager renders everything else
    mkdirSync(join(root, 'etc/netplan'), { recursive: true });
    writeFileSync(join(root, 'etc/netplan/01-network-manager-all.yaml'), 'network:\n  version: 2\n  renderer: NetworkManager\n', { mode: 0o600 });
    const f: StackFacts = facts({ netplanFiles: ['01-network-manager-all.yaml'] });
    for (const t of tasks) writePlan(root, renderPersistAll('netplan', [t], f));

    const r = run('netplan', ['generate', '--root-dir', root]);
    ok(r, 'netplan generate');
    expect(r.stderr).not.toMatch(/too open|error|warning/i);
    const networkd = readFileSync(join(root, 'run/systemd/network/10-netplan-lo.network'), 'utf8');
    expect(networkd).toContain('[Match]\nName=lo\n');
    expect(networkd).toMatch(/^Address=198\.18\.1\.250\/32\nLabel=lo:1$/m);
    expect(networkd).toMatch(/^Address=198\.18\.1\.251\/32$/m);
    expect(networkd).toMatch(/^Address=2001:db8::10\/128$/m);
    // Netplan cannot say `scope host`: the VIP comes back with scope global, hence:
    expect(networkd).not.toMatch(/^Scope=/m);
    expect(keepsScopeHost('netplan')).toBe(false);
    expect(existsSync(join(root, 'run/NetworkManager/system-connections/netplan-lo.nmconnection'))).toBe(false);
  });

  it('needs the pinned renderer: under NetworkManager netplan refuses address labels', () => {
    const root = tempDir('vipush-netplan-');
    mkdirSync(join(root, 'etc/netplan'), { recursive: true });
    writeFileSync(join(root, 'etc/netplan/01-network-manager-all.yaml'), 'network:\n  version: 2\n  renderer: NetworkManager\n', { mode: 0o600 });
    const plan = renderPersistAll('netplan', [tasks[0]], facts());
    const unpinned = plan.files[0].content.replace('      renderer: networkd\n', '');
    writeFileSync(join(root, plan.files[0].path), unpinned, { mode: 0o600 });
    const r = run('netplan', ['generate', '--root-dir', root]);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain('NetworkManager does not support address options');
  });
});

describe('NetworkManager (nmcli --offline, no daemon)', () => {
  beforeAll(() => {
    const running = run('pgrep', ['-x', 'NetworkManager']);
    if (running.status === 0) {
      throw new Error(`NetworkManager is running (pid ${running.stdout.trim()}); these tests expect no daemon: stop it`);
    }
  });

  const nmcli = (args: string[], input?: string) => ok(run('nmcli', ['--offline', 'connection', ...args], { input }), `nmcli ${args.join(' ')}`);
  const uuidOf = (content: string) => /^uuid=(.+)$/m.exec(content)![1];

  it('Debian 12 has a NetworkManager with loopback profiles (1.42+)', () => {
    const version = ok(run('nmcli', ['--version']), 'nmcli --version');
    const [major, minor] = /(\d+)\.(\d+)/.exec(version)!.slice(1).map(Number);
    expect(major * 1000 + minor).toBeGreaterThanOrEqual(1042);
  });

  it('reads our loopback keyfile and writes it back byte for byte; nmcli add makes the same file', () => {
    const f = facts({
      nmVersion: ok(run('nmcli', ['--version']), 'nmcli')
        .replace(/.*version /, '')
        .trim(),
    });
    const plan = renderPersistAll('networkmanager', [vip('198.18.1.250/32'), vip('198.18.1.251/32'), vip('2001:db8::10/128')], f);
    const ours = plan.files[0].content;
    expect(ours).toContain('type=loopback');
    const body = withoutPreamble(ours);
    expect(nmcli(['modify', 'connection.id', 'vipush-lo'], ours)).toBe(body);
    const reference = nmcli([
      'add',
      'type',
      'loopback',
      'ifname',
      'lo',
      'con-name',
      'vipush-lo',
      'connection.uuid',
      uuidOf(ours),
      'ipv4.method',
      'manual',
      'ipv4.addresses',
      '198.18.1.250/32,198.18.1.251/32',
      'ipv6.method',
      'manual',
      'ipv6.addresses',
      '2001:db8::10/128',
    ]);
    expect(reference).toBe(body);
  });

  it('reads an IPv4-only loopback keyfile unchanged', () => {
    const plan = renderPersistAll('networkmanager', [vip('198.18.1.250/32')], facts({ nmVersion: '1.42.4' }));
    expect(nmcli(['modify', 'connection.id', 'vipush-lo'], plan.files[0].content)).toBe(withoutPreamble(plan.files[0].content));
  });

  it('reads our dummy keyfile (NetworkManager before 1.42) as the profile nmcli makes for vipush0', () => {
    const plan = renderPersistAll('networkmanager', [vip('198.18.1.250/32'), vip('198.18.1.251/32')], facts({ nmVersion: '1.18.8' }));
    const ours = plan.files[0].content;
    expect(ours).toContain('type=dummy');
    const parsed = nmcli(['modify', 'connection.id', 'vipush-lo'], ours);
    const reference = nmcli([
      'add',
      'type',
      'dummy',
      'ifname',
      'vipush0',
      'con-name',
      'vipush-lo',
      'connection.uuid',
      uuidOf(ours),
      'ipv4.method',
      'manual',
      'ipv4.addresses',
      '198.18.1.250/32,198.18.1.251/32',
      'ipv6.method',
      'ignore',
    ]);
    // Our file leaves out addr-gen-mode (older versions do not know `default`);
    // NetworkManager reads the missing key as default-or-eui64, which it writes back as no key.
    expect(parsed).toBe(reference.replace('addr-gen-mode=default\n', ''));
  });
});

describe('ifupdown (ifquery, ifup)', () => {
  const tasks = [vip('198.18.1.250/32', { label: 'lo:1' }), vip('198.18.1.251/32'), vip('2001:db8::10/128')];

  /** An interfaces file like Debian's, sourcing a directory that holds our files. */
  function setup(): { dir: string; main: string } {
    const dir = tempDir('vipush-ifupdown-');
    const included = join(dir, 'interfaces.d');
    mkdirSync(included);
    for (const t of tasks) {
      for (const file of renderPersistAll('ifupdown', [t], debianFacts()).files) {
        writeFileSync(join(included, basename(file.path)), file.content, { mode: file.mode });
      }
    }
    const main = join(dir, 'interfaces');
    writeFileSync(main, `auto lo\niface lo inet loopback\n\nsource ${included}/*\n`);
    mkdirSync(join(dir, 'state'));
    return { dir, main };
  }

  it('ifquery reads the address and scope host of each stanza', () => {
    const { main } = setup();
    const alias = ok(run('ifquery', ['-i', main, 'lo:1']), 'ifquery lo:1');
    expect(alias).toMatch(/^address: 198\.18\.1\.250$/m);
    expect(alias).toMatch(/^scope: host$/m);
    const lo = ok(run('ifquery', ['-i', main, 'lo']), 'ifquery lo');
    expect(lo).toMatch(/^address: 198\.18\.1\.251$/m);
    expect(lo).toMatch(/^scope: host$/m);
    expect(lo).toMatch(/^address: 2001:db8::10$/m);
    expect(ok(run('ifquery', ['-i', main, '--list']), 'ifquery --list').split('\n')).toEqual(['lo', 'lo:1', '']);
  });

  it('ifup -a in a fresh network namespace brings the VIPs up as at boot: scope host, label kept', () => {
    const { dir, main } = setup();
    const addrs = withNamespace('ifup', (ns) => {
      ok(run('ip', ['netns', 'exec', ns, 'ifup', '--no-scripts', '-i', main, '--state-dir', join(dir, 'state'), '-a']), 'ifup -a');
      return ok(run('ip', ['netns', 'exec', ns, 'ip', '-o', 'addr', 'show', 'dev', 'lo']), 'ip addr');
    });
    expect(addrs).toMatch(/inet 198\.18\.1\.250\/32 brd 198\.18\.1\.250 scope host lo:1\\/);
    expect(addrs).toMatch(/inet 198\.18\.1\.251\/32 brd 198\.18\.1\.251 scope host lo\\/);
    expect(addrs).toMatch(/inet6 2001:db8::10\/128 scope global/);
    expect(addrs).toMatch(/inet 127\.0\.0\.1\/8 scope host lo\\/);
  });
});

describe('systemd-networkd (run in a fresh network namespace)', () => {
  it('applies our file: scope host and labels kept, other addresses on lo left alone', () => {
    const dir = tempDir('vipush-networkd-');
    const plan = renderPersistAll('networkd', [vip('198.18.1.250/32', { label: 'lo:1' }), vip('198.18.1.251/32'), vip('2001:db8::10/128')], facts());
    const networkDir = join(dir, 'network');
    mkdirSync(networkDir);
    const file = plan.files[0];
    writeFileSync(join(networkDir, basename(file.path)), file.content, { mode: file.mode });
    const log = join(dir, 'networkd.log');
    // networkd waits for udev unless /sys is read-only (as in a container);
    // /run and /etc/systemd/network are private to this mount namespace.
    const script = [
      'set -e',
      'mount -t tmpfs tmpfs /run',
      'mkdir -p /run/systemd/netif',
      'chown systemd-network:systemd-network /run/systemd/netif 2>/dev/null || true',
      'umount -l /sys',
      'mount -t sysfs -o ro sysfs /sys',
      `mount --bind '${networkDir}' /etc/systemd/network`,
      'ip link set lo up',
      'ip addr add 198.18.9.9/32 dev lo',
      // `timeout` ends networkd even if this shell is killed before its trap runs
      `SYSTEMD_LOG_TARGET=console SYSTEMD_LOG_LEVEL=info timeout 30 ${NETWORKD} >'${log}' 2>&1 & P=$!`,
      `trap 'kill $P 2>/dev/null; wait $P 2>/dev/null || true' EXIT`,
      `trap 'exit 1' HUP INT TERM`,
      'i=0',
      'until ip -o addr show dev lo | grep -q 2001:db8::10 && ip -o addr show dev lo | grep -q 198.18.1.251; do',
      '  i=$((i+1)); [ $i -lt 100 ] || break; sleep 0.1',
      'done',
      'ip -o addr show dev lo',
    ].join('\n');
    const addrs = withNamespace('networkd', (ns) =>
      ok(run('ip', ['netns', 'exec', ns, 'unshare', '--mount', '--propagation', 'private', 'sh', '-c', script], { timeout: 60_000 }), 'networkd'),
    );
    expect(addrs).toMatch(/inet 198\.18\.1\.250\/32 scope host lo:1\\/);
    expect(addrs).toMatch(/inet 198\.18\.1\.251\/32 scope host lo\\/);
    expect(addrs).toMatch(/inet6 2001:db8::10\/128 scope global/);
    expect(addrs).toMatch(/inet 198\.18\.9\.9\/32 scope global lo\\/);
    expect(keepsScopeHost('networkd')).toBe(true);
    const logLines = readFileSync(log, 'utf8').split('\n');
    expect(logLines).toContain('lo: Configuring with /etc/systemd/network/05-vipush-lo.network.');
    // networkd skips what it does not understand with a "FILE:LINE: ..." warning
    expect(logLines.filter((l) => l.includes('05-vipush-lo.network:'))).toEqual([]);
  });
});
