import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createLab, ensureLabPackages, type Lab } from '../lab/lab.js';
import { labArgs, readReport, vipush } from './vipush-cli.js';

const IGNORE = 'net.ipv4.conf.all.arp_ignore';
const ANNOUNCE = 'net.ipv4.conf.all.arp_announce';

// The shipped example playbooks besides hidden-arp.yml (which hidden-arp.test.ts runs), as a user runs them.
describe('the example playbooks, run against a lab', () => {
  let lab: Lab;

  beforeAll(async () => {
    await ensureLabPackages();
    lab = await createLab({ hosts: 3 });
    await lab.setupDirector();
  });
  afterAll(async () => {
    await lab?.teardown();
  });

  it('hidden-arp-rolling.yml: three batches, each gated on ARP; arp_ignore 1 in a sysctl.d file; the VIP persisted', async () => {
    const report = join(lab.dir, 'rolling.json');
    const r = await vipush(['run', 'playbooks/hidden-arp-rolling.yml', ...labArgs(lab), '--report', report]);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const rep = await readReport(report);
    for (const h of lab.hosts) expect(rep.hosts[h.name].status).toBe('changed');
    expect(rep.gates?.map((g) => [g.batch, g.ok])).toEqual([
      [0, true],
      [1, true],
      [2, true],
    ]);
    expect(await lab.arpOwners()).toEqual([lab.director.mac]);
    for (const h of lab.hosts) {
      expect([await lab.sysctl(h, IGNORE), await lab.sysctl(h, ANNOUNCE)]).toEqual(['1', '2']);
      expect(readFileSync(join(lab.etcUpper(h), 'sysctl.d', '60-vipush-hidden-arp.conf'), 'utf8')).toBe(`${IGNORE} = 1\n${ANNOUNCE} = 2\n`);
      expect((await lab.addresses(h)).filter((a) => a.local === lab.vip)).toEqual([expect.objectContaining({ scope: 'host', label: 'lo:1' })]);
      expect(existsSync(join(lab.etcUpper(h), 'network', 'interfaces.d', 'vipush-lo-1'))).toBe(true);
    }
    // through the director, every real server answers
    const served = new Set<string>();
    for (let i = 0; i < 30 && served.size < lab.hosts.length; i++) served.add((await lab.httpGet(`http://${lab.vip}/`)).body.trim());
    expect([...served].sort()).toEqual(lab.hosts.map((h) => h.name).sort());
  });

  it('remove-vip.yml: the VIP off every host, live and from the boot configuration; the sysctls stay', async () => {
    const r = await vipush(['run', 'playbooks/remove-vip.yml', ...labArgs(lab)]);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    for (const h of lab.hosts) {
      expect((await lab.addresses(h)).filter((a) => a.local === lab.vip)).toEqual([]);
      expect(existsSync(join(lab.etcUpper(h), 'network', 'interfaces.d', 'vipush-lo-1'))).toBe(false);
      expect(await lab.sysctl(h, IGNORE)).toBe('1');
    }
    expect(await lab.arpOwners()).toEqual([lab.director.mac]);
    // nothing left to do
    const again = await vipush(['drift', 'playbooks/remove-vip.yml', ...labArgs(lab)]);
    expect(again.code, again.stdout + again.stderr).toBe(0);
  });
});
