import { describe, expect, it } from 'vitest';
import { stepArgv } from '../../src/changes/index.js';
import { HostRun, type HostRunOptions } from '../../src/engine/host-run.js';
import { needsHostDeadline, type Step } from '../../src/engine/steps.js';
import type { ResolvedTask } from '../../src/modules/registry.js';
import { FakeTransport, factsOutput, healthyHost, mark, stepsOutput } from './fake-transport.js';

const tasks: ResolvedTask[] = [
  {
    name: 'arp sysctls',
    module: 'sysctl',
    source: { file: 'p.yml', line: 1, col: 1 },
    args: { file: '/etc/sysctl.conf', set: { 'net.ipv4.conf.all.arp_ignore': '3', 'net.ipv4.conf.all.arp_announce': '2' }, apply: true },
  },
  {
    name: 'vip',
    module: 'address',
    source: { file: 'p.yml', line: 9, col: 1 },
    args: { address: '198.18.0.250/32', family: 4, dev: 'lo', scope: 'host', label: 'lo:1', state: 'present', persist: 'none', allowArp: false },
  },
];

const hostFacts = (nonce: string) =>
  factsOutput(nonce, {
    sysctls: { 'net.ipv4.conf.all.arp_ignore': '0', 'net.ipv4.conf.all.arp_announce': '0' },
    files: { '/etc/sysctl.conf': { content: '# hello\n' } },
  });

/** A host that reads its facts, then runs every step it is sent. */
const healthy = healthyHost(hostFacts);

const opts: HostRunOptions = { mode: 'run', check: false, diff: false, become: false, commandTimeoutMs: 1000 };
const conn = (t: FakeTransport) => ({ get: async () => t, reconnect: async () => t });
const programs = (steps: Step[]) => steps.map((s) => stepArgv(s.change)[0]);

describe('HostRun', () => {
  it('takes the lock and reads the facts in one exchange, plans with the simulated sysctls, and applies in the same shell', async () => {
    const t = new FakeTransport('h1', healthy);
    const run = new HostRun('h1', tasks, conn(t), { ...opts, diff: true });
    const r = await run.run();
    expect(r.error).toBeNull();
    expect(r.status).toBe('changed');
    expect(t.calls.map((c) => c.via)).toEqual(['exchange', 'finish']);
    // the lock comes before the first read
    const first = t.calls[0].script;
    expect(first.indexOf('flock ')).toBeGreaterThan(0);
    expect(first.indexOf('flock ')).toBeLessThan(first.indexOf('vp_facts_ssh\n'));
    // the VIP is allowed because the sysctl task runs first; the host checks ARP again before adding it
    expect(programs(run.planned)).toEqual(['vp_write', 'vp_sysctl', 'vp_sysctl', 'vp_hidden_then']);
    expect(stepArgv(run.planned[3].change).slice(0, 4)).toEqual(['vp_hidden_then', 'host', '198.18.0.250/32', 'vp_addr_add']);
    expect(r.tasks[0].diff).toContain('+net.ipv4.conf.all.arp_ignore = 3');
    // vipush's own steps end by themselves: no `timeout` (two more programs per host) around them
    expect(t.calls[1]).toMatchObject({ via: 'finish', hostDeadline: false });
  });

  it('check mode reads facts only', async () => {
    const t = new FakeTransport('h1', healthy);
    const r = await new HostRun('h1', tasks, conn(t), { ...opts, check: true }).run();
    expect(t.calls.map((c) => c.via)).toEqual(['exchange']);
    // it changes nothing, so it waits for no other run: no lock, no flock program on the host
    expect(t.calls[0].script).not.toContain('flock ');
    expect(r.status).toBe('changed');
    expect(r.tasks.map((x) => x.status)).toEqual(['changed', 'changed']);
  });

  it('says which run holds the lock, in its own words, and changes nothing', async () => {
    const t = new FakeTransport('h1', () => ({ code: 75, stderr: 'another vipush run holds /run/vipush/lock on this host\n' }));
    const r = await new HostRun('h1', tasks, conn(t), opts).run();
    expect(r.status).toBe('failed');
    expect(t.calls).toHaveLength(1);
  });

  it('rolls back what took effect, in reverse order, when a step fails', async () => {
    const t = new FakeTransport('h1', (call) => {
      if (call.via === 'finish')
        return {
          stdout: stepsOutput(
            call.nonce,
            [
              [0, 'done'],
              [1, 'done'],
              [2, 'done'],
              [3, 'failed', 'RTNETLINK answers: boom'],
            ],
            false,
          ),
          code: 70,
        };
      return healthy(call);
    });
    const run = new HostRun('h1', tasks, conn(t), opts);
    const r = await run.run();
    expect(r.status).toBe('failed');
    expect(r.tasks[1].status).toBe('failed');
    expect(r.tasks[1].error).toContain('boom');
    expect(r.rolledBack).toBe(true);
    expect(t.calls.map((c) => c.via)).toEqual(['exchange', 'finish', 'exec']);
    // the sysctls go back, then the file; the failed add changed nothing (vipush's own steps refuse
    // before they change anything), so it is not undone
    expect(programs(run.undone)).toEqual(['vp_sysctl', 'vp_sysctl', 'vp_write']);
    expect(r.restored[0]).toMatch(/^net.ipv4.conf.all.arp_announce 2 -> 0/);
    // the revert takes the lock again: it runs over a command of its own
    expect(t.calls[2].script).toContain('flock ');
  });
});

