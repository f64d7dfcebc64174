import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { Change } from '../../src/changes/index.js';
import { rollbackRun, type PlannedUndo } from '../../src/engine/rollback.js';
import type { RunSnapshot } from '../../src/state/snapshots.js';
import { FakeTransport, factsOutput, stepCount, stepsOutput, type FakeCall } from './fake-transport.js';

const CONF = '/etc/sysctl.conf';
const KEY = 'net.ipv4.conf.all.arp_ignore';
const ORIGINAL = '# hello\n';
const WRITTEN = `# hello\n${KEY} = 3\n`;
const sha = (s: string) => createHash('sha256').update(s).digest('hex');

/** What the run did on each host, in the order it ran. */
const changes: Change[] = [
  { kind: 'file', path: CONF, before: { content: Buffer.from(ORIGINAL), mode: 0o644, uid: 0, gid: 0 }, after: { content: Buffer.from(WRITTEN), mode: 0o644 } },
  { kind: 'sysctl-live', key: KEY, from: '0', to: '3' },
  { kind: 'address', op: 'add', family: 4, cidr: '198.18.0.250/32', dev: 'lo', scope: 'host', label: 'lo:1' },
];

const snap: RunSnapshot = {
  version: 1,
  runId: '20260101T000000Z-abcdef',
  playbook: '/p.yml',
  inventory: '/i.yml',
  createdAt: '',
  hosts: Object.fromEntries(['h1', 'h2', 'h3'].map((h) => [h, { conn: { host: h, address: h, become: false }, changes }])),
};

const lo = (extra: Array<{ local: string; scope: string }>) => [
  { dev: 'lo', family: 'inet' as const, local: '127.0.0.1', prefixlen: 8, scope: 'host', label: 'lo' },
  ...extra.map((a) => ({ dev: 'lo', family: 'inet' as const, local: a.local, prefixlen: 32, scope: a.scope, label: 'lo:1' })),
];

/** h1 still holds what the run wrote; on h2 someone changed all three since; h3 is back as before already. */
const hostState: Record<string, Parameters<typeof factsOutput>[1]> = {
  h1: { addrs: lo([{ local: '198.18.0.250', scope: 'host' }]), sysctls: { [KEY]: '3' }, files: { [CONF]: { content: WRITTEN } } },
  h2: { addrs: lo([{ local: '198.18.0.250', scope: 'global' }]), sysctls: { [KEY]: '1' }, files: { [CONF]: { content: `${WRITTEN}# and by hand\n` } } },
  h3: { addrs: lo([]), sysctls: { [KEY]: '0' }, files: { [CONF]: { content: ORIGINAL } } },
};

/** A fake host that answers the facts from `hostState` and refuses each undo the way steps.sh does when what it finds is not what the run wrote. */
function host(name: string, log: string[]) {
  return new FakeTransport(name, (call: FakeCall) => {
    log.push(`${name} ${call.via}`);
    if (call.via === 'exchange') return { stdout: factsOutput(call.nonce, hostState[name]) };
    const n = stepCount(call.script);
    const refuses = name === 'h2' && !call.script.includes('vp_sysctl net.ipv4.conf.all.arp_ignore 0 /proc/sys/net/ipv4/conf/all/arp_ignore guard -\n');
    return {
      stdout: stepsOutput(
        call.nonce,
        Array.from({ length: n }, (_, i) => (refuses ? ([i, 'failed', 'changed since vipush wrote it'] as const) : ([i, 'done'] as const))),
        true,
      ),
      code: refuses ? 71 : 0,
    };
  });
}

const verdicts = (plan: PlannedUndo[]) => plan.map((p) => `${p.step.change.kind}:${p.verdict}`);

