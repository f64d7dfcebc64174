import { describe, expect, it } from 'vitest';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, statSync, writeFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HostRun } from '../../src/engine/host-run.js';
import { applyScript, needsHostDeadline, parseOutcomes, revertScript, type Step } from '../../src/engine/script.js';
import type { ResolvedTask } from '../../src/config/types.js';
import type { Command } from '../../src/transport/types.js';
import { FakeTransport, factsOutput } from './fake-transport.js';

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

const facts = factsOutput({
  sysctls: { 'net.ipv4.conf.all.arp_ignore': '0', 'net.ipv4.conf.all.arp_announce': '0' },
  files: { '/etc/sysctl.conf': { content: '# hello\n' } },
});

/** What an apply or revert script prints: its nonce, then each step's begin marker, output and outcome. */
function marked(steps: ReadonlyArray<readonly [number, 'done' | 'failed', string?]>, ended: boolean): string {
  const m = '@@vipush:0a1b2c:';
  const out = ['@@vipush:nonce 0a1b2c'];
  for (const [i, outcome, text] of steps) out.push(`${m}begin ${i}`, ...(text ? [text] : []), '', `${m}${outcome} ${i}`);
  if (ended) out.push(`${m}end`);
  return out.join('\n') + '\n';
}

function stdinOf(cmd: Command, opts?: { stdin?: string | Buffer }): string {
  return 'argv' in cmd ? String(opts?.stdin ?? '') : '';
}

