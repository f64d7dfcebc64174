import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createLab, ensureLabPackages, type Lab } from '../lab/lab.js';
import { labArgs, readReport, vipush } from './vipush-cli.js';

const IGNORE = 'net.ipv4.conf.all.arp_ignore';
const ANNOUNCE = 'net.ipv4.conf.all.arp_announce';

describe('persistence across a reboot, and stack detection (real hosts)', () => {
  let lab: Lab;

  beforeAll(async () => {
    await ensureLabPackages();
    lab = await createLab({
      hosts: 4,
      hostOptions: {
        // h3 poses as an Ubuntu netplan host, h4 as a Debian whose interfaces file does not source interfaces.d
        h3: {
          seedEtc: {
            'netplan/01-netcfg.yaml': 'network:\n  version: 2\n  renderer: networkd\n  ethernets:\n    eth0:\n      dhcp4: true\n',
            'network/interfaces': null,
          },
        },
        h4: { seedEtc: { 'network/interfaces': 'auto lo\niface lo inet loopback\n' } },
      },
    });
    await lab.setupDirector(['h1', 'h2']);
  });
  afterAll(async () => {
    await lab?.teardown();
  });

  it('ifupdown: the VIP, its scope and the sysctls come back after a reboot, and only the director answers ARP', async () => {
    const r = await vipush(['run', 'playbooks/hidden-arp.yml', ...labArgs(lab), '--limit', 'h1:h2']);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const file = readFileSync(join(lab.etcUpper('h1'), 'network', 'interfaces.d', 'vipush-lo-1'), 'utf8');
    expect(file).toContain('iface lo:1 inet static');
    expect(file).toContain('scope host');

    const boot = await lab.reboot('h1');
    expect(await lab.sysctl('h1', IGNORE)).toBe('3');
    expect(await lab.sysctl('h1', ANNOUNCE)).toBe('2');
    const vip = (await lab.addresses('h1')).filter((a) => a.local === lab.vip);
    expect(vip, boot).toEqual([expect.objectContaining({ prefixlen: 32, scope: 'host', label: 'lo:1' })]);
    expect(await lab.arpOwners()).toEqual([lab.director.mac]);
    const drift = await vipush(['drift', 'playbooks/hidden-arp.yml', ...labArgs(lab), '--limit', 'h1:h2']);
    expect(drift.code, drift.stdout).toBe(0);
  });

  it('a host booted without the persisted file loses the VIP: the reboot test can fail', async () => {
    await lab.hostExec('h2', ['rm', '-f', '/etc/network/interfaces.d/vipush-lo-1']);
    await lab.reboot('h2');
    expect((await lab.addresses('h2')).filter((a) => a.local === lab.vip)).toEqual([]);
    const fix = await vipush(['drift', 'playbooks/hidden-arp.yml', ...labArgs(lab), '--limit', 'h2', '--fix']);
    expect(fix.code, fix.stdout).toBe(0);
  });

  it('netplan keeps no scope host: auto refuses (drift after every reboot), persist: netplan with arp_ignore 3 too; untouched', async () => {
    const report = join(lab.dir, 'netplan.json');
    const r = await vipush(['run', 'playbooks/hidden-arp.yml', ...labArgs(lab), '--limit', 'h3', '--report', report]);
    expect(r.code).toBe(1);
    const rep = await readReport(report);
    expect(rep.hosts.h3.status).toBe('failed');
    expect(rep.hosts.h3.error).toMatch(/netplan would bring the VIP back with scope global/);
    expect(rep.hosts.h3.error).toMatch(/drift after every reboot/);

    const pb = join(lab.dir, 'netplan3.yml');
    writeFileSync(pb, readFileSync('playbooks/hidden-arp.yml', 'utf8').replace('persist: auto', 'persist: netplan'));
    const named = await vipush(['run', pb, ...labArgs(lab), '--limit', 'h3', '--report', report]);
    expect(named.code).toBe(1);
    const rep2 = await readReport(report);
    expect(rep2.hosts.h3.error).toMatch(/netplan/);
    expect(rep2.hosts.h3.error).toMatch(/arp_ignore: 1/);
    expect(existsSync(join(lab.etcUpper('h3'), 'sysctl.conf'))).toBe(false);
    expect(await lab.sysctl('h3', IGNORE)).toBe('0');
  });

  it('netplan named, with arp_ignore 1: vipush writes its own netplan file', async () => {
    const pb = join(lab.dir, 'arp1.yml');
    writeFileSync(pb, readFileSync('playbooks/hidden-arp.yml', 'utf8').replace('arp_ignore: 3', 'arp_ignore: 1').replace('persist: auto', 'persist: netplan'));
    const r = await vipush(['run', pb, ...labArgs(lab), '--limit', 'h3']);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const files = readdirSync(join(lab.etcUpper('h3'), 'netplan'));
    expect(files.some((f) => f.startsWith('60-vipush-'))).toBe(true);
    expect(files).toContain('01-netcfg.yaml');
  });

  it('ifupdown without `source /etc/network/interfaces.d/*` is refused with the line to add', async () => {
    const r = await vipush(['run', 'playbooks/hidden-arp.yml', ...labArgs(lab), '--limit', 'h4']);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('source /etc/network/interfaces.d/*');
    expect(readFileSync(join(lab.etcUpper('h4'), 'network', 'interfaces'), 'utf8')).toBe('auto lo\niface lo inet loopback\n');
  });
});
