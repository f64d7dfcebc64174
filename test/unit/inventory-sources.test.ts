import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ansibleEnvironment, findAnsibleConfig, parseAnsibleConfig } from '../../src/cli/ansible-cfg.js';
import { UserInputError } from '../../src/errors.js';
import { loadInventory, withPlaybookVars } from '../../src/inventory/load.js';
import { pythonLiteral } from '../../src/inventory/python-literal.js';
import { hostVars } from '../../src/inventory/vars.js';

function tree(files: Record<string, string>): string {
  const root = mkdtempSync(join(tmpdir(), 'vipush-inv-'));
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    writeFileSync(join(root, path), text);
  }
  return root;
}

async function refusal(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(UserInputError);
    return (e as Error).message;
  }
  throw new Error('expected a refusal');
}

describe('pythonLiteral (ast.literal_eval)', () => {
  it('types what Python reads as a literal and nothing else', () => {
    const cases: [string, unknown][] = [
      ['True', true],
      ['None', null],
      ['42', 42],
      ['-3', -3],
      ['0x1F', 31],
      ['0o17', 15],
      ['0b101', 5],
      ['1_000', 1000],
      ['1.5', 1.5],
      ['1e3', 1000],
      ['.5', 0.5],
      ['"a\\tb"', 'a\tb'],
      ["'it''s'", 'its'],
      ["r'a\\n'", 'a\\n'],
      ["b'xy'", 'xy'],
      ["[1, 'a', None]", [1, 'a', null]],
      ['(1, 2)', [1, 2]],
      ['(1)', 1],
      ["{'k': [1, 2], 1: True}", { k: [1, 2], 1: true }],
      ['"x"  # comment', 'x'],
    ];
    for (const [text, value] of cases) expect(pythonLiteral(text), text).toEqual({ value });
    for (const text of ['yes', 'true', 'no', '02:30', '01', '{{ x }}', '{{x}}', 'a b', '1+2', '{1, 2}', '-[1]', 'inf', '1j', '[1,', "'open", 'x=1']) {
      expect(pythonLiteral(text), text).toBeUndefined();
    }
  });

  it('reads long values in one pass (a quadratic reader would not finish before the test times out)', () => {
    expect((pythonLiteral(`[${'1,'.repeat(200_000)}]`)?.value as unknown[] | undefined)?.length).toBe(200_000);
    expect(pythonLiteral("'a' ".repeat(100_000))).toEqual({ value: 'a'.repeat(100_000) });
  });

  it('refuses nesting deeper than its bound instead of overflowing the stack', () => {
    expect(pythonLiteral(`${'['.repeat(5000)}${']'.repeat(5000)}`)).toBeUndefined();
  });
});

describe('group_vars and host_vars', () => {
  it('applies Ansible precedence across the inventory, its directory and the playbook directory', async () => {
    const root = tree({
      'inv/hosts': '[web]\nweb1 v=host-inline\nweb2\n[all:vars]\na=ini-all\nv=ini-all\n[web:vars]\nw=ini-web\n',
      'inv/group_vars/all.yml': 'a: gv-all\nw: gv-all\n',
      'inv/group_vars/web/01.yml': 'w: gv-web-01\nx: 1\n',
      'inv/group_vars/web/02.yml': 'x: 2\n',
      'inv/host_vars/web1': 'v: hv\n',
      'play/group_vars/all.yml': 'a: pb-all\n',
      'play/group_vars/web.yml': 'x: pb-web\n',
      'play/host_vars/web2.yml': 'w: pb-hv\n',
    });
    const inv = await loadInventory(join(root, 'inv/hosts'), { playbookDir: join(root, 'play') });
    const plain = (h: string) =>
      Object.fromEntries([...hostVars(inv, h)].filter(([k]) => !k.startsWith('inventory_') && k !== 'group_names').map(([k, v]) => [k, v.value]));
    expect(plain('web1')).toEqual({ a: 'pb-all', v: 'hv', w: 'gv-web-01', x: 'pb-web' });
    expect(plain('web2')).toEqual({ a: 'pb-all', v: 'ini-all', w: 'pb-hv', x: 'pb-web' });
    // every value says where it came from
    expect(hostVars(inv, 'web1').get('x')?.source).toEqual({ file: join(root, 'play/group_vars/web.yml'), line: 1, col: 4 });
  });

  it('adds the playbook directory to an inventory already loaded (withPlaybookVars)', async () => {
    const root = tree({ 'hosts.yml': 'web:\n  hosts:\n    web1:\n', 'group_vars/web.yml': 'x: inv\n', 'pb/group_vars/web.yml': 'x: pb\n' });
    const inv = await loadInventory(join(root, 'hosts.yml'));
    expect(hostVars(inv, 'web1').get('x')?.value).toBe('inv');
    expect(hostVars(await withPlaybookVars(inv, join(root, 'pb')), 'web1').get('x')?.value).toBe('pb');
  });

  it('refuses a vars file that is not a mapping, a vault file and a bad connection value, at the place', async () => {
    const root = tree({
      hosts: '[web]\nweb1\n[db]\ndb1\n',
      'group_vars/web.yml': '- a\n- b\n',
      'group_vars/db.yml': '$ANSIBLE_VAULT;1.1;AES256\n6162\n',
      'host_vars/web1.yml': 'ansible_port: 99999\n',
    });
    const message = await refusal(loadInventory(join(root, 'hosts')));
    expect(message).toContain(`${join(root, 'group_vars/web.yml')}:1:1: a variables file must be a mapping`);
    expect(message).toContain(`${join(root, 'group_vars/db.yml')}:1:1: Ansible Vault files are not supported`);
    expect(message).toContain(`${join(root, 'host_vars/web1.yml')}:1:15: ansible_port must be an integer from 1 to 65535`);
  });
});

