import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { createLab, ensureLabPackages, type Lab } from '../lab/lab.js';
import { labArgs, readReport, vipush } from './vipush-cli.js';

describe('two shards of one fleet, run at once on one machine, then merged (5 real servers)', () => {
  let lab: Lab;

  beforeAll(async () => {
    await ensureLabPackages();
    lab = await createLab({ hosts: 5 });
    await lab.setupDirector();
    for (const h of lab.hosts) await lab.naiveVip(h);
  });
  afterAll(async () => {
    await lab?.teardown();
  });

  it('--shard 1/2 and 2/2 split the hosts with no overlap, both run at once, and merge-reports joins them', async () => {
    const a = join(lab.dir, 'shard-1.json');
    const b = join(lab.dir, 'shard-2.json');
    const [ra, rb] = await Promise.all([
      vipush(['run', 'playbooks/hidden-arp.yml', ...labArgs(lab), '--shard', '1/2', '--report', a, '--quiet']),
      vipush(['run', 'playbooks/hidden-arp.yml', ...labArgs(lab), '--shard', '2/2', '--report', b, '--quiet']),
    ]);
    expect(ra.stderr).toBe('');
    expect(rb.stderr).toBe('');
    expect([ra.code, rb.code]).toEqual([0, 0]);
    const hostsA = Object.keys((await readReport(a)).hosts);
    const hostsB = Object.keys((await readReport(b)).hosts);
    expect(hostsA.length).toBeGreaterThan(0);
    expect(hostsB.length).toBeGreaterThan(0);
    expect(hostsA.filter((h) => hostsB.includes(h))).toEqual([]);
    expect([...hostsA, ...hostsB].sort()).toEqual(lab.hosts.map((h) => h.name).sort());

    // the same split every time (a stable partition)
    const again = join(lab.dir, 'shard-1-again.json');
    const rc = await vipush(['run', 'playbooks/hidden-arp.yml', ...labArgs(lab), '--shard', '1/2', '--report', again, '--quiet']);
    expect(rc.code).toBe(0);
    expect(Object.keys((await readReport(again)).hosts)).toEqual(hostsA);

    const merged = join(lab.dir, 'merged.json');
    const m = await vipush(['merge-reports', a, b, '-o', merged]);
    expect(m.stderr).toMatch(/merged 2 report\(s\): 5 hosts/);
    expect(m.code).toBe(0);
    const rep = await readReport(merged);
    expect(Object.keys(rep.hosts).sort()).toEqual(lab.hosts.map((h) => h.name).sort());
    expect(rep.summary.changed).toBe(5);
    // the fleet is really done: only the director answers ARP for the VIP
    expect(await lab.arpOwners()).toEqual([lab.director.mac]);

    // a shard's report merged with itself overlaps: refused
    const bad = await vipush(['merge-reports', a, a, '-o', join(lab.dir, 'bad.json')]);
    expect(bad.code).toBe(3);
    expect(bad.stderr).toMatch(/shards must not overlap/);
  });
});
