import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { ExitCode } from '../../src/errors.js';
import { createLab, ensureLabPackages, type Lab } from '../lab/lab.js';
import { readReport, vipush } from './vipush-cli.js';

const PLAYBOOK = 'playbooks/vip-list.yml';
const IGNORE = 'net.ipv4.conf.all.arp_ignore';

interface Vip {
  address: string;
  label: string;
}

/**
 * The example project (inventory/production + playbooks/vip-list.yml) against the lab: the lab's
 * hosts in hosts.yml, and the example's group_vars/realservers.yml with its VIPs moved into the
 * lab's subnet (inside eth0's subnet, where hiding them matters most), written to a temp dir so
 * a VIP can be deleted from the list as a user would.
 */
describe('a VIP list in group_vars, looped and exclusive (the example project, run against a lab)', () => {
  let lab: Lab;
  let dir: string;
  let vips: Vip[];
  const ip = (v: Vip) => v.address.split('/')[0];

  const writeVips = (list: Vip[]) => {
    const example = parse(readFileSync('inventory/production/group_vars/realservers.yml', 'utf8')) as { vips: Vip[] };
    writeFileSync(join(dir, 'inv', 'group_vars', 'realservers.yml'), stringify({ ...example, vips: list }));
  };
  const run = (command: 'run' | 'drift', extra: string[] = []) =>
    vipush([command, PLAYBOOK, '-i', join(dir, 'inv'), '--known-hosts', lab.knownHostsFile, ...extra]);
  /** every persisted network file vipush wrote on the host, concatenated */
  const persisted = (h: string) => {
    const d = join(lab.etcUpper(h), 'network', 'interfaces.d');
    let names: string[] = [];
    try {
      names = readdirSync(d).filter((n) => n.startsWith('vipush-'));
    } catch {
      names = [];
    }
    return names.map((n) => readFileSync(join(d, n), 'utf8')).join('');
  };
  const onLo = async (h: string) => (await lab.addresses(h, 'lo')).map((a) => ({ local: a.local, prefixlen: a.prefixlen, scope: a.scope, label: a.label }));

  beforeAll(async () => {
    await ensureLabPackages();
    lab = await createLab({ hosts: 2, director: false, httpServers: false, sshOnDirectorAndClient: false });
    dir = mkdtempSync(join(tmpdir(), 'vipush-vip-list-'));
    mkdirSync(join(dir, 'inv', 'group_vars'), { recursive: true });
    copyFileSync(lab.inventoryFile, join(dir, 'inv', 'hosts.yml'));
    const net = lab.subnet.split('.').slice(0, 3).join('.');
    const example = parse(readFileSync('inventory/production/group_vars/realservers.yml', 'utf8')) as { vips: Vip[] };
    expect(example.vips.length).toBeGreaterThanOrEqual(3);
    vips = example.vips.map((v, i) => ({ ...v, address: `${net}.${240 + i}/32` }));
    writeVips(vips);
  });
  afterAll(async () => {
    await lab?.teardown();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('control: a VIP put on lo by hand answers ARP from the client', async () => {
    const r = await lab.hostExec('h1', ['ip', 'addr', 'add', vips[0].address, 'dev', 'lo']);
    expect(r.code, r.stderr).toBe(0);
    expect(await lab.arpOwners(ip(vips[0]))).toEqual([lab.hosts[0].mac]);
  });

  it('--check reports one item per VIP and the retirement, and changes nothing', async () => {
    const report = join(dir, 'check.json');
    const r = await run('run', ['--check', '--report', report]);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const rep = await readReport(report);
    for (const h of lab.hosts) {
      expect(rep.hosts[h.name].tasks.map((t) => t.name)).toEqual([
        'do not answer or announce ARP for scope-host addresses',
        ...vips.map((v) => `VIP on loopback (item=${v.address})`),
        'VIP on loopback (retire undeclared VIPs on lo)',
      ]);
      expect(rep.hosts[h.name].tasks.slice(1, -1).every((t) => t.status === 'changed')).toBe(true);
      expect(await lab.sysctl(h, IGNORE)).toBe('0');
    }
    expect((await onLo('h2')).map((a) => a.local)).toEqual(['127.0.0.1', '::1']);
  });

  it('the run puts every VIP on every host: live with scope host and its label, persisted, and hidden from ARP', async () => {
    const report = join(dir, 'run.json');
    const r = await run('run', ['--report', report]);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const rep = await readReport(report);
    for (const h of lab.hosts) {
      expect(rep.hosts[h.name].status).toBe('changed');
      expect(await lab.sysctl(h, IGNORE)).toBe('3');
      const lo = await onLo(h.name);
      for (const v of vips) {
        expect(lo.filter((a) => a.local === ip(v))).toEqual([{ local: ip(v), prefixlen: 32, scope: 'host', label: v.label }]);
        expect(persisted(h.name)).toContain(`address ${v.address}`);
      }
      expect(lo.some((a) => a.local === '127.0.0.1')).toBe(true);
      const record = await lab.hostExec(h, ['cat', '/var/lib/vipush/managed-vips']);
      expect(record.stdout.split('\n').filter((l) => l.startsWith('lo '))).toEqual(vips.map((v) => `lo ${v.address}`));
    }
    for (const v of vips) expect(await lab.arpOwners(ip(v))).toEqual([]);
  });

  it('drift is 0 after the run', async () => {
    const report = join(dir, 'drift0.json');
    const r = await run('drift', ['--report', report]);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const rep = await readReport(report);
    for (const h of lab.hosts) expect(rep.hosts[h.name].drift).toEqual([]);
  });

  it('a VIP deleted from the list is drift (managed, no longer declared) until the next run; drift changes nothing', async () => {
    // an address vipush did not put there: never touched
    const own = `${lab.subnet.split('.').slice(0, 3).join('.')}.249/32`;
    expect((await lab.hostExec('h2', ['ip', 'addr', 'add', own, 'dev', 'lo', 'scope', 'host'])).code).toBe(0);
    writeVips([vips[0], vips[2]]);
    const report = join(dir, 'drift1.json');
    const r = await run('drift', ['--report', report]);
    expect(r.code, r.stdout + r.stderr).toBe(ExitCode.drift);
    const rep = await readReport(report);
    for (const h of lab.hosts) {
      expect(rep.hosts[h.name].drift).toEqual([
        {
          task: 'VIP on loopback (retire undeclared VIPs on lo)',
          item: `VIP ${vips[1].address} on lo`,
          expected: 'absent (managed by vipush, no longer declared)',
          actual: 'still on lo and in the persisted config',
        },
      ]);
      expect((await onLo(h.name)).some((a) => a.local === ip(vips[1]))).toBe(true);
    }
    expect(r.stdout).toContain(`VIP ${vips[1].address} on lo`);
  });

  let retireRun = '';
  it('the next run takes it off every host, live and persisted; the other VIPs, 127.0.0.1 and addresses vipush did not add stay', async () => {
    const report = join(dir, 'retire.json');
    const r = await run('run', ['--report', report, '--diff']);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    retireRun = /run (\S+): what it changed is saved/.exec(r.stdout)?.[1] ?? '';
    // --diff shows the retirement as its own item: the VIP going down, and the persisted file losing it
    expect(r.stdout).toContain('--- h1: VIP on loopback (retire undeclared VIPs on lo)');
    expect(r.stdout).toContain(`- ip addr ${vips[1].address} dev lo scope host label ${vips[1].label}`);
    const rep = await readReport(report);
    for (const h of lab.hosts) {
      const retire = rep.hosts[h.name].tasks.at(-1)!;
      expect(retire.status).toBe('changed');
      expect(retire.changes).toContain(`del ${vips[1].address} dev lo scope host label ${vips[1].label}`);
      const lo = (await onLo(h.name)).map((a) => a.local);
      expect(lo).not.toContain(ip(vips[1]));
      expect(lo).toEqual(expect.arrayContaining(['127.0.0.1', ip(vips[0]), ip(vips[2])]));
      expect(persisted(h.name)).not.toContain(vips[1].address);
      expect(persisted(h.name)).toContain(vips[0].address);
      // the sysctls stay: other VIPs still need them
      expect(await lab.sysctl(h, IGNORE)).toBe('3');
      expect((await lab.addresses(h, 'eth0')).map((a) => a.local)).toContain(h.ip);
    }
    expect((await onLo('h2')).map((a) => a.local)).toContain(`${lab.subnet.split('.').slice(0, 3).join('.')}.249`);
    for (const v of [vips[0], vips[2]]) expect(await lab.arpOwners(ip(v))).toEqual([]);
  });

  it('vipush rollback of that run puts the retired VIP back on every host, live (hidden) and persisted', async () => {
    expect(retireRun).not.toBe('');
    const back = await vipush(['rollback', '--run', retireRun, '-i', join(dir, 'inv'), '--known-hosts', lab.knownHostsFile]);
    expect(back.code, back.stdout + back.stderr).toBe(0);
    for (const h of lab.hosts) {
      expect((await onLo(h.name)).filter((a) => a.local === ip(vips[1]))).toEqual([{ local: ip(vips[1]), prefixlen: 32, scope: 'host', label: vips[1].label }]);
      expect(persisted(h.name)).toContain(`address ${vips[1].address}`);
      const record = await lab.hostExec(h, ['cat', '/var/lib/vipush/managed-vips']);
      expect(record.stdout).toContain(`lo ${vips[1].address}`);
    }
    expect(await lab.arpOwners(ip(vips[1]))).toEqual([]);
    // still not declared: drift says so again
    expect((await run('drift')).code).toBe(ExitCode.drift);
  });

  it('the next run retires it again; then drift is 0, and a further run changes nothing', async () => {
    const retire = await run('run');
    expect(retire.code, retire.stdout + retire.stderr).toBe(0);
    for (const h of lab.hosts) expect((await onLo(h.name)).map((a) => a.local)).not.toContain(ip(vips[1]));
    const d = await run('drift');
    expect(d.code, d.stdout + d.stderr).toBe(0);
    const report = join(dir, 'again.json');
    const r = await run('run', ['--report', report]);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const rep = await readReport(report);
    for (const h of lab.hosts) expect(rep.hosts[h.name].status).toBe('ok');
  });
});
