import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { vipush } from '../e2e/vipush-cli.js';

function tree(files: Record<string, string>): string {
  const root = mkdtempSync(join(tmpdir(), 'vipush-cli-inv-'));
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    writeFileSync(join(root, path), text);
  }
  return root;
}

describe('inventory sources on the command line (built CLI, no hosts)', () => {
  const root = tree({
    'inv/hosts.yml': 'realservers:\n  hosts:\n    rs1:\n    rs2:\n    rs3:\n',
    'inv/group_vars/realservers.yml': 'vips: [198.51.100.10]\n',
    'ansible.cfg': '[defaults]\ninventory = inv\nhost_key_checking = False\n',
    'other/hosts.yml': 'canary:\n  hosts:\n    c1:\n',
  });
  const noConfig = { ANSIBLE_CONFIG: join(root, 'none.cfg'), HOME: root };

  it('merges several -i in order, with a comma host list, and reads group_vars beside the inventory', async () => {
    const r = await vipush(['inventory', '-i', join(root, 'inv'), '-i', 'extra1,extra2,', '--list'], { env: noConfig });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const list = JSON.parse(r.stdout) as { _meta: { hostvars: Record<string, unknown> }; ungrouped: { hosts: string[] } };
    expect(list._meta.hostvars.rs2).toEqual({ vips: ['198.51.100.10'] });
    expect(list.ungrouped.hosts).toEqual(['extra1', 'extra2']);
  });

  it('takes the inventory from ansible.cfg when -i is not given, and notes the keys it ignores', async () => {
    const r = await vipush(['inventory', '--limit', 'realservers[1:]'], { env: { ANSIBLE_CONFIG: join(root, 'ansible.cfg'), HOME: root } });
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('rs2\nrs3\n');
    expect(r.stderr).toBe(
      `vipush: note: ${join(root, 'ansible.cfg')}: [defaults] host_key_checking ignored (vipush reads inventory, remote_user, private_key_file, forks, timeout)\n`,
    );
  });

  it('ANSIBLE_INVENTORY beats ansible.cfg, and -i beats both; a bad ANSIBLE_FORKS is one line, exit 3', async () => {
    const env = { ANSIBLE_CONFIG: join(root, 'ansible.cfg'), HOME: root, ANSIBLE_INVENTORY: join(root, 'other') };
    const fromEnv = await vipush(['inventory'], { env });
    expect(fromEnv.code, fromEnv.stderr).toBe(0);
    expect(fromEnv.stdout).toBe('c1\n');
    const fromFlag = await vipush(['inventory', '-i', join(root, 'inv')], { env });
    expect(fromFlag.stdout).toBe('rs1\nrs2\nrs3\n');
    const bad = await vipush(['inventory'], { env: { ...env, ANSIBLE_FORKS: 'many' } });
    expect(bad.code).toBe(3);
    expect(bad.stderr).toBe('vipush: environment variable ANSIBLE_FORKS must be a whole number, not "many"\n');
  });

  it('warns about a --limit term that matches nothing and goes on, as Ansible does', async () => {
    const r = await vipush(['inventory', '-i', join(root, 'inv'), '--limit', 'rs1,nosuch'], { env: noConfig });
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('rs1\n');
    expect(r.stderr).toBe('vipush: warning: --limit: could not match supplied host pattern, ignoring: "nosuch"\n');
  });

  it('refuses a --limit that leaves no host of the inventory, as ansible-playbook does; one that leaves some goes on', async () => {
    const base = ['validate', 'playbooks/hidden-arp.yml', '-i', 'inventory/example.yml', '-e', 'vip=192.0.2.10'];
    const none = await vipush([...base, '--limit', 'nosuch'], { env: noConfig });
    expect(none.code).toBe(3);
    expect(none.stderr).toBe(
      'vipush: warning: --limit: could not match supplied host pattern, ignoring: "nosuch"\nvipush: --limit "nosuch" leaves no host of the inventory to target\n',
    );
    const some = await vipush([...base, '--limit', 'nosuch,web2'], { env: noConfig });
    expect(some.code).toBe(0);
    expect(some.stdout).toContain('1 host(s): valid');
  });
});
