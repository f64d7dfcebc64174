import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLab, ensureLabPackages, type Lab } from '../lab/lab.js';
import { labArgs, readReport, vipush } from './vipush-cli.js';

const IGNORE = 'net.ipv4.conf.all.arp_ignore';
const ANNOUNCE = 'net.ipv4.conf.all.arp_announce';

describe('the host refuses to lower the ARP sysctls under a VIP it hides (issue 16, item 3; a real host)', () => {
  let lab: Lab;
  const playbook = (name: string, tasks: string) => {
    const path = join(lab.dir, `${name}.yml`);
    writeFileSync(path, `- name: ${name}\n  hosts: realservers\n  tasks:\n${tasks}`);
    return path;
  };
  const lower = (allow: boolean) => `    - name: ARP back to the default
      sysctl: { set: { ${IGNORE}: 0 }${allow ? ', allow_arp: true' : ''} }
`;

  beforeAll(async () => {
    await ensureLabPackages();
    lab = await createLab({ hosts: 1 });
    await lab.setupDirector();
  });
  afterAll(async () => {
    await lab?.teardown();
  });

  it('a playbook that lowers arp_ignore while the VIP is on lo fails that host, and the host keeps hiding it', async () => {
    const up = await vipush([
      'run',
      playbook(
        'vip',
        `    - name: ARP sysctls
      sysctl: { set: { ${IGNORE}: 1, ${ANNOUNCE}: 2 } }
    - name: VIP
      address: { address: "{{ vip }}/32", dev: lo, scope: host, label: "lo:1", persist: none }
`,
      ),
      ...labArgs(lab),
    ]);
    expect(up.code, up.stdout + up.stderr).toBe(0);
    const conf = readFileSync(join(lab.etcUpper('h1'), 'sysctl.conf'), 'utf8');

    // the controller plans it (it checks additions only); the host refuses the live write itself
    const report = join(lab.dir, 'lower.json');
    const r = await vipush(['run', playbook('lower', lower(false)), ...labArgs(lab), '--report', report]);
    expect(r.code, r.stdout + r.stderr).toBe(1);
    const h1 = (await readReport(report)).hosts.h1;
    expect(h1.status).toBe('failed');
    expect(h1.error).toContain(
      `refusing to set ${IGNORE} to 0: ${lab.vip}/32 is on lo (scope host), and eth0 would answer ARP for it (arp_ignore max(conf/all, conf/eth0) would be 0); changed nothing`,
    );
    expect(await lab.sysctl('h1', IGNORE)).toBe('1');
    // the sysctl.conf write before it was undone
    expect(readFileSync(join(lab.etcUpper('h1'), 'sysctl.conf'), 'utf8')).toBe(conf);
    expect(h1.rolledBack).toBe(true);
    expect(await lab.arpOwners()).toEqual([lab.director.mac]);

    // allow_arp lets it through, and then the real server answers: what the refusal prevented
    const allowed = await vipush(['run', playbook('lower-allowed', lower(true)), ...labArgs(lab)]);
    expect(allowed.code, allowed.stdout + allowed.stderr).toBe(0);
    expect(await lab.sysctl('h1', IGNORE)).toBe('0');
    expect((await lab.arpOwners()).sort()).toEqual([lab.director.mac, lab.hosts[0].mac].sort());
  });
});