describe('vipush rollback: read, plan, then restore with compare-and-swap', () => {
  it('reads each host under its lock, shows the plan before writing, and restores in the same shell', async () => {
    const log: string[] = [];
    const hosts = new Map<string, FakeTransport>();
    const results = await rollbackRun(snap, ['h1', 'h2', 'h3'], {
      forks: 1,
      commandTimeoutMs: 1000,
      connect: async (h) => {
        hosts.set(h, host(h, log));
        return hosts.get(h)!;
      },
      planned: (h, plan) => log.push(`${h} planned ${verdicts(plan).join(' ')}`),
    });
    // per host: the facts (lock first), the plan shown, then the undo in the same shell
    expect(log).toEqual([
      'h1 exchange',
      'h1 planned address:restore sysctl-live:restore file:restore',
      'h1 finish',
      'h2 exchange',
      'h2 planned address:changed sysctl-live:changed file:changed',
      'h2 finish',
      'h3 exchange',
      'h3 planned address:done sysctl-live:done file:done',
      'h3 finish',
    ]);
    const read = hosts.get('h1')!.calls[0].script;
    expect(read.indexOf('flock ')).toBeGreaterThan(0);
    expect(read.indexOf('flock ')).toBeLessThan(read.indexOf('vp_facts_ssh\n'));
    expect(read).toContain(`vp_facts_procsys /proc/sys/net/ipv4/conf/all/arp_ignore\n`);
    expect(read).toMatch(/vp_facts_files \/etc\/sysctl\.conf /);
    // each undo names what the run wrote: the host restores only what still holds it
    const undo = hosts.get('h1')!.calls[1].script;
    expect(undo).toContain(`vp_step 0 vp_addr_del 4 198.18.0.250/32 lo host wrote ||`);
    expect(undo).toContain(`vp_step 1 vp_sysctl ${KEY} 0 /proc/sys/net/ipv4/conf/all/arp_ignore guard wrote 3 ||`);
    expect(undo).toContain(` 644 133 ${sha(WRITTEN)} ${sha(ORIGINAL)} ||`);
    expect(results.map((r) => [r.host, r.restored.length, r.failed.length, r.error])).toEqual([
      ['h1', 3, 0, undefined],
      ['h2', 0, 3, undefined],
      ['h3', 3, 0, undefined],
    ]);
    expect(results[1].failed[2].why).toBe('changed since vipush wrote it');
  });

  it('the plan shows the diff from what the host holds now: a file against its current content, a sysctl from its current value', async () => {
    const plans = new Map<string, PlannedUndo[]>();
    await rollbackRun(snap, ['h2'], { forks: 1, commandTimeoutMs: 1000, check: true, connect: async (h) => host(h, []), planned: (h, p) => plans.set(h, p) });
    const [addr, sysctl, file] = plans.get('h2')!;
    expect(file.shown).toMatchObject({
      kind: 'file',
      before: { content: Buffer.from(`${WRITTEN}# and by hand\n`) },
      after: { content: Buffer.from(ORIGINAL) },
    });
    expect(sysctl.shown).toMatchObject({ kind: 'sysctl-live', key: KEY, from: '1', to: '0' });
    expect(addr.shown).toMatchObject({ kind: 'address', op: 'del', cidr: '198.18.0.250/32' });
  });

  it('--check reads and plans but writes nothing', async () => {
    const log: string[] = [];
    const results = await rollbackRun(snap, ['h1', 'h2'], { forks: 2, commandTimeoutMs: 1000, check: true, connect: async (h) => host(h, log) });
    expect(log.sort()).toEqual(['h1 exchange', 'h2 exchange']);
    expect(results.map((r) => [r.host, r.restored.length, r.failed.length])).toEqual([
      ['h1', 0, 0],
      ['h2', 0, 0],
    ]);
    expect(verdicts(results[1].plan)).toEqual(['address:changed', 'sysctl-live:changed', 'file:changed']);
  });

  it('--force sends the undos without what the run wrote: the host restores whatever it holds now', async () => {
    let script = '';
    await rollbackRun(snap, ['h2'], {
      forks: 1,
      commandTimeoutMs: 1000,
      force: true,
      connect: async (h) =>
        new FakeTransport(h, (call) => {
          if (call.via === 'exchange') return { stdout: factsOutput(call.nonce, hostState.h2) };
          script = call.script;
          return {
            stdout: stepsOutput(
              call.nonce,
              [0, 1, 2].map((i) => [i, 'done'] as const),
              true,
            ),
          };
        }),
    });
    expect(script).toContain(`vp_step 0 vp_addr_del 4 198.18.0.250/32 lo ||`);
    expect(script).toContain(`vp_step 1 vp_sysctl ${KEY} 0 /proc/sys/net/ipv4/conf/all/arp_ignore guard - ||`);
    expect(script).toContain(` 644 133 - ${sha(ORIGINAL)} ||`);
  });

  it('a host that cannot be locked or read fails alone, with nothing written', async () => {
    const results = await rollbackRun(snap, ['h1', 'h2'], {
      forks: 2,
      commandTimeoutMs: 1000,
      connect: async (h) =>
        h === 'h1' ? new FakeTransport(h, () => ({ code: 75, stderr: 'another vipush run holds /run/vipush/lock on this host\n' })) : host(h, []),
    });
    expect(results[0]).toMatchObject({ host: 'h1', plan: [], restored: [] });
    expect(results[0].error).toMatch(/exit 75|another vipush run/);
    expect(results[1].failed.length).toBe(3);
  });
});
