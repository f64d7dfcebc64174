import { describe, expect, it } from 'vitest';
import { cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { vipush } from '../e2e/vipush-cli.js';

/** The example project (inventory/production, playbooks/vip-list.yml) through the built CLI, no hosts. */
describe('the VIP-list example project (built CLI, no hosts)', () => {
  it('validates as shipped', async () => {
    const r = await vipush(['validate', 'playbooks/vip-list.yml', '-i', 'inventory/production']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('3 host(s): valid');
  });

  it('a typo in an item of group_vars is one located line, naming the item, and no host is contacted', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'vipush-vip-list-'));
    cpSync('inventory/production', join(dir, 'production'), { recursive: true });
    const vars = join(dir, 'production', 'group_vars', 'realservers.yml');
    writeFileSync(vars, readFileSync(vars, 'utf8').replace('  - address: 192.0.2.101/32', '  - adress: 192.0.2.101/32'));
    const r = await vipush(['run', 'playbooks/vip-list.yml', '-i', join(dir, 'production')]);
    expect(r.code).toBe(3);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(
      /^vipush: playbooks\/vip-list\.yml:\d+:\d+: "vip" has no key "address" \(did you mean "adress"\?\) \(from var "vip", .*group_vars\/realservers\.yml:\d+:\d+\) \[loop item 1 \(.*"adress":"192\.0\.2\.101\/32".*\)\]\n$/,
    );
  });

  it('an unsupported `when` is one located line that says what is supported', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'vipush-vip-list-'));
    const pb = join(dir, 'pb.yml');
    writeFileSync(pb, readFileSync('playbooks/vip-list.yml', 'utf8').replace(/when: .*/, 'when: vip.weight > 2'));
    const r = await vipush(['validate', pb, '-i', 'inventory/production']);
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/^vipush: .*pb\.yml:\d+:\d+: `when` "vip\.weight > 2": ">" \(column 12\) is not supported \(vipush supports only .*\)\n$/);
  });
});