describe('inventory sources', () => {
  it('reads a directory in name order, skipping what Ansible skips, then several -i and comma lists in order', async () => {
    const root = tree({
      'dir/b.yml': 'web:\n  hosts:\n    web2:\n',
      'dir/a': '[web]\nweb1\n',
      'dir/c.ini': '[skipped]\nini1\n',
      'dir/.hidden': 'hidden1\n',
      'dir/notes.md': 'md1\n',
      'dir/group_vars/web.yml': 'from_dir: yes\n',
    });
    const inv = await loadInventory([join(root, 'dir'), 'extra1, extra2:2222,']);
    expect([...inv.hosts.keys()]).toEqual(['web1', 'web2', 'extra1', 'extra2']);
    expect(hostVars(inv, 'web2').get('from_dir')?.value).toBe(true);
    expect(hostVars(inv, 'extra2').get('ansible_port')?.value).toBe(2222);
    expect(inv.groups.get('ungrouped')?.hosts).toEqual(['extra1', 'extra2']);
  });

  it('refuses TOML and inventory scripts with a located "not supported"', async () => {
    const root = tree({ 'hosts.toml': '[web]\n' });
    expect(await refusal(loadInventory(join(root, 'hosts.toml')))).toBe(
      `${join(root, 'hosts.toml')}:1:1: TOML inventories are not supported; write the inventory as YAML or INI`,
    );
  });
});

describe('ansible.cfg', () => {
  it('reads [defaults] inventory, remote_user, private_key_file, forks, timeout; paths from the file directory', () => {
    const cfg = parseAnsibleConfig(
      '[defaults]\ninventory = inventory/production, extra.yml\nremote_user: deploy\nprivate_key_file = ~/.ssh/id_vip\nforks=20 ; inline\nTimeout = 15\nhost_key_checking = False\n[ssh_connection]\npipelining = True\n',
      '/srv/project/ansible.cfg',
      { HOME: '/home/me' },
    );
    expect(Object.fromEntries(cfg.values)).toEqual({
      inventory: ['/srv/project/inventory/production', '/srv/project/extra.yml'],
      'ansible.cfg remote_user': 'deploy',
      'ansible.cfg private_key_file': '/home/me/.ssh/id_vip',
      forks: '20',
      'connect-timeout': '15',
    });
    expect(cfg.ignored).toEqual(['host_key_checking']);
    expect(() => parseAnsibleConfig('[defaults]\nforks = many\n', '/p/ansible.cfg')).toThrow('/p/ansible.cfg:2:1: forks must be a whole number, not "many"');
  });

  it('is found as Ansible finds it: ANSIBLE_CONFIG, then ./ansible.cfg, then ~/.ansible.cfg', async () => {
    const root = tree({ 'cwd/ansible.cfg': '', 'home/.ansible.cfg': '', 'env/ansible.cfg': '' });
    const home = join(root, 'home');
    expect(await findAnsibleConfig({ HOME: home, ANSIBLE_CONFIG: join(root, 'env') }, join(root, 'cwd'))).toBe(join(root, 'env/ansible.cfg'));
    expect(await findAnsibleConfig({ HOME: home }, join(root, 'cwd'))).toBe(join(root, 'cwd/ansible.cfg'));
    expect(await findAnsibleConfig({ HOME: home }, root)).toBe(join(home, '.ansible.cfg'));
  });

  it("reads Ansible's environment variables for the same settings: paths from the current directory, empty ones unset", () => {
    const env = {
      HOME: '/home/me',
      ANSIBLE_INVENTORY: 'inventory/production,~/extra.yml,',
      ANSIBLE_REMOTE_USER: 'deploy',
      ANSIBLE_PRIVATE_KEY_FILE: 'keys/id_vip',
      ANSIBLE_FORKS: '30',
      ANSIBLE_TIMEOUT: '',
    };
    expect(Object.fromEntries(ansibleEnvironment(env, '/srv/project'))).toEqual({
      inventory: ['/srv/project/inventory/production', '/home/me/extra.yml'],
      'ansible.cfg remote_user': 'deploy',
      'ansible.cfg private_key_file': '/srv/project/keys/id_vip',
      forks: '30',
    });
    expect(() => ansibleEnvironment({ ANSIBLE_TIMEOUT: '5s' }, '/')).toThrow('environment variable ANSIBLE_TIMEOUT must be a whole number, not "5s"');
  });
});