describe('a step whose effect was already there (compare-and-swap)', () => {
  it('is neither a change nor undone', async () => {
    const t = new FakeTransport('h1', (call) => {
      if (call.via === 'finish')
        return {
          stdout: stepsOutput(
            call.nonce,
            [
              [0, 'done'],
              [1, 'same'],
              [2, 'same'],
              [3, 'failed', 'boom'],
            ],
            false,
          ),
          code: 70,
        };
      return healthy(call);
    });
    const run = new HostRun('h1', tasks, conn(t), opts);
    const r = await run.run();
    expect(r.status).toBe('failed');
    // only the file write took effect: the sysctls the host already had are not "restored"
    expect(programs(run.undone)).toEqual(['vp_write']);
  });

  it('leaves its task ok when every step of it found its effect there', async () => {
    const t = new FakeTransport('h1', (call) => {
      if (call.via === 'finish')
        return {
          stdout: stepsOutput(
            call.nonce,
            [
              [0, 'same'],
              [1, 'same'],
              [2, 'same'],
              [3, 'done'],
            ],
            true,
          ),
        };
      return healthy(call);
    });
    const r = await new HostRun('h1', tasks, conn(t), opts).run();
    expect(r.tasks.map((x) => x.status)).toEqual(['ok', 'changed']);
    expect(r.status).toBe('changed');
  });
});

describe('the host deadline (timeout) of an apply script', () => {
  const file: Step = { index: 0, taskIndex: 0, change: { kind: 'file', path: '/etc/x', before: null, after: { content: Buffer.from('x'), mode: 0o644 } } };
  const sysctl: Step = { index: 1, taskIndex: 0, change: { kind: 'sysctl-live', key: 'net.ipv4.conf.all.arp_ignore', from: '0', to: '3' } };
  const addr: Step = { index: 2, taskIndex: 1, change: { kind: 'address', op: 'add', family: 4, cidr: '192.0.2.1/32', dev: 'lo', scope: 'host' } };
  it("is left out when every step is one of vipush's own (they end by themselves)", () => {
    expect(needsHostDeadline([file, sysctl, addr], false)).toBe(false);
    expect(needsHostDeadline([], false)).toBe(false);
  });
  it("is kept for a user's command, a backend reload and a dead-man switch", () => {
    expect(needsHostDeadline([file, { index: 3, taskIndex: 2, change: { kind: 'command', argv: ['sleep', '1'], reportChanged: true } }], false)).toBe(true);
    expect(needsHostDeadline([addr, { index: 3, taskIndex: 1, change: { kind: 'exec', argv: ['netplan', 'apply'], why: 'reload' } }], false)).toBe(true);
    expect(needsHostDeadline([addr], true)).toBe(true);
  });
  it("a command task's apply script runs under one, in a new shell that gets the step functions again", async () => {
    const t = new FakeTransport('h1', healthy);
    const withCommand: ResolvedTask[] = [
      ...tasks,
      { name: 'reload', module: 'command', source: { file: 'p.yml', line: 20, col: 1 }, args: { argv: ['true'], changedWhen: true } },
    ];
    const r = await new HostRun('h1', withCommand, conn(t), opts).run();
    expect(r.error).toBeNull();
    expect(t.calls[1]).toMatchObject({ via: 'finish', hostDeadline: true });
    expect(t.calls[1].script).toMatch(/^vp_nonce=/);
    // it inherits the lock's descriptor: taking the lock again would wait for itself
    expect(t.calls[1].script).not.toContain('flock ');
  });
});

