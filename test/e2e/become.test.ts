import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createLab, ensureLabPackages, type Lab, type LabHost } from '../lab/lab.js';
import { readReport, vipush } from './vipush-cli.js';

const USER = 'vpdeploy';
const UID = 4242;
const ARP_IGNORE = 'net.ipv4.conf.all.arp_ignore';

/**
 * Most fleets do not let root log in: vipush connects as a deploy user and runs its scripts through
 * `sudo -n`, as Ansible's `become` does. Here the user exists only in the hosts' own /etc (written
 * straight into their overlays: useradd would also write the machine's /var/log/lastlog).
 */
describe('become: a deploy user and sudo (real sshd, real sudo)', () => {
  let lab: Lab;

  async function addUser(h: LabHost, sudoers: string): Promise<void> {
    const pubkey = readFileSync(lab.publicKeyFile, 'utf8').trim();
    const script = [
      `echo '${USER}:x:${UID}:${UID}::/run/${USER}:/bin/sh' >> /etc/passwd`,
      // '*': no password, and not locked ('!'), which sshd refuses without PAM
      `echo '${USER}:*:19000:0:99999:7:::' >> /etc/shadow`,
      `echo '${USER}:x:${UID}:' >> /etc/group`,
      `mkdir -m 0755 /run/${USER} /run/${USER}/.ssh && printf '%s\\n' '${pubkey}' > /run/${USER}/.ssh/authorized_keys && chown -R ${UID}:${UID} /run/${USER}`,
      `printf '%s\\n' '${sudoers}' > /etc/sudoers.d/${USER} && chmod 0440 /etc/sudoers.d/${USER}`,
      // sudo looks its host name up
      `echo "127.0.1.1 $(hostname)" >> /etc/hosts`,
    ].join(' && ');
    const r = await lab.hostExec(h, ['sh', '-c', script]);
    expect(r.code, r.stderr).toBe(0);
  }

  function inventory(name: string, hosts: readonly LabHost[]): string {
    const file = join(lab.dir, name);
    writeFileSync(
      file,
      [
        'all:',
        '  vars:',
        `    ansible_user: ${USER}`,
        '    ansible_become: true',
        `    ansible_ssh_private_key_file: ${lab.privateKeyFile}`,
        '  children:',
        '    realservers:',
        '      hosts:',
        ...hosts.map((h) => `        ${h.name}: { ansible_host: ${h.ip} }`),
        '',
      ].join('\n'),
    );
    return file;
  }

  const args = (inv: string) => ['-i', inv, '--known-hosts', lab.knownHostsFile, '-e', `vip=${lab.vip}`];

  beforeAll(async () => {
    await ensureLabPackages();
    lab = await createLab({ hosts: 2, director: false, client: false });
    await addUser(lab.hosts[0], `${USER} ALL=(root) NOPASSWD: ALL`);
    await addUser(lab.hosts[1], `${USER} ALL=(root) ALL`); // sudo would ask for a password
  });
  afterAll(async () => {
    await lab?.teardown();
  });

  it('the deploy user is not root on the host (the test would prove nothing otherwise)', async () => {
    const r = await vipush([
      'run',
      'playbooks/hidden-arp.yml',
      ...args(inventory('no-become.yml', [lab.hosts[0]])),
      '-e',
      'ansible_become=false',
      '--report',
      join(lab.dir, 'nb.json'),
    ]);
    expect(r.code).toBe(1);
    const rep = await readReport(join(lab.dir, 'nb.json'));
    expect(rep.hosts.h1.status).toBe('failed');
    expect(rep.hosts.h1.error).toBe(`vipush needs root on this host, and /etc is not writable for ${USER}: set ansible_become: true (sudo) or connect as root`);
    expect(await lab.sysctl(lab.hosts[0], ARP_IGNORE)).toBe('0');
  });

  it('applies the hidden-ARP playbook as root through sudo: files owned by root, VIP hidden', async () => {
    const report = join(lab.dir, 'become.json');
    const r = await vipush(['run', 'playbooks/hidden-arp.yml', ...args(inventory('h1.yml', [lab.hosts[0]])), '--report', report]);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect((await readReport(report)).hosts.h1.status).toBe('changed');
    const h1 = lab.hosts[0];
    expect(await lab.sysctl(h1, ARP_IGNORE)).toBe('3');
    expect((await lab.addresses(h1)).filter((a) => a.local === lab.vip)).toEqual([expect.objectContaining({ scope: 'host', label: 'lo:1' })]);
    const conf = statSync(join(lab.etcUpper(h1), 'sysctl.conf'));
    expect([conf.uid, conf.gid, conf.mode & 0o7777]).toEqual([0, 0, 0o644]);
    const persisted = statSync(join(lab.etcUpper(h1), 'network/interfaces.d/vipush-lo-1'));
    expect(persisted.uid).toBe(0);
  });

  it('a second run and drift through sudo find nothing to do', async () => {
    const inv = inventory('h1.yml', [lab.hosts[0]]);
    const again = join(lab.dir, 'again.json');
    const r = await vipush(['run', 'playbooks/hidden-arp.yml', ...args(inv), '--report', again]);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect((await readReport(again)).hosts.h1.status).toBe('ok');
    const d = await vipush(['drift', 'playbooks/hidden-arp.yml', ...args(inv)]);
    expect(d.code, d.stdout + d.stderr).toBe(0);
  });

  it('a sudo that wants a password fails the host with a line that says so, and changes nothing', async () => {
    const report = join(lab.dir, 'password.json');
    const r = await vipush(['run', 'playbooks/hidden-arp.yml', ...args(inventory('h2.yml', [lab.hosts[1]])), '--report', report]);
    expect(r.code).toBe(1);
    const h2 = (await readReport(report)).hosts.h2;
    expect(['failed', 'unreachable']).toContain(h2.status);
    expect(h2.error).toMatch(/sudo/);
    expect(h2.error).toMatch(/password/);
    expect(r.stderr + r.stdout).not.toMatch(/\n\s+at /); // no stack trace
    expect(await lab.sysctl(lab.hosts[1], ARP_IGNORE)).toBe('0');
  });
});
