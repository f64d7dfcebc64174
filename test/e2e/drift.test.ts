import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createLab, ensureLabPackages, type Lab } from '../lab/lab.js';
import { labArgs, readReport, spawnVipush, vipush } from './vipush-cli.js';

const PLAYBOOK = 'playbooks/hidden-arp.yml';
const IGNORE = 'net.ipv4.conf.all.arp_ignore';

interface Breakage {
  name: string;
  host: string;
  /** commands run in the host's namespaces (with its /etc) */
  breakIt(lab: Lab): Promise<void>;
  /** substrings of the drift items expected on that host, and nothing else */
  items: string[];
}

const breakages: Breakage[] = [
  {
    name: 'the VIP was deleted',
    host: 'h1',
    breakIt: async (lab) => void (await lab.hostExec('h1', ['ip', 'addr', 'del', `${lab.vip}/32`, 'dev', 'lo'])),
    items: [`address ${'VIP'}/32 on lo`],
  },
  {
    name: 'a package reset a sysctl',
    host: 'h2',
    breakIt: async (lab) => void (await lab.hostExec('h2', ['sysctl', '-q', '-w', `${IGNORE}=0`])),
    items: [`live ${IGNORE}`],
  },
  {
    name: 'a later sysctl.d file overrides ours at boot',
    host: 'h3',
    breakIt: async (lab) => void (await lab.hostExec('h3', ['sh', '-c', `printf '${IGNORE} = 0\\n' > /etc/sysctl.d/99-zz-reset.conf`])),
    items: [`boot value of ${IGNORE}`],
  },
  {
    name: 'the VIP came back with scope global (it answers ARP while arp_ignore is 3)',
    host: 'h1',
    breakIt: async (lab) => {
      await lab.hostExec('h1', ['ip', 'addr', 'del', `${lab.vip}/32`, 'dev', 'lo']);
      await lab.hostExec('h1', ['ip', 'addr', 'add', `${lab.vip}/32`, 'dev', 'lo']);
    },
    items: [`address VIP/32 on lo`, `address VIP/32 on lo`],
  },
  {
    name: 'the persisted file was removed',
    host: 'h2',
    breakIt: async (lab) => void (await lab.hostExec('h2', ['rm', '-f', '/etc/network/interfaces.d/vipush-lo-1'])),
    items: ['file /etc/network/interfaces.d/vipush-lo-1'],
  },
];

