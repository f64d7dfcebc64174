/**
 * The systemd tier of the lab (issue 19): real Debian 12 hosts with systemd as PID 1 in
 * systemd-nspawn containers, each test ending in a real reboot (`systemctl reboot`, nspawn exits
 * 133, the host boots again from its overlay). A machine that cannot build or boot them fails these
 * tests; they never skip.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { JsonReport } from '../../src/report/json.js';
import { createBootLab, type BootLab, type NetworkStack } from '../lab/nspawn/boot-lab.js';
import { readReport, repoRoot, vipush } from './vipush-cli.js';

const STACKS: [string, NetworkStack][] = [
  ['h1', 'ifupdown'],
  ['h2', 'networkd'],
  ['h3', 'netplan'],
  ['h4', 'networkmanager'],
];
/** the dead-man switch's host */
const DM = 'h5';
const IGNORE = 'net.ipv4.conf.all.arp_ignore';
const ANNOUNCE = 'net.ipv4.conf.all.arp_announce';

let lab: BootLab;
const args = () => ['-i', lab.inventoryFile, '--known-hosts', lab.knownHostsFile, '-e', `vip=${lab.vip}`];

beforeAll(async () => {
  lab = await createBootLab({ hosts: [...STACKS.map(([name, stack]) => ({ name, stack })), { name: DM, stack: 'ifupdown' }] });
}, 900_000);
afterAll(async () => {
  await lab?.teardown();
}, 120_000);

describe('hidden ARP with persist: auto survives a real reboot on ifupdown, networkd, netplan and NetworkManager', () => {
  let report: JsonReport;
  let runOutput = '';
  const bootIds = new Map<string, string>();

  beforeAll(async () => {
    const file = join(lab.dir, 'hidden-arp.json');
    const limit = STACKS.map(([h]) => h).join(':');
    const r = await vipush(['run', join(repoRoot, 'playbooks', 'hidden-arp.yml'), ...args(), '--limit', limit, '--report', file], { timeoutMs: 300_000 });
    runOutput = r.stdout + r.stderr;
    report = await readReport(file);
    await Promise.all(
      STACKS.map(async ([h]) => {
        const before = lab.bootId(h);
        bootIds.set(h, await lab.reboot(h));
        expect(bootIds.get(h)).not.toBe(before);
      }),
    );
  }, 600_000);

  it.each(STACKS)(
    '%s (%s): applied, and after the boot the VIP (scope host, label lo:1) and the sysctls are as declared, drift 0, no ARP answer',
    async (h) => {
      expect(report.hosts[h]?.status, runOutput).toMatch(/^(changed|ok)$/);
      const vip = (await lab.addresses(h)).filter((a) => a.local === lab.vip);
      expect(vip, `${h} after the boot`).toEqual([expect.objectContaining({ family: 'inet', prefixlen: 32, scope: 'host', label: 'lo:1' })]);
      expect(await lab.sysctl(h, IGNORE)).toBe('3');
      expect(await lab.sysctl(h, ANNOUNCE)).toBe('2');
      const drift = await vipush(['drift', join(repoRoot, 'playbooks', 'hidden-arp.yml'), ...args(), '--limit', h], { timeoutMs: 120_000 });
      expect(drift.code, drift.stdout + drift.stderr).toBe(0);
      const host = lab.host(h);
      const owners = await lab.arpOwners();
      expect(owners).not.toContain(host.mac);
      expect(owners).toEqual([]);
    },
  );
});

describe("the dead-man switch's systemd-run branch reverts by itself when confirmation never comes", () => {
  it('a change that cuts SSH off is reverted by the transient unit, and the host boots clean', async () => {
    const cut = `nft add table inet vpcut && nft add chain inet vpcut input '{ type filter hook input priority 0; }' && nft add rule inet vpcut input tcp dport 22 drop`;
    const pb = join(lab.dir, 'deadman.yml');
    writeFileSync(
      pb,
      `- name: cut
  hosts: ${DM}
  confirm_timeout: 8
  tasks:
    - name: drop ssh
      command: { shell: "${cut}", undo: "nft delete table inet vpcut", confirm: true }
`,
    );
    const file = join(lab.dir, 'deadman.json');
    const r = await vipush(['run', pb, ...args(), '--report', file, '--connect-timeout', '3'], { timeoutMs: 120_000 });
    expect(r.code, r.stdout + r.stderr).toBe(1);
    const rep = await readReport(file);
    expect(rep.hosts[DM].status).toBe('failed');
    expect(rep.hosts[DM].deadman).toBe('left-to-revert');

    // SSH comes back once the host's own timer has run the revert
    let back = false;
    for (const deadline = Date.now() + 60_000; Date.now() < deadline; ) {
      const probe = await lab.ssh(DM, ['true'], { timeoutMs: 8_000 });
      if (probe.code === 0) {
        back = true;
        break;
      }
      await new Promise((res) => setTimeout(res, 1_000));
    }
    expect(back).toBe(true);
    expect(await lab.sshOk(DM, 'nft list tables')).not.toContain('vpcut');
    // it was the systemd-run branch: the timer was a transient unit, and that unit ran the revert
    const how = await lab.sshOk(DM, 'cat /var/lib/vipush/deadman/*.how 2>/dev/null; ls /var/lib/vipush/deadman');
    expect(how).toMatch(/\.run$/m);
    expect(how).toMatch(/\.log$/m);
    const journal = await lab.sshOk(DM, "journalctl --no-pager -o cat -u 'vipush-deadman-*'");
    expect(journal).toMatch(/Started vipush-deadman-[a-z0-9-]+\.service|vipush-deadman-[a-z0-9-]+\.service: Deactivated successfully/);

    const before = lab.bootId(DM);
    expect(await lab.reboot(DM)).not.toBe(before);
    expect(await lab.sshOk(DM, 'nft list tables')).not.toContain('vpcut');
  });
});
