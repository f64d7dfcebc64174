import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLab, ensureLabPackages, type Lab } from '../lab/lab.js';
import { labArgs, readReport, spawnVipush, vipush } from './vipush-cli.js';

/**
 * Issue 16, items 5 and 6, on a real host: the host's shell stopped by strace at an exact journal
 * write (a step boundary), then the host crashes (the lab's power cycle) or its network is cut for
 * 30 s, and what the report says is checked against what the host holds.
 */
const IGNORE = 'net.ipv4.conf.all.arp_ignore';
const ORIGINAL_CONF = readFileSync('/etc/sysctl.conf', 'utf8');
const JOURNAL = '/var/lib/vipush/journal/current';
const PLAYBOOK = 'playbooks/hidden-arp.yml';

async function until(cond: () => boolean | Promise<boolean>, what: string, timeoutMs = 30_000): Promise<void> {
  const t0 = Date.now();
  while (!(await cond())) {
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((res) => setTimeout(res, 50));
  }
}

describe('a host crash or a partition at a step boundary (strace stops the host shell at its k-th journal write)', () => {
  let lab: Lab;
  let log: string;
  let tracer: ChildProcess | undefined;

  beforeAll(async () => {
    await ensureLabPackages();
    lab = await createLab({ hosts: 1 });
    await lab.setupDirector();
    log = join(lab.dir, 'strace.log');
  });
  afterAll(async () => {
    tracer?.kill('SIGKILL');
    await lab?.teardown();
  });

  async function reset(): Promise<void> {
    await lab.hostExec('h1', [
      'sh',
      '-c',
      `ip addr del ${lab.vip}/32 dev lo 2>/dev/null; sysctl -q -w ${IGNORE}=0 net.ipv4.conf.all.arp_announce=0; rm -f /etc/network/interfaces.d/vipush-lo-1; nft delete table inet vpcut 2>/dev/null; true`,
    ]);
    await lab.hostExec('h1', ['sh', '-c', 'cat > /etc/sysctl.conf'], { input: ORIGINAL_CONF });
  }

  /** strace on h1's sshd and every session it forks: the k-th write to the journal stops its writer (SIGSTOP). */
  async function stopAtJournalWrite(k: number): Promise<void> {
    await stopTracer();
    const pids = execFileSync('ip', ['netns', 'pids', lab.host('h1').ns])
      .toString()
      .trim()
      .split('\n');
    const sshd = pids.find((p) => readFileSync(`/proc/${p}/comm`, 'utf8').trim() === 'sshd');
    expect(sshd).toMatch(/^\d+$/);
    writeFileSync(log, '');
    let attached = '';
    tracer = spawn('strace', ['-f', '-p', sshd as string, '-o', log, '-P', JOURNAL, '-e', 'trace=write', '-e', `inject=write:signal=STOP:when=${k}`], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    tracer.stderr?.on('data', (d) => (attached += d.toString()));
    await until(() => attached.includes('attached') || readFileSync(log, 'utf8').includes('attached'), `strace to attach (${attached})`);
  }

  async function stopTracer(): Promise<void> {
    const t = tracer;
    tracer = undefined;
    if (!t || t.exitCode !== null || t.signalCode !== null) return;
    const gone = new Promise((res) => t.once('exit', res));
    t.kill('SIGKILL');
    await gone;
  }

  /** The pid strace stopped, once it has. */
  function stopped(): number | undefined {
    const m = /^(\d+)\s+--- stopped by SIGSTOP ---/m.exec(readFileSync(log, 'utf8'));
    return m ? Number(m[1]) : undefined;
  }

  /** The host's state: is the VIP hidden live, and as a boot would read /etc? Any vipush temp file left? */
  async function hostState() {
    const vip = (await lab.addresses('h1')).filter((a) => a.local === lab.vip).map((a) => a.scope);
    const ignore = await lab.sysctl('h1', IGNORE);
    const conf = readFileSync(join(lab.etcUpper('h1'), 'sysctl.conf'), 'utf8');
    const persisted = (await lab.hostExec('h1', ['test', '-e', '/etc/network/interfaces.d/vipush-lo-1'])).code === 0;
    const temps = (await lab.hostExec('h1', ['sh', '-c', 'find /etc /var/lib/vipush -name ".vipush-*"'])).stdout.trim();
    return {
      vip,
      ignore,
      liveSafe: vip.length === 0 || ignore === '3',
      bootSafe: !persisted || /^net\.ipv4\.conf\.all\.arp_ignore = 3$/m.test(conf),
      temps,
    };
  }

  // the playbook's apply writes its journal 15 times (run; intent and result of 5 steps; 2 temp files; end; the
  // cut-down journal); k past the last write lets the run finish, which ends the loop
  it('killed (power-cycled) at every step boundary: never exposed, live or after the boot; one plain re-run converges, drift 0, no temp file', async () => {
    await lab.hostExec('h1', ['mkdir', '-p', '/etc/network/interfaces.d']);
    const outcomes: string[] = [];
    for (let k = 1; k <= 20; k++) {
      await reset();
      await stopAtJournalWrite(k);
      const report = join(lab.dir, `crash-${k}.json`);
      const run = vipush(['run', PLAYBOOK, ...labArgs(lab), '--report', report, '--connect-timeout', '2'], { timeoutMs: 90_000 });
      let finished = false;
      void run.then(() => (finished = true));
      await until(() => finished || stopped() !== undefined, `the host shell to stop at journal write ${k}`);
      if (stopped() === undefined) {
        // the apply wrote its journal fewer than k times: every boundary was hit
        expect((await run).code).toBe(0);
        expect(k).toBeGreaterThan(10);
        await stopTracer();
        break;
      }
      const left = await hostState();
      expect(left.liveSafe, `k=${k} ${JSON.stringify(left)}`).toBe(true);
      expect(left.bootSafe, `k=${k} ${JSON.stringify(left)}`).toBe(true);
      // the crash: every process of the host killed, the live state lost, a boot from its /etc
      await lab.reboot('h1');
      await stopTracer();
      const r = await run;
      const h1 = (await readReport(report)).hosts.h1;
      outcomes.push(`${k}:${h1.outcome ?? h1.status}`);
      // never "ROLLBACK FAILED": the host's journal decides, read over a new connection after the boot
      expect(h1.rollbackError, `k=${k}`).toBeUndefined();
      if (h1.outcome === 'converged') {
        // stopped after its journal said `end`: the run is complete, and the report says so
        expect(r.code, r.stdout + r.stderr).toBe(0);
        expect(h1.status).toBe('changed');
      } else {
        expect(r.code, r.stdout + r.stderr).toBe(1);
        expect(['outcome unknown', 'rolled back'], `k=${k}`).toContain(h1.outcome);
      }
      const booted = await hostState();
      expect(booted.liveSafe, `k=${k} after the boot ${JSON.stringify(booted)}`).toBe(true);
      expect(await lab.arpOwners(), `k=${k}`).toEqual([lab.director.mac]);

      const again = await vipush(['run', PLAYBOOK, ...labArgs(lab)]);
      expect(again.code, `k=${k} ${again.stdout}${again.stderr}`).toBe(0);
      const drift = await vipush(['drift', PLAYBOOK, ...labArgs(lab)]);
      expect(drift.code, `k=${k} ${drift.stdout}`).toBe(0);
      const done = await hostState();
      expect(done, `k=${k}`).toMatchObject({ vip: ['host'], ignore: '3', temps: '' });
    }
    expect(outcomes.length, outcomes.join(' ')).toBeGreaterThan(10);
    // the boundaries before the journal's `end` are undone, the ones after it converged
    expect(
      outcomes.some((o) => o.endsWith('rolled back') || o.endsWith('outcome unknown')),
      outcomes.join(' '),
    ).toBe(true);
    console.log(`crash outcomes by journal write: ${outcomes.join(' ')}`);
  }, 900_000);

  /**
   * A 30 s partition while the host's shell runs the apply: `commandTimeout` (s) the controller's wait for
   * it, 0 for the default (120 s: the connection outlives the partition).
   */
  async function partition(commandTimeout: number) {
    await reset();
    // stop at the intent of the VIP's step (write 6), cut the host off, then let the shell go on
    await stopAtJournalWrite(6);
    const report = join(lab.dir, `partition-${commandTimeout}.json`);
    const timeout = commandTimeout > 0 ? ['--command-timeout', String(commandTimeout)] : [];
    const run = vipush(['run', PLAYBOOK, ...labArgs(lab), '--report', report, '--connect-timeout', '3', ...timeout], { timeoutMs: 150_000 });
    await until(() => stopped() !== undefined, 'the host shell to stop');
    // both ways: what the controller sends, and what the host's sshd answers
    const cut = [
      'nft add table inet vpcut',
      `nft add chain inet vpcut input '{ type filter hook input priority 0; }'`,
      'nft add rule inet vpcut input tcp dport 22 drop',
      `nft add chain inet vpcut output '{ type filter hook output priority 0; }'`,
      'nft add rule inet vpcut output tcp sport 22 drop',
    ].join(' && ');
    expect((await lab.hostExec('h1', ['sh', '-c', cut])).code).toBe(0);
    const cutAt = Date.now();
    process.kill(stopped() as number, 'SIGCONT');
    await new Promise((res) => setTimeout(res, 30_000 - (Date.now() - cutAt)));
    await lab.hostExec('h1', ['nft', 'delete', 'table', 'inet', 'vpcut']);
    const r = await run;
    await stopTracer();
    const h1 = (await readReport(report)).hosts.h1;
    const state = await hostState();
    console.log(`partition: exit ${r.code}, status ${h1.status}, outcome ${h1.outcome ?? '(connection kept)'}, VIP ${state.vip.join(',') || 'absent'}`);
    // whatever the controller saw of the connection, the report matches the host
    expect(h1.rollbackError).toBeUndefined();
    expect(state).toMatchObject({ vip: ['host'], ignore: '3', temps: '' });
    expect(h1.status, JSON.stringify(h1)).toBe('changed');
    expect(r.code).toBe(0);
    const drift = await vipush(['drift', PLAYBOOK, ...labArgs(lab)]);
    expect(drift.code, drift.stdout).toBe(0);
    return h1;
  }

  it('a 30 s partition mid-apply: the host carries on, and the report says what it holds', async () => {
    await partition(0);
  }, 200_000);

  it('a 30 s partition that outlasts the command timeout: a new connection after it reads the journal: converged', async () => {
    const h1 = await partition(10);
    expect(h1.outcome).toBe('converged');
    expect(h1.journal).toMatch(/the host's journal says the run reached its end: converged$/);
  }, 200_000);

  it('the controller killed (SIGKILL) mid-apply: the host script stops at its next step boundary and reverts from its journal', async () => {
    await reset();
    const pb = join(lab.dir, 'slow.yml');
    writeFileSync(pb, `${readFileSync(PLAYBOOK, 'utf8')}    - name: slow step\n      command: [sleep, "2.7"]\n      changed_when: false\n`);
    const child = spawnVipush(['run', pb, ...labArgs(lab), '--quiet']);
    const gone = new Promise((res) => child.once('exit', res));
    // inside the slow step: the VIP and the sysctls are up
    await until(async () => (await lab.hostExec('h1', ['pgrep', '-f', '^sleep 2.7$'])).code === 0, 'the slow step');
    expect((await lab.addresses('h1')).filter((a) => a.local === lab.vip).map((a) => a.scope)).toEqual(['host']);
    child.kill('SIGKILL');
    await gone;
    // the step's end marker finds no one to read it (EPIPE): the script reverts by itself, and says so in its journal
    await until(async () => (await lab.hostExec('h1', ['cat', JOURNAL])).stdout.trim().endsWith('recovered'), 'the host to revert', 20_000);
    const state = await hostState();
    expect(state).toMatchObject({ vip: [], ignore: '0', temps: '' });
    expect(state.bootSafe).toBe(true);
    expect((await lab.hostExec('h1', ['test', '-e', '/etc/network/interfaces.d/vipush-lo-1'])).code).toBe(1);
    expect(readFileSync(join(lab.etcUpper('h1'), 'sysctl.conf'), 'utf8')).toBe(ORIGINAL_CONF);
    const again = await vipush(['run', PLAYBOOK, ...labArgs(lab)]);
    expect(again.code, again.stdout + again.stderr).toBe(0);
  }, 90_000);
});
