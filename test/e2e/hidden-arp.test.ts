import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createLab, ensureLabPackages, type Lab } from '../lab/lab.js';
import { labArgs, readReport, vipush } from './vipush-cli.js';

const ARP_IGNORE = 'net.ipv4.conf.all.arp_ignore';
const ARP_ANNOUNCE = 'net.ipv4.conf.all.arp_announce';

describe('hidden ARP end to end (3 real servers, real sshd, real ARP)', () => {
  let lab: Lab;
  const original = readFileSync('/etc/sysctl.conf', 'utf8');

  beforeAll(async () => {
    await ensureLabPackages();
    lab = await createLab({ hosts: 3 });
    await lab.setupDirector();
    for (const h of lab.hosts) await lab.naiveVip(h);
  });
  afterAll(async () => {
    await lab?.teardown();
  });

  it('starts broken: every real server answers ARP for the VIP', async () => {
    const owners = await lab.arpOwners();
    expect(owners.sort()).toEqual([...lab.hosts.map((h) => h.mac), lab.director.mac].sort());
  });

  it('--check changes nothing and says what would change', async () => {
    const report = join(lab.dir, 'check.json');
    const r = await vipush(['run', 'playbooks/hidden-arp.yml', ...labArgs(lab), '--check', '--report', report]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('would change h1');
    const rep = await readReport(report);
    expect(rep.check).toBe(true);
    expect(Object.keys(rep.hosts).sort()).toEqual(['h1', 'h2', 'h3']);
    for (const h of lab.hosts) {
      expect(rep.hosts[h.name].status).toBe('changed');
      expect(await lab.sysctl(h, ARP_IGNORE)).toBe('0');
      expect(existsSync(join(lab.etcUpper(h), 'sysctl.conf'))).toBe(false);
      expect((await lab.addresses(h)).find((a) => a.local === lab.vip)?.scope).toBe('global');
    }
    expect((await lab.arpOwners()).length).toBe(4);
  });

  it('--limit h1 --diff changes only h1 and shows the sysctl.conf diff', async () => {
    const report = join(lab.dir, 'h1.json');
    const r = await vipush(['run', 'playbooks/hidden-arp.yml', ...labArgs(lab), '--limit', 'h1', '--diff', '--report', report]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('+++ /etc/sysctl.conf');
    expect(r.stdout).toContain('+net.ipv4.conf.all.arp_ignore = 3');
    expect(r.stdout).toContain(`sysctl ${ARP_IGNORE}: 0 -> 3`);
    const rep = await readReport(report);
    expect(Object.keys(rep.hosts)).toEqual(['h1']);
    expect(rep.hosts.h1.status).toBe('changed');
    expect(await lab.sysctl('h1', ARP_IGNORE)).toBe('3');
    expect(await lab.sysctl('h2', ARP_IGNORE)).toBe('0');
    expect(existsSync(join(lab.etcUpper('h2'), 'sysctl.conf'))).toBe(false);
  });

  it('the full run hides the VIP: only the director answers ARP, HTTP still reaches every real server', async () => {
    const report = join(lab.dir, 'run.json');
    const r = await vipush(['run', 'playbooks/hidden-arp.yml', ...labArgs(lab), '--report', report]);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const rep = await readReport(report);
    expect(rep.hosts.h1.status).toBe('ok');
    expect(rep.hosts.h2.status).toBe('changed');
    expect(rep.hosts.h3.status).toBe('changed');

    expect(await lab.arpOwners()).toEqual([lab.director.mac]);
    for (const h of lab.hosts) {
      expect(await lab.sysctl(h, ARP_IGNORE)).toBe('3');
      expect(await lab.sysctl(h, ARP_ANNOUNCE)).toBe('2');
      const vip = (await lab.addresses(h)).filter((a) => a.local === lab.vip);
      expect(vip).toEqual([expect.objectContaining({ prefixlen: 32, scope: 'host', label: 'lo:1' })]);
      // the original file's lines are kept byte for byte; ours are appended
      const conf = readFileSync(join(lab.etcUpper(h), 'sysctl.conf'), 'utf8');
      expect(conf.startsWith(original)).toBe(true);
      expect(conf.slice(original.length)).toBe(`${ARP_IGNORE} = 3\n${ARP_ANNOUNCE} = 2\n`);
    }

    const answered = new Set<string>();
    for (let i = 0; i < 30; i++) {
      const res = await lab.httpGet(`http://${lab.vip}/`);
      expect(res.status).toBe(200);
      answered.add(res.body.trim());
    }
    expect([...answered].sort()).toEqual(['h1', 'h2', 'h3']);
  });

  it('a second run reports every host ok, with no change', async () => {
    const report = join(lab.dir, 'again.json');
    const r = await vipush(['run', 'playbooks/hidden-arp.yml', ...labArgs(lab), '--report', report]);
    expect(r.code).toBe(0);
    const rep = await readReport(report);
    for (const h of lab.hosts) {
      expect(rep.hosts[h.name].status).toBe('ok');
      expect(rep.hosts[h.name].tasks.every((t) => t.status === 'ok' && t.changes.length === 0)).toBe(true);
    }
    expect(rep.summary).toMatchObject({ ok: 3, changed: 0, failed: 0, unreachable: 0 });
  });
});