describe('HostRun', () => {
  it('plans with the simulated sysctls, so the VIP is allowed after the sysctl task, in one apply script', async () => {
    const t = new FakeTransport('h1', (cmd, opts, n) => {
      if (n === 0) return { stdout: facts };
      const script = stdinOf(cmd, opts);
      const steps = (script.match(/; if \{ /g) ?? []).length;
      return { stdout: marked(Array.from({ length: steps }, (_, i) => [i, 'done'] as const), true) };
    });
    const run = new HostRun('h1', tasks, { get: async () => t, reconnect: async () => t }, { mode: 'run', check: false, diff: true, become: false, commandTimeoutMs: 1000 });
    const r = await run.run();
    expect(r.error).toBeNull();
    expect(r.status).toBe('changed');
    expect(t.calls).toHaveLength(2); // facts + one apply script
    const script = stdinOf(t.calls[1].cmd, t.calls[1].opts);
    const order = [...script.matchAll(/; if \{ (\S+) /g)].map((m) => m[1]);
    expect(order).toEqual(['vp_write', 'vp_sysctl', 'vp_sysctl', 'vp_addr_add']);
    expect(r.tasks[0].diff).toContain('+net.ipv4.conf.all.arp_ignore = 3');
    // vipush's own steps end by themselves: no `timeout` (two more programs per host) around them
    expect(t.calls[1].opts?.hostDeadline).toBe(false);
  });

  it('check mode reads facts only', async () => {
    const t = new FakeTransport('h1', () => ({ stdout: facts }));
    const r = await new HostRun('h1', tasks, { get: async () => t, reconnect: async () => t }, { mode: 'run', check: true, diff: false, become: false, commandTimeoutMs: 1000 }).run();
    expect(t.calls).toHaveLength(1);
    expect(r.status).toBe('changed');
    expect(r.tasks.map((x) => x.status)).toEqual(['changed', 'changed']);
  });

  it('rolls back what took effect, in reverse order, when a step fails', async () => {
    const t = new FakeTransport('h1', (cmd, opts, n) => {
      if (n === 0) return { stdout: facts };
      if (n === 1) return { stdout: marked([[0, 'done'], [1, 'done'], [2, 'done'], [3, 'failed', 'RTNETLINK answers: boom']], false), code: 70 };
      const script = stdinOf(cmd, opts);
      const steps = (script.match(/; if \{ /g) ?? []).length;
      return { stdout: marked(Array.from({ length: steps }, (_, i) => [i, 'done'] as const), true) };
    });
    const r = await new HostRun('h1', tasks, { get: async () => t, reconnect: async () => t }, { mode: 'run', check: false, diff: false, become: false, commandTimeoutMs: 1000 }).run();
    expect(r.status).toBe('failed');
    expect(r.tasks[1].status).toBe('failed');
    expect(r.tasks[1].error).toContain('boom');
    expect(r.rolledBack).toBe(true);
    const revert = stdinOf(t.calls[2].cmd, t.calls[2].opts);
    const order = [...revert.matchAll(/; if \{ (\S+) /g)].map((m) => m[1]);
    // the VIP comes down first, then the sysctls go back, then the file
    expect(order).toEqual(['vp_addr_del', 'vp_sysctl', 'vp_sysctl', 'vp_write']);
    expect(r.restored[0]).toMatch(/^del 198.18.0.250\/32/);
  });
});

describe('the host deadline (timeout) of an apply script', () => {
  const file: Step = { index: 0, taskIndex: 0, change: { kind: 'file', path: '/etc/x', before: null, after: { content: Buffer.from('x'), mode: 0o644 } } };
  const sysctl: Step = { index: 1, taskIndex: 0, change: { kind: 'sysctl-live', key: 'net.ipv4.conf.all.arp_ignore', from: '0', to: '3' } };
  const addr: Step = { index: 2, taskIndex: 1, change: { kind: 'address', op: 'add', family: 4, cidr: '192.0.2.1/32', dev: 'lo', scope: 'host' } };
  it('is left out when every step is one of vipush\'s own (they end by themselves)', () => {
    expect(needsHostDeadline([file, sysctl, addr])).toBe(false);
    expect(needsHostDeadline([])).toBe(false);
  });
  it('is kept for a user\'s command, a backend reload and a dead-man switch', () => {
    expect(needsHostDeadline([file, { index: 3, taskIndex: 2, change: { kind: 'command', argv: ['sleep', '1'], reportChanged: true } }])).toBe(true);
    expect(needsHostDeadline([addr, { index: 3, taskIndex: 1, change: { kind: 'exec', argv: ['netplan', 'apply'], why: 'reload' } }])).toBe(true);
    expect(needsHostDeadline([addr], { id: 'r-h1', timeoutSeconds: 60, revertScript: 'true' })).toBe(true);
  });
  it('a command task\'s apply script runs under one', async () => {
    const t = new FakeTransport('h1', (cmd, opts, n) => {
      if (n === 0) return { stdout: facts };
      const steps = (stdinOf(cmd, opts).match(/; if \{ /g) ?? []).length;
      return { stdout: marked(Array.from({ length: steps }, (_, i) => [i, 'done'] as const), true) };
    });
    const withCommand: ResolvedTask[] = [...tasks, { name: 'reload', module: 'command', source: { file: 'p.yml', line: 20, col: 1 }, args: { argv: ['true'], changedWhen: true } }];
    const r = await new HostRun('h1', withCommand, { get: async () => t, reconnect: async () => t }, { mode: 'run', check: false, diff: false, become: false, commandTimeoutMs: 1000 }).run();
    expect(r.error).toBeNull();
    expect(t.calls[1].opts?.hostDeadline).toBe(true);
  });
});

describe('apply script, run for real by sh on this machine', () => {
  it('starts from a known shell state, whatever the shell ran before it (the facts share its shell)', () => {
    const steps: Step[] = [{ index: 0, taskIndex: 0, change: { kind: 'command', argv: ['sh', '-c', 'printf "%s|" "$@"', 'sh', 'a b', '*'], reportChanged: true } }];
    const before = 'set -e -f; IFS=:; umask 077; x="a:b"\n';
    const r = spawnSync('sh', ['-s'], { input: `${before}${applyScript(steps)}printf 'after %s %s\\n' "$-" "$(umask)"\nfor w in $x; do printf '<%s>' "$w"; done\n` });
    expect(r.status).toBe(0);
    const out = r.stdout.toString();
    expect(parseOutcomes(out).outcomes.get(0)).toMatchObject({ ok: true, output: 'a b|*|' });
    // -e and -f off, -u on, umask 022, IFS back to blanks: "a:b" is one word again
    expect(out).toMatch(/after [^e\s]*u[^e\s]* 0022\n<a:b>$/);
    expect(out).not.toMatch(/after \S*f/);
  });


  it('writes files atomically, keeps the mode, and stops at the first failing step', () => {
    const dir = mkdtempSync(join(tmpdir(), 'vipush-script-'));
    const f = join(dir, 'sysctl.conf');
    writeFileSync(f, 'old\n');
    chmodSync(f, 0o640);
    const steps: Step[] = [
      { index: 0, taskIndex: 0, change: { kind: 'file', path: f, before: { content: Buffer.from('old\n'), mode: 0o640, uid: 0, gid: 0 }, after: { content: Buffer.from("new 'quoted' $(x)\n"), mode: 0o640 } } },
      { index: 1, taskIndex: 0, change: { kind: 'command', argv: ['sh', '-c', 'echo nope >&2; exit 3'], reportChanged: true } },
      { index: 2, taskIndex: 0, change: { kind: 'file', path: join(dir, 'never'), before: null, after: { content: Buffer.from('x'), mode: 0o644 } } },
    ];
    let stdout = '';
    try {
      stdout = execFileSync('sh', ['-s'], { input: applyScript(steps) }).toString();
    } catch (e) {
      stdout = String((e as { stdout: Buffer }).stdout);
      expect((e as { status: number }).status).toBe(70);
    }
    const { outcomes, ended } = parseOutcomes(stdout);
    expect(ended).toBe(false);
    expect(outcomes.get(0)?.ok).toBe(true);
    expect(outcomes.get(1)).toEqual({ index: 1, ok: false, output: 'nope\n'.trimEnd() });
    expect(outcomes.has(2)).toBe(false);
    expect(readFileSync(f, 'utf8')).toBe("new 'quoted' $(x)\n");
    expect(statSync(f).mode & 0o777).toBe(0o640);

    // a write planned against content the file no longer has is refused, and the file kept
    const stale: Step[] = [{ index: 0, taskIndex: 0, change: { kind: 'file', path: f, before: { content: Buffer.from('old\n'), mode: 0o640, uid: 0, gid: 0 }, after: { content: Buffer.from('x'), mode: 0o640 } } }];
    const staleRun = spawnSync('sh', ['-s'], { input: revertScript(stale) });
    expect(staleRun.status).toBe(71);
    const staleOut = parseOutcomes(staleRun.stdout.toString()).outcomes.get(0);
    expect(staleOut).toMatchObject({ ok: false, output: expect.stringContaining('changed since vipush read it') });
    expect(readFileSync(f, 'utf8')).toBe("new 'quoted' $(x)\n");

    const undo: Step[] = [{ index: 0, taskIndex: 0, change: { kind: 'file', path: f, restore: true, before: null, after: { content: Buffer.from('old\n'), mode: 0o640, uid: 0, gid: 0 } } }];
    const out = execFileSync('sh', ['-s'], { input: revertScript(undo) }).toString();
    expect(parseOutcomes(out).ended).toBe(true);
    expect(readFileSync(f, 'utf8')).toBe('old\n');
    expect(execFileSync('ls', ['-A', dir]).toString().trim().split('\n')).toEqual(['sysctl.conf']);
  });
});
