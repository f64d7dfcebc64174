import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createLab, ensureLabPackages, type Lab } from '../lab/lab.js';
import { labArgs, readReport, vipush } from './vipush-cli.js';

const IGNORE = 'net.ipv4.conf.all.arp_ignore';
const ANNOUNCE = 'net.ipv4.conf.all.arp_announce';
const ORIGINAL_CONF = readFileSync('/etc/sysctl.conf');
const SYSCTL_TASK = `    - name: ARP sysctls
      sysctl: { set: { ${IGNORE}: 1, ${ANNOUNCE}: 2 } }
`;
const VIP_TASK = `    - name: VIP
      address: { address: "{{ vip }}/32", dev: lo, scope: host, label: "lo:1", persist: auto }
`;

describe('a VIP is persisted only when the boot files hide it (issue 16, item 4; a real host)', () => {
  let lab: Lab;
  const persisted = () => join(lab.etcUpper('h1'), 'network', 'interfaces.d', 'vipush-lo-1');
  const playbook = (name: string, tasks: string) => {
    const path = join(lab.dir, `${name}.yml`);
    writeFileSync(path, `- name: ${name}\n  hosts: realservers\n  tasks:\n${tasks}`);
    return path;
  };

  beforeAll(async () => {
    await ensureLabPackages();
    lab = await createLab({ hosts: 1 });
    await lab.setupDirector();
  });
  afterAll(async () => {
    await lab?.teardown();
  });

  it('ARP hidden by hand, live only: persist: auto is refused in one line and nothing is touched', async () => {
    await lab.hostExec('h1', ['sysctl', '-q', '-w', `${IGNORE}=1`, `${ANNOUNCE}=2`]);
    const report = join(lab.dir, 'refused.json');
    const r = await vipush(['run', playbook('vip-only', VIP_TASK), ...labArgs(lab), '--report', report]);
    expect(r.code, r.stdout + r.stderr).toBe(1);
    const line = r.stdout.split('\n').find((l) => l.includes('refusing to persist'));
    expect(line).toMatch(
      new RegExp(
        `refusing to persist ${lab.vip.replace(/\./g, '\\.')}/32 on lo: after a reboot arp_ignore would be 0 \\(max of conf/all and conf/eth0 in the boot files: .*/etc/sysctl.conf set none\\), so eth0 would answer ARP for it\\. Persist the ARP sysctls in a sysctl task before this one .*, or use persist: none$`,
      ),
    );
    expect((await readReport(report)).hosts.h1.status).toBe('failed');
    expect(existsSync(persisted())).toBe(false);
    expect((await lab.addresses('h1')).filter((a) => a.local === lab.vip)).toEqual([]);
  });

  it('with the sysctl task first: persisted, and after a reboot only the director answers ARP', async () => {
    const r = await vipush(['run', playbook('full', SYSCTL_TASK + VIP_TASK), ...labArgs(lab)]);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(existsSync(persisted())).toBe(true);
    const boot = await lab.reboot('h1');
    expect(await lab.sysctl('h1', IGNORE)).toBe('1');
    expect(
      (await lab.addresses('h1')).filter((a) => a.local === lab.vip).map((a) => a.scope),
      boot,
    ).toEqual(['host']);
    expect(await lab.arpOwners()).toEqual([lab.director.mac]);
  });

  it('boot files that no longer hide the persisted VIP are drift: unfixable without the sysctl task, fixed with it', async () => {
    // someone restores the distribution's sysctl.conf; the live values stay 1/2 until the next boot
    await lab.hostExec('h1', ['sh', '-c', 'cat > /etc/sysctl.conf'], { input: ORIGINAL_CONF });
    const vipOnly = join(lab.dir, 'vip-only.yml');
    const report = join(lab.dir, 'drift.json');
    const found = await vipush(['drift', vipOnly, ...labArgs(lab), '--report', report]);
    expect(found.code, found.stdout + found.stderr).toBe(2);
    const drift = (await readReport(report)).hosts.h1.drift;
    expect(drift).toEqual([
      expect.objectContaining({
        item: `boot ARP for ${lab.vip}/32`,
        expected: 'hidden after a reboot',
        actual: expect.stringMatching(/arp_ignore would be 0/),
      }),
    ]);
    const notFixed = await vipush(['drift', vipOnly, ...labArgs(lab), '--fix']);
    expect(notFixed.code, notFixed.stdout).toBe(2);
    expect(readFileSync(join(lab.etcUpper('h1'), 'sysctl.conf')).equals(ORIGINAL_CONF)).toBe(true);

    const full = join(lab.dir, 'full.yml');
    const fixed = await vipush(['drift', full, ...labArgs(lab), '--fix']);
    expect(fixed.code, fixed.stdout + fixed.stderr).toBe(0);
    const again = await vipush(['drift', vipOnly, ...labArgs(lab)]);
    expect(again.code, again.stdout).toBe(0);
    await lab.reboot('h1');
    expect(await lab.arpOwners()).toEqual([lab.director.mac]);
  });
});