describe('a connection lost during the apply: one new connection reads the journal (issue 16, item 6)', () => {
  /** A host whose apply's connection drops; the new connection's read answers with `journal(runNonce)`. */
  function lostHost(journal: (run: string) => string) {
    const t: FakeTransport = new FakeTransport('h1', (call, n) => {
      if (call.via === 'finish') throw new Error('the connection to h1 was lost');
      // the run's nonce is its first read's
      if (call.via === 'exchange' && n > 0) return { stdout: `${hostFacts(call.nonce)}${mark(call.nonce, journal(t.calls[0].nonce))}` };
      return healthy(call);
    });
    return t;
  }

  it('the host ran to its end: converged, and nothing is undone', async () => {
    const t = lostHost((run) => `journal end ${run} 0 0`);
    const run = new HostRun('h1', tasks, conn(t), opts);
    const r = await run.run();
    expect(r).toMatchObject({ outcome: 'converged', status: 'changed', error: null, rolledBack: false });
    expect(r.rollbackError).toBeUndefined();
    expect(t.calls.map((c) => c.via)).toEqual(['exchange', 'finish', 'exchange']);
    // the new read takes the lock, so the old script has ended
    expect(t.calls[2].script).toContain('flock ');
    expect(run.applied).toHaveLength(4);
  });

  it('the host reverted from its journal: rolled back', async () => {
    const r = await new HostRun('h1', tasks, conn(lostHost((run) => `journal undone ${run} 4 0`)), opts).run();
    expect(r).toMatchObject({ outcome: 'rolled back', status: 'failed', rolledBack: true });
    expect(r.rollbackError).toBeUndefined();
  });

  it('a journal of another run, or no new connection: outcome unknown, never ROLLBACK FAILED', async () => {
    const other = await new HostRun('h1', tasks, conn(lostHost(() => 'journal end 0123abcd 0 0')), opts).run();
    expect(other).toMatchObject({ outcome: 'outcome unknown', status: 'failed' });
    expect(other.error).toMatch(/names another run .*outcome unknown$/);
    const t = lostHost(() => 'journal end x 0 0');
    let tries = 0;
    const unreachable = await new HostRun(
      'h1',
      tasks,
      {
        get: async () => t,
        reconnect: async () => {
          tries++;
          throw new Error('no route to host');
        },
      },
      // tried again for 1.5 s: the connection is tried more than once within the window
      { ...opts, reconnectWindowMs: 1500 },
    ).run();
    expect(unreachable).toMatchObject({ outcome: 'outcome unknown', status: 'failed' });
    expect(tries).toBeGreaterThan(1);
    expect(unreachable.error).toMatch(/could not read the host's journal over a new connection \(no route to host\): outcome unknown$/);
    for (const r of [other, unreachable]) expect(r.rollbackError).toBeUndefined();
  });
});

describe('the journal read before the facts', () => {
  const withJournal = (line: string) =>
    new FakeTransport('h1', (call) => (call.via === 'exchange' ? { stdout: `${hostFacts(call.nonce)}${mark(call.nonce, line)}` } : healthy(call)));

  it('drift and --check only look: an unfinished run is drift, and the read takes no lock and undoes nothing', async () => {
    const t = withJournal('journal unfinished 0123abcd 0 0');
    const r = await new HostRun('h1', tasks, conn(t), { ...opts, mode: 'drift' }).run();
    expect(t.calls[0].script).toContain('\nvp_jrecover peek\n');
    expect(t.calls[0].script).not.toContain('flock ');
    expect(r.drift).toContainEqual({ task: '(journal)', item: 'vipush run 0123abcd', expected: 'finished or undone', actual: 'unfinished' });
    expect(r.journal).toMatch(/did not finish on this host/);
  });

  it('a run reads it under the lock, which undoes what a dead run left, and says so', async () => {
    const t = withJournal('journal undone 0123abcd 3 0');
    const r = await new HostRun('h1', tasks, conn(t), opts).run();
    const first = t.calls[0].script;
    // the call, not the function's text in the script's head
    const recover = first.indexOf('\nvp_jrecover\n');
    expect(first.indexOf('flock ')).toBeLessThan(recover);
    expect(recover).toBeLessThan(first.lastIndexOf('vp_facts_ssh\n'));
    expect(r.journal).toBe(
      'a vipush run (0123abcd) had not finished on this host (a lost controller or a crash): 3 of its steps undone from its journal before reading',
    );
    expect(r.drift.some((d) => d.task === '(journal)')).toBe(false);
  });
});
