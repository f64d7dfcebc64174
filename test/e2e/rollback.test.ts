import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { createLab, ensureLabPackages, type Lab } from '../lab/lab.js';
import { labArgs, readReport, vipush } from './vipush-cli.js';

const IGNORE = 'net.ipv4.conf.all.arp_ignore';
const ANNOUNCE = 'net.ipv4.conf.all.arp_announce';
const ORIGINAL_CONF = readFileSync('/etc/sysctl.conf');

const TASKS = `  tasks:
    - name: ARP sysctls
      sysctl:
        set: { ${IGNORE}: 3, ${ANNOUNCE}: 2 }
    - name: VIP
      address: { address: "{{ vip }}/32", dev: lo, scope: host, label: "lo:1", persist: auto }
`;

/** The state a fresh lab host is in, read from the real kernel and the host's /etc overlay. */
async function expectPristine(lab: Lab, host: string): Promise<void> {
  expect((await lab.addresses(host)).filter((a) => a.local === lab.vip)).toEqual([]);
  expect(await lab.sysctl(host, IGNORE)).toBe('0');
  expect(await lab.sysctl(host, ANNOUNCE)).toBe('0');
  const upper = join(lab.etcUpper(host), 'sysctl.conf');
  // either untouched, or restored byte for byte
  if (existsSync(upper)) expect(readFileSync(upper).equals(ORIGINAL_CONF)).toBe(true);
  expect(existsSync(join(lab.etcUpper(host), 'network', 'interfaces.d', 'vipush-lo-1'))).toBe(false);
}

async function resetHosts(lab: Lab): Promise<void> {
  for (const h of lab.hosts) {
    await lab.hostExec(h, [
      'sh',
      '-c',
      `ip addr del ${lab.vip}/32 dev lo 2>/dev/null; sysctl -q -w ${IGNORE}=0 ${ANNOUNCE}=0; rm -f /etc/network/interfaces.d/vipush-lo-1`,
    ]);
    if (existsSync(join(lab.etcUpper(h), 'sysctl.conf'))) await lab.hostExec(h, ['sh', '-c', 'cat > /etc/sysctl.conf'], { input: ORIGINAL_CONF });
  }
}

