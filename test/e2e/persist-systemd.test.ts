/**
 * persist: systemd pushed to real sshd hosts of the namespace lab. Their PID 1
 * is not systemd, so the lab's reboot (sysctl --system, ifup -a) does not
 * start the unit: the test runs the unit's ExecStart= by hand after it, as
 * systemd would at boot. The real boot with systemd is the nspawn tier's.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execStartArgv } from '../fixtures/persist/unit-file.js';
import { createLab, ensureLabPackages, type Lab } from '../lab/lab.js';
import { labArgs, readReport, vipush } from './vipush-cli.js';

const UNIT = 'systemd/system/vipush-addresses-lo.service';
const DROPIN = 'systemd/system/multi-user.target.d/vipush-addresses-lo.conf';

function playbook(lab: Lab, name: string, address: string, extraTasks = ''): string {
  const path = join(lab.dir, `${name}.yml`);
  writeFileSync(
    path,
    `- name: ${name}
  hosts: realservers
  tasks:
    - name: ARP sysctls, live and at boot
      sysctl:
        file: /etc/sysctl.d/60-vipush-hidden-arp.conf
        set:
          net.ipv4.conf.all.arp_ignore: 1
          net.ipv4.conf.all.arp_announce: 2
    - name: the VIP
      address: { address: "{{ vip }}/32", dev: lo, label: "lo:1", persist: systemd${address} }
${extraTasks}`,
  );
  return path;
}

describe('persist: systemd on lab hosts', () => {
  let lab: Lab;

  beforeAll(async () => {
    await ensureLabPackages();
    lab = await createLab({
      hosts: 3,
      // h3 poses as a NetworkManager host without systemd: nothing there keeps the VIP as declared
      hostOptions: {
        h3: {
          seedEtc: {
            'network/interfaces': null,
            'NetworkManager/system-connections/eth0.nmconnection': '[connection]\nid=eth0\ntype=ethernet\ninterface-name=eth0\n',
          },
        },
      },
    });
    await lab.setupDirector(['h1', 'h2']);
  });
  afterAll(async () => {
    await lab?.teardown();
  });

  const upper = (host: string, rel: string) => join(lab.etcUpper(host), rel);

  it('--check --diff shows the unit, its drop-in and the directory it creates, and changes nothing', async () => {
    const r = await vipush(['run', playbook(lab, 'present', ''), ...labArgs(lab), '--limit', 'h1', '--check', '--diff']);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toContain('+++ /etc/systemd/system/vipush-addresses-lo.service');
    expect(r.stdout).toContain('+++ /etc/systemd/system/multi-user.target.d/vipush-addresses-lo.conf');
    expect(r.stdout).toContain('run: mkdir -p -- /etc/systemd/system/multi-user.target.d');
    expect(existsSync(upper('h1', UNIT))).toBe(false);
  });

  it('writes the unit and the drop-in, says PID 1 is not systemd here, and a second run changes nothing', async () => {
    const report = join(lab.dir, 'present.json');
    const r = await vipush(['run', playbook(lab, 'present', ''), ...labArgs(lab), '--limit', 'h1:h2', '--report', report]);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toContain('PID 1 is not systemd here');
    for (const h of ['h1', 'h2']) {
      const unit = readFileSync(upper(h, UNIT), 'utf8');
      expect(execStartArgv(unit).slice(3)).toEqual(['vipush-addresses-lo', 'lo', `${lab.vip}/32`, 'host', 'lo:1']);
      expect(readFileSync(upper(h, DROPIN), 'utf8')).toContain('Wants=vipush-addresses-lo.service');
    }
    const again = join(lab.dir, 'again.json');
    const r2 = await vipush(['run', playbook(lab, 'present', ''), ...labArgs(lab), '--limit', 'h1:h2', '--report', again]);
    expect(r2.code, r2.stdout + r2.stderr).toBe(0);
    const rep = await readReport(again);
    expect(Object.values(rep.hosts).map((h) => h.status)).toEqual(['ok', 'ok']);
  });

  it('after a reboot, the unit’s command brings the VIP back as declared; drift is 0 and only the director answers ARP', async () => {
    await lab.reboot('h1');
    // ifupdown holds no VIP: without the unit, the VIP is gone
    expect((await lab.addresses('h1')).filter((a) => a.local === lab.vip)).toEqual([]);
    const argv = execStartArgv(readFileSync(upper('h1', UNIT), 'utf8'));
    const boot = await lab.hostExec('h1', argv);
    expect(boot.code, boot.stderr).toBe(0);
    expect(boot.stdout).toBe(`added ${lab.vip}/32 to lo\n`);
    expect((await lab.addresses('h1')).filter((a) => a.local === lab.vip)).toEqual([expect.objectContaining({ prefixlen: 32, scope: 'host', label: 'lo:1' })]);
    expect(await lab.arpOwners()).toEqual([lab.director.mac]);
    const drift = await vipush(['drift', playbook(lab, 'present', ''), ...labArgs(lab), '--limit', 'h1']);
    expect(drift.code, drift.stdout).toBe(0);
  });

  it('drift sees a deleted drop-in, and --fix writes it back', async () => {
    await lab.hostExec('h2', ['rm', '-f', `/etc/${DROPIN}`]);
    const drift = await vipush(['drift', playbook(lab, 'present', ''), ...labArgs(lab), '--limit', 'h2']);
    expect(drift.code, drift.stdout).toBe(2);
    expect(drift.stdout).toContain('multi-user.target.d/vipush-addresses-lo.conf');
    const fix = await vipush(['drift', playbook(lab, 'present', ''), ...labArgs(lab), '--limit', 'h2', '--fix']);
    expect(fix.code, fix.stdout + fix.stderr).toBe(0);
    expect(readFileSync(upper('h2', DROPIN), 'utf8')).toContain('Wants=vipush-addresses-lo.service');
  });

  it('a failure later in the play rolls the unit, the drop-in and the VIP back', async () => {
    const pb = playbook(lab, 'absent', ', state: absent');
    const off = await vipush(['run', pb, ...labArgs(lab), '--limit', 'h2']);
    expect(off.code, off.stdout + off.stderr).toBe(0);
    expect(existsSync(upper('h2', UNIT))).toBe(false);
    expect(existsSync(upper('h2', DROPIN))).toBe(false);

    const failing = playbook(lab, 'failing', '', '    - name: fail\n      command: { shell: "false" }\n');
    const report = join(lab.dir, 'failing.json');
    const r = await vipush(['run', failing, ...labArgs(lab), '--limit', 'h2', '--report', report]);
    expect(r.code, r.stdout + r.stderr).toBe(1);
    const rep = await readReport(report);
    expect(rep.hosts.h2.rolledBack).toBe(true);
    expect(existsSync(upper('h2', UNIT))).toBe(false);
    expect(existsSync(upper('h2', DROPIN))).toBe(false);
    expect((await lab.addresses('h2')).filter((a) => a.local === lab.vip)).toEqual([]);
  });

  it('moving a VIP from ifupdown to the unit takes it out of the ifupdown file vipush wrote', async () => {
    const ifupdown = join(lab.dir, 'ifupdown.yml');
    writeFileSync(ifupdown, readFileSync(playbook(lab, 'moved', ''), 'utf8').replace('persist: systemd', 'persist: ifupdown'));
    const first = await vipush(['run', ifupdown, ...labArgs(lab), '--limit', 'h2']);
    expect(first.code, first.stdout + first.stderr).toBe(0);
    expect(existsSync(upper('h2', 'network/interfaces.d/vipush-lo-1'))).toBe(true);
    const moved = await vipush(['run', playbook(lab, 'moved', ''), ...labArgs(lab), '--limit', 'h2']);
    expect(moved.code, moved.stdout + moved.stderr).toBe(0);
    expect(moved.stdout).toContain("taken out of /etc/network/interfaces.d/vipush-lo-1, vipush's files of another stack");
    expect(existsSync(upper('h2', 'network/interfaces.d/vipush-lo-1'))).toBe(false);
    expect(existsSync(upper('h2', UNIT))).toBe(true);
    const drift = await vipush(['drift', playbook(lab, 'moved', ''), ...labArgs(lab), '--limit', 'h2']);
    expect(drift.code, drift.stdout).toBe(0);
  });

  it('persist: auto on a NetworkManager host without systemd is refused at plan time, in one line, and the host is untouched', async () => {
    const auto = join(lab.dir, 'auto.yml');
    writeFileSync(auto, readFileSync(playbook(lab, 'auto', ''), 'utf8').replace('persist: systemd', 'persist: auto'));
    const report = join(lab.dir, 'auto.json');
    const r = await vipush(['run', auto, ...labArgs(lab), '--limit', 'h3', '--report', report]);
    expect(r.code, r.stdout + r.stderr).toBe(1);
    const rep = await readReport(report);
    expect(rep.hosts.h3.status).toBe('failed');
    expect(rep.hosts.h3.error).toMatch(
      /^task "the VIP": cannot persist 198\.18\.\d+\.250\/32: NetworkManager \S+ is installed and nothing else manages the network, but NetworkManager would bring the VIP back with scope global and without its label, and PID 1 is not systemd, so no vipush unit can add it at boot as declared: it would drift after every reboot\. /,
    );
    expect(rep.hosts.h3.error).not.toContain('\n');
    expect(existsSync(upper('h3', 'sysctl.d/60-vipush-hidden-arp.conf'))).toBe(false);
    expect(existsSync(upper('h3', UNIT))).toBe(false);
    expect((await lab.addresses('h3')).filter((a) => a.local === lab.vip)).toEqual([]);
  });
});
