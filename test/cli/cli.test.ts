import { describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { vipush } from '../e2e/vipush-cli.js';
import { inShard } from '../../src/engine/run.js';
import { mergeReports } from '../../src/report/merge.js';
import type { JsonReport } from '../../src/report/json.js';

describe('the CLI contract (built CLI, no hosts)', () => {
  it.each(['run', 'drift', 'validate', 'inventory', 'rollback', 'schedule', 'merge-reports'])('%s --help explains itself with an example', async (cmd) => {
    const r = await vipush([cmd, '--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`^vipush ${cmd} - `));
    expect(r.stdout).toContain('Example');
  });

  it('vipush --help lists every command and the exit codes', async () => {
    const r = await vipush(['--help']);
    expect(r.code).toBe(0);
    for (const c of ['run', 'drift', 'validate', 'inventory', 'rollback', 'schedule', 'merge-reports']) expect(r.stdout).toContain(`vipush ${c}`);
    expect(r.stdout).toContain('3 invalid input or usage');
  });

  it("the seed's typo is one located line on stderr, exit 3, no stack trace", async () => {
    const r = await vipush(['validate', 'test/fixtures/playbooks/bad/seed-typo-vip.yml', '-i', 'inventory/example.yml']);
    expect(r.code).toBe(3);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe(`vipush: ${readFileSync('test/fixtures/playbooks/bad/seed-typo-vip.expected', 'utf8').trim()}\n`);
  });

  it('errors in the playbook and the inventory are reported together', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'vipush-cli-'));
    writeFileSync(join(dir, 'inv.yml'), 'all:\n  hosts:\n    web1: { ansible_port: 70000 }\n');
    writeFileSync(join(dir, 'pb.yml'), '- hosts: all\n  tasks:\n    - name: x\n      adress: { address: 192.0.2.1/32, dev: lo }\n');
    const r = await vipush(['validate', join(dir, 'pb.yml'), '-i', join(dir, 'inv.yml')]);
    expect(r.code).toBe(3);
    const lines = r.stderr.trim().split('\n');
    expect(lines.some((l) => l.includes('pb.yml:4:7') && l.includes('did you mean `address`'))).toBe(true);
    expect(lines.some((l) => l.includes('inv.yml:3:'))).toBe(true);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });

  it('a health gate naming a vantage host the inventory lacks is refused before anything runs', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'vipush-cli-'));
    writeFileSync(join(dir, 'pb.yml'), '- hosts: realservers\n  verify:\n    - arp_owner: { vip: 192.0.2.10, from: nohost, expect: lb1 }\n  tasks: []\n');
    const r = await vipush(['validate', join(dir, 'pb.yml'), '-i', 'inventory/example.yml']);
    expect(r.code).toBe(3);
    expect(r.stderr).toBe(`vipush: ${join(dir, 'pb.yml')}:3:7: arp_owner gate names "nohost", which is neither a host nor a group of inventory/example.yml\n`);
  });

  it('an unknown option or command gets a suggestion and exit 3', async () => {
    const a = await vipush(['run', 'playbooks/hidden-arp.yml', '-i', 'inventory/example.yml', '--forsk', '3']);
    expect(a.code).toBe(3);
    expect(a.stderr).toContain('did you mean --forks?');
    const b = await vipush(['valdate']);
    expect(b.code).toBe(3);
    expect(b.stderr).toContain('did you mean "validate"?');
    const c = await vipush(['run', 'playbooks/hidden-arp.yml', '-i', 'inventory/example.yml', '--shard', '3/2']);
    expect(c.code).toBe(3);
    expect(c.stderr).toContain('--shard must be K/N');
  });

  it('validate and inventory run on the shipped example, as the README says', async () => {
    const v = await vipush(['validate', 'playbooks/hidden-arp.yml', '-i', 'inventory/example.yml']);
    expect(v.code, v.stderr).toBe(0);
    expect(v.stdout).toContain('valid');
    const l = await vipush(['inventory', '-i', 'inventory/example.yml', '--list']);
    expect(l.code).toBe(0);
    const list = JSON.parse(l.stdout) as { _meta: { hostvars: Record<string, unknown> }; realservers: { hosts: string[] } };
    expect(list.realservers.hosts).toEqual(['web1', 'web2', 'web3']);
    expect(Object.keys(list._meta.hostvars)).toContain('web1');
    const p = await vipush(['inventory', '-i', 'inventory/example.yml', '--limit', 'realservers:!web2']);
    expect(p.stdout).toBe('web1\nweb3\n');
  });
});

describe('sharding', () => {
  const hosts = Array.from({ length: 500 }, (_, i) => `web${i}.example`);
  it('puts every host in exactly one shard, whatever the order', () => {
    const n = 4;
    const counts = hosts.map((h) => [1, 2, 3, 4].filter((k) => inShard(h, { index: k, count: n })).length);
    expect(counts.every((c) => c === 1)).toBe(true);
    const sizes = [1, 2, 3, 4].map((k) => hosts.filter((h) => inShard(h, { index: k, count: n })).length);
    for (const s of sizes) expect(s).toBeGreaterThan(80);
  });

  it('merges shard reports, and refuses overlapping ones', () => {
    const base = (runId: string, names: string[], status: 'ok' | 'failed'): JsonReport => ({
      version: 1,
      runId,
      mode: 'run',
      playbook: 'p.yml',
      inventory: 'i.yml',
      startedAt: '2026-11-25T10:00:00.000Z',
      durationMs: 1000,
      check: false,
      hosts: Object.fromEntries(names.map((n) => [n, { status, rolledBack: false, restored: [], tasks: [], drift: [], error: null, durationMs: 1 }])),
      untouched: [],
      stoppedReason: null,
      gates: [{ play: 'p', batch: 0, name: `arp_owner ${runId}`, ok: true, detail: 'only lb1 answered' }],
      summary: { ok: 0, changed: 0, failed: 0, unreachable: 0, skipped: 0 },
    });
    const m = mergeReports([
      { file: 'a.json', report: base('a', ['h1', 'h3'], 'ok') },
      { file: 'b.json', report: base('b', ['h2'], 'failed') },
    ]);
    expect(Object.keys(m.hosts)).toEqual(['h1', 'h2', 'h3']);
    expect(m.summary).toMatchObject({ ok: 2, failed: 1 });
    expect(m.gates.map((g) => g.name)).toEqual(['arp_owner a', 'arp_owner b']);
    expect(() =>
      mergeReports([
        { file: 'a.json', report: base('a', ['h1'], 'ok') },
        { file: 'b.json', report: base('b', ['h1'], 'ok') },
      ]),
    ).toThrow(/h1 is also in a.json/);
  });
});