describe('rollback, batches, health gates and the dead-man switch (real hosts)', () => {
  let lab: Lab;
  const env = () => ({ VIPUSH_STATE_DIR: join(lab.dir, 'state') });

  beforeAll(async () => {
    await ensureLabPackages();
    lab = await createLab({ hosts: 3 });
    await lab.setupDirector();
  });
  afterAll(async () => {
    await lab?.teardown();
  });
  beforeEach(async () => {
    await resetHosts(lab);
  });

  function playbook(name: string, head: string, extraTasks = ''): string {
    const path = join(lab.dir, `${name}.yml`);
    writeFileSync(path, `- name: ${name}\n  hosts: realservers\n${head}${TASKS}${extraTasks}`);
    return path;
  }

  it('a failure on one host rolls that host back exactly; the others finish', async () => {
    const pb = playbook('inject', '', `    - name: fail on h2 only\n      command: { shell: 'test "{{ inventory_hostname }}" != h2' }\n`);
    const report = join(lab.dir, 'inject.json');
    const r = await vipush(['run', pb, ...labArgs(lab), '--report', report], { env: env() });
    expect(r.code, r.stdout + r.stderr).toBe(1);
    const rep = await readReport(report);
    expect(rep.hosts.h2).toMatchObject({ status: 'failed', rolledBack: true });
    expect(rep.hosts.h2.restored.join('\n')).toMatch(/del .*lo:1[\s\S]*arp_ignore 3 -> 0/);
    expect(rep.hosts.h2.tasks.map((t) => t.status)).toEqual(['changed', 'changed', 'failed']);
    expect(rep.hosts.h1.status).toBe('changed');
    expect(rep.hosts.h3.status).toBe('changed');
    await expectPristine(lab, 'h2');
    expect(await lab.sysctl('h1', IGNORE)).toBe('3');
    expect(r.stdout).toContain('[ROLLED BACK] h2');
  });

  it('serial [1, "100%"]: a failure in the first batch stops the rollout; later hosts are untouched', async () => {
    const pb = playbook(
      'serial',
      '  serial: [1, "100%"]\n',
      `    - name: fail on h1 only\n      command: { shell: 'test "{{ inventory_hostname }}" != h1' }\n`,
    );
    const report = join(lab.dir, 'serial.json');
    const mtime = (h: string) => (existsSync(join(lab.etcUpper(h), 'sysctl.conf')) ? statSync(join(lab.etcUpper(h), 'sysctl.conf')).mtimeMs : 0);
    const before = ['h2', 'h3'].map(mtime);
    const r = await vipush(['run', pb, ...labArgs(lab), '--report', report], { env: env() });
    expect(r.code).toBe(1);
    const rep = await readReport(report);
    expect(rep.hosts.h1).toMatchObject({ status: 'failed', rolledBack: true });
    expect(rep.untouched.sort()).toEqual(['h2', 'h3']);
    expect(rep.hosts.h2.status).toBe('skipped');
    expect(r.stdout).toContain('[NOT TOUCHED] h2, h3');
    for (const h of ['h1', 'h2', 'h3']) await expectPristine(lab, h);
    expect(['h2', 'h3'].map(mtime)).toEqual(before);
  });

  it('health gates pass when only the director answers ARP and HTTP works', async () => {
    // a rollout adds a real server to the balancer once it holds the VIP: here the director sends to h1 only
    await lab.setupDirector(['h1']);
    const gates = `  verify:\n    - arp_owner: { vip: "{{ vip }}", from: client, expect: director }\n    - http: { url: "http://{{ vip }}/", from: client, expect_status: 200 }\n`;
    const pb = join(lab.dir, 'gates-ok.yml');
    writeFileSync(pb, `- name: gates\n  hosts: realservers\n  serial: [1, "100%"]\n${gates}${TASKS}`);
    const r = await vipush(['run', pb, ...labArgs(lab)], { env: env() });
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(await lab.arpOwners()).toEqual([lab.director.mac]);
    await lab.setupDirector();
  });

  it('a failed health gate rolls the whole batch back and stops the rollout', async () => {
    const gates = `  verify:\n    - arp_owner: { vip: "{{ vip }}", from: client, expect: h1 }\n`;
    const pb = join(lab.dir, 'gates-bad.yml');
    writeFileSync(pb, `- name: gates\n  hosts: realservers\n  serial: [2, "100%"]\n${gates}${TASKS}`);
    const report = join(lab.dir, 'gates.json');
    const r = await vipush(['run', pb, ...labArgs(lab), '--report', report], { env: env() });
    expect(r.code).toBe(1);
    const rep = await readReport(report);
    expect(rep.stoppedReason).toMatch(/health gate failed after batch 1: ARP for .* answered by 02:/);
    expect(rep.gates.map((g) => [g.batch, g.ok])).toEqual([[0, false]]);
    expect(rep.hosts.h1).toMatchObject({ status: 'failed', rolledBack: true });
    expect(rep.hosts.h2).toMatchObject({ status: 'failed', rolledBack: true });
    expect(rep.untouched).toEqual(['h3']);
    for (const h of ['h1', 'h2', 'h3']) await expectPristine(lab, h);
  });

  it('vipush rollback --run undoes a previous successful run', async () => {
    const pb = playbook('plain', '');
    const r = await vipush(['run', pb, ...labArgs(lab)], { env: env() });
    expect(r.code).toBe(0);
    const runId = /run (\S+): what it changed is saved/.exec(r.stdout)?.[1];
    expect(runId).toBeDefined();
    expect(await lab.sysctl('h3', IGNORE)).toBe('3');
    const list = await vipush(['rollback', '--list'], { env: env() });
    expect(list.stdout).toContain(runId);
    // the command the run printed, pasted into a shell as it is (only the lab's known_hosts added)
    const printed = /`([^`]+)` undoes it/.exec(r.stdout)?.[1];
    expect(printed).toBe(`VIPUSH_STATE_DIR=${join(lab.dir, 'state')} vipush rollback --run ${runId} -i ${lab.inventoryFile}`);
    const bin = mkdtempSync(join(tmpdir(), 'vipush-bin-'));
    symlinkSync(fileURLToPath(new URL('../../bin/vipush.js', import.meta.url)), join(bin, 'vipush'));
    const { VIPUSH_STATE_DIR: _unset, ...parentEnv } = process.env;
    const back = spawnSync('sh', ['-c', `${printed} --known-hosts ${lab.knownHostsFile}`], {
      env: { ...parentEnv, PATH: `${bin}:${process.env.PATH}` },
      encoding: 'utf8',
    });
    expect(back.status, back.stdout + back.stderr).toBe(0);
    expect(back.stdout).toContain('3 host(s) restored, 0 failed');
    for (const h of ['h1', 'h2', 'h3']) await expectPristine(lab, h);
  });

  it('vipush rollback --run leaves a file changed by hand since the run, and says why; --force restores it', async () => {
    const pb = playbook('plain', '');
    const r = await vipush(['run', pb, ...labArgs(lab)], { env: env() });
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const runId = /run (\S+): what it changed is saved/.exec(r.stdout)?.[1] ?? '';
    const conf = join(lab.etcUpper('h2'), 'sysctl.conf');
    const edited = `${readFileSync(conf, 'utf8')}# tuned by hand\n`;
    await lab.hostExec('h2', ['sh', '-c', 'cat > /etc/sysctl.conf'], { input: Buffer.from(edited) });

    const check = await vipush(['rollback', '--run', runId, ...labArgs(lab), '--check'], { env: env() });
    expect(check.code, check.stdout + check.stderr).toBe(1);
    expect(check.stdout).toMatch(/^ {2}\/etc\/sysctl\.conf: not restored: changed since the run$/m);
    expect(check.stdout).toMatch(/^ {2}sysctl net\.ipv4\.conf\.all\.arp_ignore: 3 -> 0$/m);
    expect(check.stdout).toContain('1 cannot');
    expect(await lab.sysctl('h1', IGNORE)).toBe('3');

    const back = await vipush(['rollback', '--run', runId, ...labArgs(lab)], { env: env() });
    expect(back.code, back.stdout + back.stderr).toBe(1);
    expect(back.stdout).toMatch(
      /^h2: FAILED: update \/etc\/sysctl\.conf: \/etc\/sysctl\.conf changed since vipush wrote it; not restored \(vipush rollback --force restores it anyway\)/m,
    );
    expect(back.stdout).toContain('2 host(s) restored, 1 failed');
    for (const h of ['h1', 'h3']) await expectPristine(lab, h);
    // on h2 the rest is undone; the file keeps the hand's edit
    expect(readFileSync(conf, 'utf8')).toBe(edited);
    expect(await lab.sysctl('h2', IGNORE)).toBe('0');
    expect((await lab.addresses('h2')).filter((a) => a.local === lab.vip)).toEqual([]);

    const forced = await vipush(['rollback', '--run', runId, ...labArgs(lab), '--force'], { env: env() });
    expect(forced.code, forced.stdout + forced.stderr).toBe(0);
    // the diff it showed starts from what h2 held: the edited file
    expect(forced.stdout).toMatch(/^ {4}-# tuned by hand$/m);
    for (const h of ['h1', 'h2', 'h3']) await expectPristine(lab, h);
  });

  it('dead-man switch: a change that cuts SSH off is reverted by the host itself', async () => {
    const cut = `nft add table inet vpcut && nft add chain inet vpcut input '{ type filter hook input priority 0; }' && nft add rule inet vpcut input tcp dport 22 drop`;
    const pb = join(lab.dir, 'deadman.yml');
    writeFileSync(
      pb,
      `- name: cut
  hosts: h1
  confirm_timeout: 8
  tasks:
    - name: drop ssh
      command: { shell: "${cut}", undo: "nft delete table inet vpcut", confirm: true }
`,
    );
    const report = join(lab.dir, 'deadman.json');
    const started = Date.now();
    const r = await vipush(['run', pb, ...labArgs(lab), '--report', report, '--connect-timeout', '3'], { env: env(), timeoutMs: 90_000 });
    expect(r.code).toBe(1);
    const rep = await readReport(report);
    expect(rep.hosts.h1.status).toBe('failed');
    expect(rep.hosts.h1.deadman).toBe('left-to-revert');
    // the host reverts by itself once the window is over, and is reachable over SSH again
    let reverted = false;
    while (Date.now() - started < 40_000) {
      const nft = await lab.hostExec('h1', ['nft', 'list', 'tables']);
      if (!nft.stdout.includes('vpcut')) {
        reverted = true;
        break;
      }
      await new Promise((res) => setTimeout(res, 500));
    }
    expect(reverted).toBe(true);
    expect(Date.now() - started).toBeGreaterThan(8_000);
    const again = await vipush(['drift', join(lab.dir, 'plain.yml'), ...labArgs(lab), '--limit', 'h1'], { env: env() });
    expect([0, 2]).toContain(again.code); // reachable over SSH again (0 or 2, not 1)
  });
});