describe('drift detection and drift --fix (3 real servers)', () => {
  let lab: Lab;
  let persisted = '';

  beforeAll(async () => {
    await ensureLabPackages();
    lab = await createLab({ hosts: 3 });
    await lab.setupDirector();
    const r = await vipush(['run', PLAYBOOK, ...labArgs(lab)]);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    persisted = readdirSync(join(lab.etcUpper('h2'), 'network', 'interfaces.d')).join(',');
  });
  afterAll(async () => {
    await lab?.teardown();
  });

  it('is in sync after the run: exit 0, empty drift lists', async () => {
    expect(persisted).toBe('vipush-lo-1');
    const report = join(lab.dir, 'sync.json');
    const r = await vipush(['drift', PLAYBOOK, ...labArgs(lab), '--report', report]);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const rep = await readReport(report);
    for (const h of lab.hosts) expect(rep.hosts[h.name].drift).toEqual([]);
  });

  for (const b of breakages) {
    it(`finds and fixes: ${b.name}`, async () => {
      await b.breakIt(lab);
      const report = join(lab.dir, 'drift.json');
      const found = await vipush(['drift', PLAYBOOK, ...labArgs(lab), '--report', report]);
      expect(found.code, found.stdout + found.stderr).toBe(2);
      const rep = await readReport(report);
      const drifted = Object.entries(rep.hosts)
        .filter(([, h]) => h.drift.length > 0)
        .map(([n]) => n);
      expect(drifted).toEqual([b.host]);
      const items = rep.hosts[b.host].drift.map((d) => d.item.replace(lab.vip, 'VIP'));
      expect(items.length).toBe(b.items.length);
      for (const want of b.items) expect(items.some((i) => i.includes(want.replace('VIP', 'VIP')))).toBe(true);
      expect(found.stdout).toContain(`drift ${b.host}:`);

      const fixReport = join(lab.dir, 'fix.json');
      const fixed = await vipush(['drift', PLAYBOOK, ...labArgs(lab), '--fix', '--report', fixReport]);
      expect(fixed.code, fixed.stdout + fixed.stderr).toBe(0);
      const fixRep = await readReport(fixReport);
      expect(fixRep.hosts[b.host].status).toBe('changed');
      for (const h of lab.hosts.filter((x) => x.name !== b.host)) expect(fixRep.hosts[h.name].status).toBe('ok');

      const again = await vipush(['drift', PLAYBOOK, ...labArgs(lab)]);
      expect(again.code, again.stdout).toBe(0);
      expect(await lab.arpOwners()).toEqual([lab.director.mac]);
    });
  }

  it('the boot override is fixed by a drop-in of our own, and survives a reboot', async () => {
    expect(existsSync(join(lab.etcUpper('h3'), 'sysctl.d', 'zz-vipush-overrides.conf'))).toBe(true);
    expect(existsSync(join(lab.etcUpper('h3'), 'sysctl.d', '99-zz-reset.conf'))).toBe(true);
    await lab.reboot('h3');
    expect(await lab.sysctl('h3', IGNORE)).toBe('3');
    expect((await lab.addresses('h3')).filter((a) => a.local === lab.vip).map((a) => a.scope)).toEqual(['host']);
    const r = await vipush(['drift', PLAYBOOK, ...labArgs(lab), '--limit', 'h3']);
    expect(r.code, r.stdout).toBe(0);
  });

  it('--log-format json writes one JSON event per line', async () => {
    await lab.hostExec('h2', ['sysctl', '-q', '-w', `${IGNORE}=1`]);
    const r = await vipush(['drift', PLAYBOOK, ...labArgs(lab), '--log-format', 'json']);
    expect(r.code).toBe(2);
    const events = r.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { event: string; host?: string; drift?: unknown[] });
    expect(
      events
        .filter((e) => e.event === 'host_done')
        .map((e) => e.host)
        .sort(),
    ).toEqual(['h1', 'h2', 'h3']);
    expect(events.find((e) => e.event === 'host_done' && e.host === 'h2')?.drift).toHaveLength(1);
    expect(events.at(-1)?.event).toBe('run_done');
    await vipush(['drift', PLAYBOOK, ...labArgs(lab), '--fix', '--quiet']);
  });

  it('--history keeps the newest N reports', async () => {
    const dir = join(lab.dir, 'history');
    for (let i = 0; i < 3; i++) expect((await vipush(['drift', PLAYBOOK, ...labArgs(lab), '--quiet', '--history', dir, '--history-keep', '2'])).code).toBe(0);
    expect(readdirSync(dir).filter((n) => n.endsWith('.json'))).toHaveLength(2);
  });

  it('a second run with the same playbook and inventory exits 4 while the first holds the lock', async () => {
    const slow = join(lab.dir, 'slow.yml');
    writeFileSync(slow, `- name: slow\n  hosts: h1\n  tasks:\n    - name: wait\n      command: [sleep, "3"]\n`);
    const first = spawnVipush(['run', slow, ...labArgs(lab), '--quiet']);
    const firstDone = new Promise<number | null>((r) => first.on('close', r));
    await new Promise((r) => setTimeout(r, 1000));
    const second = await vipush(['run', slow, ...labArgs(lab)]);
    expect(second.code).toBe(4);
    expect(second.stderr).toMatch(/another vipush run \(pid \d+\) is using/);
    expect(await firstDone).toBe(0);
    expect((await vipush(['run', slow, ...labArgs(lab), '--quiet'])).code).toBe(0);
  });
});
