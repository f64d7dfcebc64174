import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createLab, ensureLabPackages, type Lab } from '../lab/lab.js';
import { labArgs, readReport, spawnVipush, vipush } from './vipush-cli.js';

const IGNORE = 'net.ipv4.conf.all.arp_ignore';
const ORIGINAL_CONF = readFileSync('/etc/sysctl.conf', 'utf8');

async function waitFor(cond: () => Promise<boolean>, timeoutMs = 60_000): Promise<void> {
  const t0 = Date.now();
  while (!(await cond())) {
    if (Date.now() - t0 > timeoutMs) throw new Error('timed out waiting for the run to get there');
    await new Promise((res) => setTimeout(res, 50));
  }
}

describe('faults: unreachable hosts, dropped connections, full disks, signals, concurrent runs', () => {
  let lab: Lab;

  beforeAll(async () => {
    await ensureLabPackages();
    lab = await createLab({ hosts: 4, httpServers: false });
  });
  afterAll(async () => {
    await lab?.teardown();
  });

  function writePlaybook(name: string, body: string): string {
    const path = join(lab.dir, `${name}.yml`);
    writeFileSync(path, body);
    return path;
  }

  async function reset(): Promise<void> {
    for (const h of lab.hosts) {
      await lab.hostExec(h, [
        'sh',
        '-c',
        `ip addr del ${lab.vip}/32 dev lo 2>/dev/null; sysctl -q -w ${IGNORE}=0 net.ipv4.conf.all.arp_announce=0; rm -f /etc/network/interfaces.d/vipush-lo-1`,
      ]);
      await lab.hostExec(h, ['sh', '-c', 'cat > /etc/sysctl.conf'], { input: ORIGINAL_CONF });
    }
  }

  it('an unreachable host fails alone, within the connect timeout; the others finish', async () => {
    await reset();
    await lab.linkDown('h2');
    try {
      const report = join(lab.dir, 'unreach.json');
      const t0 = Date.now();
      const r = await vipush(['run', 'playbooks/hidden-arp.yml', ...labArgs(lab), '--connect-timeout', '3', '--report', report]);
      const elapsed = Date.now() - t0;
      expect(r.code).toBe(1);
      const rep = await readReport(report);
      expect(rep.hosts.h2.status).toBe('unreachable');
      expect(rep.hosts.h2.error).toMatch(/unreachable/);
      for (const h of ['h1', 'h3', 'h4']) expect(rep.hosts[h].status).toBe('changed');
      expect(rep.hosts.h2.durationMs).toBeLessThan(4_500);
      expect(elapsed).toBeLessThan(60_000);
    } finally {
      await lab.linkUp('h2');
    }
  });

  it('sshd killed mid-run: those hosts fail, the process survives, and a re-run repairs them', async () => {
    await reset();
    const pb = writePlaybook(
      'slow',
      readFileSync('playbooks/hidden-arp.yml', 'utf8') + '    - name: slow step\n      command: [sleep, "4"]\n      changed_when: false\n',
    );
    const report = join(lab.dir, 'killed.json');
    const child = spawnVipush(['run', pb, ...labArgs(lab), '--report', report, '--connect-timeout', '3', '--quiet']);
    const done = new Promise<number | null>((res) => child.on('close', res));
    // wait until h1 and h3 are inside the apply script's slow step, then cut their sshd and sessions
    for (const h of ['h1', 'h3']) {
      const t0 = Date.now();
      while ((await lab.hostExec(h, ['pgrep', '-f', '^sleep 4$'])).code !== 0) {
        expect(Date.now() - t0).toBeLessThan(60_000);
        await new Promise((res) => setTimeout(res, 100));
      }
    }
    try {
      await lab.killSshd('h1');
      await lab.killSshd('h3');
      const code = await Promise.race([done, new Promise<string>((res) => setTimeout(() => res('hang'), 60_000))]);
      expect(code).toBe(1);
      const rep = await readReport(report);
      expect(rep.hosts.h1.status).toBe('failed');
      expect(rep.hosts.h1.error).toMatch(/connection/i);
      expect(rep.hosts.h3.status).toBe('failed');
      expect(rep.hosts.h2.status).toBe('changed');
      expect(rep.hosts.h4.status).toBe('changed');
    } finally {
      await lab.startSshd('h1');
      await lab.startSshd('h3');
    }
    const again = await vipush(['run', 'playbooks/hidden-arp.yml', ...labArgs(lab)]);
    expect(again.code, again.stdout + again.stderr).toBe(0);
    const drift = await vipush(['drift', 'playbooks/hidden-arp.yml', ...labArgs(lab)]);
    expect(drift.code, drift.stdout).toBe(0);
  });

  it('a full disk under /etc: the write fails, sysctl.conf is intact, the host rolls back', async () => {
    await reset();
    // A tiny tmpfs as the upper dir of a second overlay over h1's /etc, filled to the brim.
    const setup = [
      'mkdir -p /run/vptiny && mount -t tmpfs -o size=64k tmpfs /run/vptiny',
      'mkdir /run/vptiny/u /run/vptiny/w',
      'mount -t overlay overlay -o lowerdir=/etc,upperdir=/run/vptiny/u,workdir=/run/vptiny/w /etc',
      'dd if=/dev/zero of=/run/vptiny/u/filler bs=4k 2>/dev/null; true',
    ].join(' && ');
    const s = await lab.hostExec('h1', ['sh', '-c', setup]);
    expect(s.code, s.stderr).toBe(0);
    try {
      const report = join(lab.dir, 'full.json');
      const r = await vipush(['run', 'playbooks/hidden-arp.yml', ...labArgs(lab), '--limit', 'h1', '--report', report]);
      expect(r.code).toBe(1);
      const rep = await readReport(report);
      expect(rep.hosts.h1.status).toBe('failed');
      expect(rep.hosts.h1.rolledBack).toBe(true);
      expect(rep.hosts.h1.error).toMatch(/sysctl\.conf/);
      const conf = await lab.hostExec('h1', ['cat', '/etc/sysctl.conf']);
      expect(conf.stdout).toBe(ORIGINAL_CONF);
      const leftovers = await lab.hostExec('h1', ['sh', '-c', 'ls -A /etc | grep -c "^\\.vipush\\." || true']);
      expect(leftovers.stdout.trim()).toBe('0');
      expect(await lab.sysctl('h1', IGNORE)).toBe('0');
      expect((await lab.addresses('h1')).filter((a) => a.local === lab.vip)).toEqual([]);
    } finally {
      await lab.hostExec('h1', ['sh', '-c', 'umount /etc; umount /run/vptiny; rmdir /run/vptiny']);
    }
  });

  it('SIGINT mid-run: no new hosts start, the one in flight finishes, the report is written, exit 130', async () => {
    await reset();
    const pb = writePlaybook(
      'serial',
      `- name: one at a time\n  hosts: realservers\n  serial: 1\n  tasks:\n    - name: ARP\n      sysctl: { set: { ${IGNORE}: 1 } }\n    - name: slow\n      command: [sleep, "2"]\n`,
    );
    const report = join(lab.dir, 'sigint.json');
    const child = spawnVipush(['run', pb, ...labArgs(lab), '--report', report, '--quiet'], 'pipe');
    let stderr = '';
    child.stderr?.on('data', (d: Buffer) => (stderr += d));
    const done = new Promise<number | null>((res) => child.on('close', res));
    // interrupt while h2 is in flight: h1 has finished (its sysctl is set) and h2 has started
    await waitFor(async () => (await lab.sysctl('h2', IGNORE)) === '1');
    child.kill('SIGINT');
    expect(await done).toBe(130);
    expect(stderr).toMatch(/no new hosts will start/);
    const rep = await readReport(report);
    const statuses = ['h1', 'h2', 'h3', 'h4'].map((h) => rep.hosts[h]?.status ?? 'missing');
    expect(statuses[0]).toBe('changed');
    expect(statuses.filter((s) => s === 'changed').length).toBeGreaterThanOrEqual(1);
    expect(statuses.filter((s) => s === 'changed').length).toBeLessThanOrEqual(2);
    expect(statuses.at(-1)).toBe('skipped');
    expect(rep.untouched).toContain('h4');
    expect(await lab.sysctl('h4', IGNORE)).toBe('0');
  });

  it('a second SIGINT exits at once, without waiting for the step running on the host', async () => {
    // The host's step lasts 30 s; the first SIGINT waits for it, the second must not. The bound
    // (15 s) is about that wait, not about speed: a loaded machine still exits well inside it.
    const pb = writePlaybook('long', `- name: long\n  hosts: h1\n  tasks:\n    - name: long step\n      command: [sleep, "30"]\n`);
    const child = spawnVipush(['run', pb, ...labArgs(lab), '--quiet']);
    const done = new Promise<number | null>((res) => child.on('close', res));
    await waitFor(async () => (await lab.hostExec('h1', ['pgrep', '-f', '^sleep 30$'])).code === 0);
    child.kill('SIGINT');
    await new Promise((res) => setTimeout(res, 200));
    const t0 = Date.now();
    child.kill('SIGINT');
    expect(await done).toBe(130);
    expect(Date.now() - t0).toBeLessThan(15_000);
    await lab.hostExec('h1', ['pkill', '-f', '^sleep 30$']);
  });

  it('two runs on one host at once: the host-side lock makes the second wait', async () => {
    await reset();
    const slow = writePlaybook('hold', `- name: hold\n  hosts: h1\n  tasks:\n    - name: hold the host\n      command: [sleep, "3"]\n`);
    const first = spawnVipush(['run', slow, ...labArgs(lab), '--quiet']);
    const firstDone = new Promise<number | null>((res) => first.on('close', res));
    await waitFor(async () => (await lab.hostExec('h1', ['pgrep', '-f', '^sleep 3$'])).code === 0);
    const t0 = Date.now();
    const second = await vipush(['run', 'playbooks/hidden-arp.yml', ...labArgs(lab), '--limit', 'h1']);
    expect(second.code, second.stdout + second.stderr).toBe(0);
    expect(Date.now() - t0).toBeGreaterThan(1_000);
    expect(await firstDone).toBe(0);
  });
});
