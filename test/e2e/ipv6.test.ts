import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createLab, ensureLabPackages, type Lab, type LabHost } from '../lab/lab.js';
import { labArgs, readReport, vipush } from './vipush-cli.js';

// Documentation prefix, inside the lab's namespaces only.
const VIP6 = '2001:db8:5::10';
const ON_ETH0 = '2001:db8:5::99';

function playbook(lab: Lab, name: string, state: 'present' | 'absent'): string {
  const file = join(lab.dir, name);
  writeFileSync(
    file,
    `- name: IPv6 VIP\n  hosts: realservers\n  tasks:\n    - name: VIP ${VIP6} on loopback\n      address: { address: "${VIP6}/128", dev: lo, state: ${state} }\n`,
  );
  return file;
}

describe('an IPv6 VIP on lo (real sshd, real neighbour discovery)', () => {
  let lab: Lab;

  beforeAll(async () => {
    await ensureLabPackages();
    lab = await createLab({ hosts: 2, director: false });
  });
  afterAll(async () => {
    await lab?.teardown();
  });

  /** The MAC the client learns for `ip` by neighbour discovery on eth0, or undefined when nobody answered. */
  async function neighbourOf(ip: string): Promise<string | undefined> {
    const c = lab.client;
    await lab.nsExec(c, ['ip', '-6', 'neigh', 'flush', 'dev', 'eth0']);
    await lab.nsExec(c, ['ip', '-6', 'route', 'replace', `${ip}/128`, 'dev', 'eth0']);
    // any packet to it makes the kernel solicit its neighbour; curl's answer does not matter
    await lab.nsExec(c, ['curl', '-sg', '--max-time', '3', `http://[${ip}]:80/`]);
    const r = await lab.nsExec(c, ['ip', '-6', 'neigh', 'show', ip, 'dev', 'eth0']);
    return /lladdr ([0-9a-f:]+)/.exec(r.stdout)?.[1];
  }

  async function vips(h: LabHost) {
    return (await lab.addresses(h)).filter((a) => a.local === VIP6);
  }

  it('the lab does neighbour discovery: an address on eth0 is answered for', async () => {
    const h1 = lab.hosts[0];
    await lab.nsExec(h1, ['ip', '-6', 'addr', 'add', `${ON_ETH0}/64`, 'dev', 'eth0', 'nodad']);
    try {
      expect(await neighbourOf(ON_ETH0)).toBe(h1.mac);
    } finally {
      await lab.nsExec(h1, ['ip', '-6', 'addr', 'del', `${ON_ETH0}/64`, 'dev', 'eth0']);
    }
  });

  it('goes on lo with the scope the kernel gives it, and nobody answers neighbour discovery for it', async () => {
    const report = join(lab.dir, 'v6.json');
    const r = await vipush(['run', playbook(lab, 'v6.yml', 'present'), ...labArgs(lab), '--report', report]);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const rep = await readReport(report);
    for (const h of lab.hosts) {
      expect(rep.hosts[h.name].status).toBe('changed');
      expect(await vips(h)).toEqual([expect.objectContaining({ prefixlen: 128, scope: 'global' })]);
    }
    expect(await neighbourOf(VIP6)).toBeUndefined();
  });

  it('a second run and drift find nothing to do', async () => {
    const again = join(lab.dir, 'again.json');
    const r = await vipush(['run', playbook(lab, 'v6.yml', 'present'), ...labArgs(lab), '--report', again]);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    for (const h of lab.hosts) expect((await readReport(again)).hosts[h.name].status).toBe('ok');
    const d = await vipush(['drift', playbook(lab, 'v6.yml', 'present'), ...labArgs(lab)]);
    expect(d.code, d.stdout + d.stderr).toBe(0);
  });

  it('a scope the kernel would not give it is refused before any host is contacted', async () => {
    const file = join(lab.dir, 'v6-host.yml');
    writeFileSync(file, `- hosts: realservers\n  tasks:\n    - name: v6\n      address: { address: "${VIP6}/128", dev: lo, scope: host }\n`);
    const r = await vipush(['run', file, ...labArgs(lab)]);
    expect(r.code).toBe(3);
    expect(r.stderr).toBe(
      `vipush: ${file}:4:65: IPv6 addresses take their scope from the address: the kernel gives ${VIP6}/128 scope global whatever \`ip\` asks; remove \`scope\`\n`,
    );
  });

  it('state: absent takes it off again', async () => {
    const r = await vipush(['run', playbook(lab, 'v6-absent.yml', 'absent'), ...labArgs(lab)]);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    for (const h of lab.hosts) expect(await vips(h)).toEqual([]);
  });
});
