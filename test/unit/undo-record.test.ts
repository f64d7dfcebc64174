import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { GateSpec, Play } from '../../src/config/types.js';
import { runPlays, type PreparedHost, type PreparedPlay, type RunOptions } from '../../src/engine/run.js';
import { HostError } from '../../src/errors.js';
import type { ResolvedTask } from '../../src/modules/registry.js';
import { writePrivateFile } from '../../src/state/private-file.js';
import { loadSnapshot, removeRun, saveHostSnapshot, saveRunHeader } from '../../src/state/snapshots.js';
import type { Transport } from '../../src/transport/types.js';
import { FakeTransport, factsOutput, healthyHost, stepsOutput, type FakeCall } from './fake-transport.js';

const dir = mkdtempSync(join(tmpdir(), 'vipush-undo-record-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const tasks: ResolvedTask[] = [
  {
    name: 'arp sysctls',
    module: 'sysctl',
    source: { file: 'p.yml', line: 1, col: 1 },
    args: { file: '/etc/sysctl.conf', set: { 'net.ipv4.conf.all.arp_ignore': '3' }, apply: true },
  },
];

/** A host that reads its facts, then runs every step it is sent (the apply, and a revert over a command of its own). */
const healthy = healthyHost((nonce) =>
  factsOutput(nonce, { sysctls: { 'net.ipv4.conf.all.arp_ignore': '0' }, files: { '/etc/sysctl.conf': { content: '# hello\n' } } }),
);

const source = { file: 'p.yml', line: 1, col: 1 };
function play(names: string[], over: Partial<Play> = {}, gates: GateSpec[] = []): PreparedPlay {
  const hosts: PreparedHost[] = names.map((name) => ({ name, conn: { host: name, address: name, become: false }, tasks }));
  return {
    play: {
      name: 'p',
      hosts: 'all',
      vars: new Map(),
      serial: [],
      maxFailPercentage: 100,
      anyErrorsFatal: false,
      confirmTimeout: 60,
      become: false,
      tasks: [],
      verify: gates,
      source,
      ...over,
    },
    hosts,
    gates,
  };
}

/** Options whose undo record goes to the state files under `dir`, as the CLI's does. */
function options(runId: string, connect: RunOptions['connect']): RunOptions {
  return {
    runId,
    mode: 'run',
    check: false,
    diff: false,
    forks: 1,
    commandTimeoutMs: 1000,
    connect,
    vantage: (name) => ({ host: name, address: name, become: false }),
    keep: (host, part) => saveHostSnapshot(runId, host, part, dir),
  };
}

const header = (runId: string) => saveRunHeader({ version: 1, runId, playbook: '/p.yml', inventory: '/i.yml', createdAt: new Date().toISOString() }, dir);

describe('the undo record of a run, written host by host', () => {
  it('a run whose connector fails on the 3rd host still leaves the files of the 2 that applied', async () => {
    const runId = '20260101T000000Z-aaaaaa';
    await header(runId);
    let release!: (e: Error) => void;
    const third = new Promise<Transport>((_, reject) => (release = reject));
    let reachedThird!: () => void;
    const atThird = new Promise<void>((res) => (reachedThird = res));
    const run = runPlays(
      [play(['h1', 'h2', 'h3'])],
      options(runId, async (c) => {
        if (c.host !== 'h3') return new FakeTransport(c.host, healthy);
        reachedThird();
        return third;
      }),
    );
    // the controller is stuck at h3 (it could die here): h1 and h2 are on disk already
    await atThird;
    const midRun = await loadSnapshot(runId, dir);
    expect(Object.keys(midRun?.hosts ?? {}).sort()).toEqual(['h1', 'h2']);
    expect(midRun?.playbook).toBe('/p.yml');
    const h1 = midRun!.hosts.h1;
    expect(h1.conn.host).toBe('h1');
    expect(h1.changes.map((c) => c.kind)).toEqual(['file', 'sysctl-live']);
    // file contents come back as Buffers
    const file = h1.changes[0];
    expect(file.kind === 'file' && Buffer.isBuffer(file.before?.content) && file.before.content.toString()).toBe('# hello\n');

    release(new HostError('h3', 'unreachable', 'connection refused'));
    const result = await run;
    expect(result.hosts.get('h3')?.status).toBe('unreachable');
    expect(Object.keys((await loadSnapshot(runId, dir))!.hosts).sort()).toEqual(['h1', 'h2']);
    expect(readdirSync(join(dir, 'runs', runId, 'hosts')).sort()).toEqual(['h1.json', 'h2.json']);
  });

  it('a host rolled back by a failed gate loses its file; one whose rollback failed keeps it, with why', async () => {
    const runId = '20260101T000001Z-bbbbbb';
    await header(runId);
    const gate: GateSpec = { kind: 'command', argv: ['false'], from: 'vantage', source };
    const revertFails = (call: FakeCall) => {
      if (call.via === 'exec' && call.script.includes('vp_step')) return { stdout: stepsOutput(call.nonce, [[0, 'failed', 'boom']], true), code: 71 };
      return healthy(call);
    };
    let saved = 0;
    const opts = options(runId, async (c) => {
      if (c.host === 'vantage') return new FakeTransport(c.host, () => ({ code: 1 }));
      return new FakeTransport(c.host, c.host === 'h2' ? revertFails : healthy);
    });
    const keep = opts.keep!;
    opts.keep = async (host, part) => {
      saved++;
      await keep(host, part);
    };
    const result = await runPlays([play(['h1', 'h2'], {}, [gate])], opts);
    expect(result.stoppedReason).toMatch(/health gate failed/);
    const snap = await loadSnapshot(runId, dir);
    expect(Object.keys(snap!.hosts)).toEqual(['h2']);
    expect(snap!.hosts.h2.revertFailed).toMatch(/ROLLBACK INCOMPLETE on h2/);
    // each host after its apply, again after the gate's rollback, and h2 once more with where its snapshot went
    expect(saved).toBe(5);
    expect(result.applied.get('h2')?.revertFailed).toBe(snap!.hosts.h2.revertFailed);
  });

  it('a host in two plays keeps the first play\u2019s changes when the second one rolls back', async () => {
    const runId = '20260101T000002Z-cccccc';
    await header(runId);
    const gate: GateSpec = { kind: 'command', argv: ['false'], from: 'vantage', source };
    const second: PreparedPlay = { ...play(['h1'], { name: 'second' }, [gate]) };
    second.hosts[0].tasks = [{ ...tasks[0], args: { ...tasks[0].args, file: '/etc/sysctl.d/90-x.conf' } } as ResolvedTask];
    const result = await runPlays(
      [play(['h1']), second],
      options(runId, async (c) => new FakeTransport(c.host, c.host === 'vantage' ? () => ({ code: 1 }) : healthy)),
    );
    expect(result.stoppedReason).toMatch(/health gate failed/);
    const snap = await loadSnapshot(runId, dir);
    expect(snap!.hosts.h1.changes.map((c) => (c.kind === 'file' ? c.path : c.kind))).toEqual(['/etc/sysctl.conf', 'sysctl-live']);
  });

  it('a run that left nothing is removed whole; a run saved as one file before the split still loads', async () => {
    const runId = '20260101T000003Z-dddddd';
    await header(runId);
    await removeRun(runId, dir);
    expect(existsSync(join(dir, 'runs', runId))).toBe(false);
    expect(await loadSnapshot(runId, dir)).toBeUndefined();

    const old = '20250101T000000Z-eeeeee';
    const change = {
      kind: 'file',
      path: '/etc/x',
      before: { content: { $base64: Buffer.from('a\n').toString('base64') }, mode: 420, uid: 0, gid: 0 },
      after: null,
    };
    const hosts = { h1: { conn: { host: 'h1', address: 'h1', become: false }, changes: [change] } };
    await writePrivateFile(
      join(dir, 'runs', old, 'snapshot.json'),
      JSON.stringify({ version: 1, runId: old, playbook: '/p', inventory: '/i', createdAt: '', hosts }),
    );
    const snap = await loadSnapshot(old, dir);
    const c = snap?.hosts.h1.changes[0];
    expect(c?.kind === 'file' && c.before?.content.toString()).toBe('a\n');
  });
});
