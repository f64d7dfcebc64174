import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { UserInputError } from '../../src/errors.js';
import { detectInventoryFormat, loadInventory, parseInventoryText } from '../../src/inventory/load.js';
import { inventoryList } from '../../src/inventory/list.js';
import type { Inventory, Vars } from '../../src/inventory/types.js';
import { connectionVars, hostVars, mergeVars, parseExtraVars } from '../../src/inventory/vars.js';

const good = join(dirname(fileURLToPath(import.meta.url)), '../fixtures/inventory/good');
const sitePath = (ext: string): string => relative(process.cwd(), join(good, `site.${ext}`));

const plain = (vars: Vars): Record<string, unknown> => Object.fromEntries([...vars].map(([k, v]) => [k, v.value]));
const varsOf = (inv: Inventory, host: string): Record<string, unknown> => plain(hostVars(inv, host));
const groupShape = (inv: Inventory): Record<string, { hosts: string[]; children: string[]; vars: Record<string, unknown> }> =>
  Object.fromEntries([...inv.groups.values()].map((g) => [g.name, { hosts: g.hosts, children: g.children, vars: plain(g.vars) }]));

function loadError(text: string, file: string): string[] {
  try {
    parseInventoryText(text, file);
  } catch (e) {
    expect(e).toBeInstanceOf(UserInputError);
    return (e as Error).message.split('\n');
  }
  throw new Error(`expected ${file} to be refused`);
}

describe('site inventory, YAML and INI', () => {
  it('gives the same hosts, groups and merged vars in both formats', async () => {
    const yml = await loadInventory(sitePath('yml'));
    const ini = await loadInventory(sitePath('ini'));
    expect([...yml.hosts.keys()]).toEqual(['bastion', 'lb1', 'web01', 'web02', 'web03', 'api1']);
    expect([...ini.hosts.keys()]).toEqual([...yml.hosts.keys()]);
    expect(groupShape(ini)).toEqual(groupShape(yml));
    for (const host of yml.hosts.keys()) expect(varsOf(ini, host)).toEqual(varsOf(yml, host));
    expect(inventoryList(ini)).toEqual(inventoryList(yml));
  });

  it('resolves the example the way Ansible would', async () => {
    const inv = await loadInventory(sitePath('yml'));
    expect(varsOf(inv, 'web01')).toEqual({
      ansible_user: 'deploy',
      ansible_host: '192.0.2.11',
      ansible_become: true,
      arp_ignore: 1, // realservers (depth 2) overrides lvs (depth 1) which overrides all
      arp_announce: 2,
      persist: 'auto',
      vip: '192.0.2.10',
      http_port: 80,
      weight: 2,
      datacenter: 'east',
      ntp_server: 'ntp-east.example.com',
      inventory_hostname: 'web01',
      inventory_hostname_short: 'web01',
      group_names: ['lvs', 'realservers', 'site_east', 'web'],
    });
    expect(varsOf(inv, 'lb1')).toMatchObject({ arp_ignore: 3, group_names: ['directors', 'lvs'] });
    expect(varsOf(inv, 'bastion').group_names).toEqual([]);
    expect(varsOf(inv, 'api1')).toMatchObject({ ansible_port: 2222, persist: 'netplan', http_port: 8080 });
  });

  it('always has all and ungrouped; only hosts with no other group are ungrouped', async () => {
    for (const ext of ['yml', 'ini']) {
      const inv = await loadInventory(sitePath(ext));
      expect(inv.groups.get('all')!.children).toEqual(['ungrouped', 'lvs', 'site_east', 'site_west']);
      expect(inv.groups.get('ungrouped')!.hosts).toEqual(['bastion']);
      expect(inv.groups.get('all')!.hosts).toEqual([...inv.hosts.keys()]);
    }
    const empty = parseInventoryText('', 'empty.ini');
    expect([...empty.groups.keys()]).toEqual(['all', 'ungrouped']);
    expect(empty.hosts.size).toBe(0);
  });

  it('keeps file:line:col for hosts, groups and vars', async () => {
    const yml = await loadInventory(sitePath('yml'));
    expect(yml.hosts.get('lb1')!.source).toEqual({ file: sitePath('yml'), line: 20, col: 13 });
    expect(yml.hosts.get('lb1')!.vars.get('ansible_host')!.source).toEqual({ file: sitePath('yml'), line: 21, col: 29 });
    expect(yml.groups.get('realservers')!.source).toEqual({ file: sitePath('yml'), line: 22, col: 9 });
    const ini = await loadInventory(sitePath('ini'));
    expect(ini.hosts.get('lb1')!.source).toEqual({ file: sitePath('ini'), line: 20, col: 1 });
    expect(ini.hosts.get('lb1')!.vars.get('ansible_host')!.source).toEqual({ file: sitePath('ini'), line: 20, col: 18 });
    expect(ini.groups.get('directors')!.vars.size).toBe(0);
    expect(ini.groups.get('lvs')!.vars.get('vip')!.source).toEqual({ file: sitePath('ini'), line: 16, col: 5 });
  });
});

describe('variable precedence', () => {
  const nested = `
all:
  vars: {level: all, from_all: 1}
  children:
    parent:
      vars: {level: parent, from_parent: 1}
      children:
        child:
          vars: {level: child}
          hosts:
            h1:
            h2: {level: host}
`;
  it('is all < parent group < child group < host', () => {
    const inv = parseInventoryText(nested, 'nested.yml');
    expect(varsOf(inv, 'h1')).toMatchObject({ level: 'child', from_all: 1, from_parent: 1 });
    expect(varsOf(inv, 'h2')).toMatchObject({ level: 'host', from_all: 1, from_parent: 1 });
    expect(hostVars(inv, 'h1').get('level')!.source).toEqual({ file: 'nested.yml', line: 9, col: 25 });
  });

  it('orders groups by depth, then name, not by where they are written', () => {
    // "zeta" sorts after "alpha", so it wins between siblings; the deeper "deep" beats both.
    const inv = parseInventoryText(
      `
zeta:
  vars: {v: zeta, w: zeta}
  hosts: {h1: }
alpha:
  vars: {v: alpha, w: alpha}
  hosts: {h1: }
  children:
    deep:
      vars: {w: deep}
      hosts: {h1: }
`,
      'siblings.yml',
    );
    expect(varsOf(inv, 'h1')).toMatchObject({ v: 'zeta', w: 'deep', group_names: ['alpha', 'deep', 'zeta'] });
  });

  it('lets ansible_group_priority reorder groups of the same depth', () => {
    const inv = parseInventoryText('[a]\nh1\n[b]\nh1\n[a:vars]\nv=a\nansible_group_priority=10\n[b:vars]\nv=b\n', 'priority.ini');
    expect(varsOf(inv, 'h1').v).toBe('a');
  });

  it('merges a host defined in several groups, the later value winning', () => {
    const inv = parseInventoryText('[web]\nh1 a=1 b=1\n[db]\nh1 b=2\n', 'twice.ini');
    expect(varsOf(inv, 'h1')).toMatchObject({ a: 1, b: 2, group_names: ['db', 'web'] });
    expect(inv.hosts.get('h1')!.source.line).toBe(2);
  });

  it('merges a group written in several places', () => {
    const inv = parseInventoryText(
      `
all:
  children:
    east:
      children:
        web: {hosts: {w1: }, vars: {a: 1}}
    west:
      children:
        web: {hosts: {w2: }, vars: {b: 2}}
`,
      'twice.yml',
    );
    expect(inv.groups.get('web')!.hosts).toEqual(['w1', 'w2']);
    expect(varsOf(inv, 'w1')).toMatchObject({ a: 1, b: 2, group_names: ['east', 'web', 'west'] });
  });

  it('mergeVars: later layers win, inputs untouched', () => {
    const at = { file: 'x', line: 1, col: 1 };
    const a: Vars = new Map([
      ['x', { value: 1, source: at }],
      ['y', { value: 1, source: at }],
    ]);
    const b: Vars = new Map([['y', { value: 2, source: at }]]);
    expect(plain(mergeVars(a, b))).toEqual({ x: 1, y: 2 });
    expect(plain(mergeVars(b, a))).toEqual({ x: 1, y: 1 });
    expect(a.get('y')!.value).toBe(1);
  });

  it('refuses a host that is not in the inventory', () => {
    const inv = parseInventoryText('h1\n', 'one.ini');
    expect(() => hostVars(inv, 'h2')).toThrow('host "h2" is not in inventory one.ini');
  });
});

describe('INI specifics', () => {
  it('types inline values as Ansible does, through Python literals (yes and true stay text)', () => {
    const inv = parseInventoryText(
      `h1 n=42 neg=-3 f=1.5 t=true y=yes No=no T=True F=False s=hello q="42" qq="'42'" sq='yes' tmpl={{x}} path=/a/b lst=[1,2] empty= spaced="a b" # comment\n`,
      'types.ini',
    );
    expect(plain(inv.hosts.get('h1')!.vars)).toEqual({
      n: 42,
      neg: -3,
      f: 1.5,
      t: 'true',
      y: 'yes',
      No: 'no',
      T: true,
      F: false,
      s: 'hello',
      // shlex takes the quotes away first, as in Ansible: "42" is 42, "'42'" is the string
      q: 42,
      qq: '42',
      tmpl: '{{x}}',
      sq: 'yes',
      path: '/a/b',
      lst: [1, 2],
      empty: '',
      spaced: 'a b',
    });
  });

  it('reads [group:vars] values to the end of the line, unquoting a quoted value', () => {
    const inv = parseInventoryText('[g]\nh1\n[g:vars]\nmotd = hello world\nport=22\nq = "x y"\n', 'vars.ini');
    expect(plain(inv.groups.get('g')!.vars)).toEqual({ motd: 'hello world', port: 22, q: 'x y' });
  });

  it('accepts children declared before the group, comments with # and ;', () => {
    const inv = parseInventoryText('; top\n[p:children]\nc  # the child\n\n[c]\nh1\n', 'order.ini');
    expect(inv.groups.get('p')!.children).toEqual(['c']);
    expect(varsOf(inv, 'h1').group_names).toEqual(['c', 'p']);
  });
});

describe('host ranges and ports', () => {
  it('expands numeric, padded, stepped and letter ranges', () => {
    const inv = parseInventoryText('[g]\nweb[01:03]\nn[8:12:2].example.com\ndb-[a:c]\n', 'ranges.ini');
    expect([...inv.hosts.keys()]).toEqual(['web01', 'web02', 'web03', 'n8.example.com', 'n10.example.com', 'n12.example.com', 'db-a', 'db-b', 'db-c']);
  });

  it('reads host:port and [IPv6]:port', () => {
    const inv = parseInventoryText('all:\n  hosts:\n    web1:2222:\n    "[2001:db8::1]:2200":\n    "2001:db8::2":\n', 'ports.yml');
    expect([...inv.hosts.keys()]).toEqual(['web1', '2001:db8::1', '2001:db8::2']);
    expect(inv.hosts.get('web1')!.vars.get('ansible_port')!.value).toBe(2222);
    expect(inv.hosts.get('2001:db8::1')!.vars.get('ansible_port')!.value).toBe(2200);
    expect(inv.hosts.get('2001:db8::2')!.vars.has('ansible_port')).toBe(false);
  });

  it('refuses bad and oversized ranges', () => {
    expect(loadError('[g]\nweb[3:1]\n', 'r.ini')).toEqual(['r.ini:2:1: host range [3:1] in "web[3:1]" must have begin <= end']);
    expect(loadError('[g]\nweb[0:99999999]\n', 'r.ini')).toEqual(['r.ini:2:1: host range [0:99999999] in "web[0:99999999]" expands to more than 10000 hosts']);
    expect(loadError('[g]\nweb[01:100]\n', 'r.ini')).toEqual(['r.ini:2:1: host range [01:100] in "web[01:100]" must have begin and end of equal length']);
  });
});

describe('format detection', () => {
  it('uses the extension, then the first meaningful line', () => {
    expect(detectInventoryFormat('x.yaml', '[web]')).toBe('yaml');
    expect(detectInventoryFormat('x.ini', 'all:')).toBe('ini');
    expect(detectInventoryFormat('hosts', '# c\n\nall:\n  hosts:\n')).toBe('yaml');
    expect(detectInventoryFormat('hosts', '---\nall:\n')).toBe('yaml');
    expect(detectInventoryFormat('hosts', '; c\n[web]\nweb1\n')).toBe('ini');
    expect(detectInventoryFormat('hosts', 'web1 ansible_host=192.0.2.1\n')).toBe('ini');
    expect(detectInventoryFormat('hosts', 'web1:2222\n')).toBe('ini');
  });

  it('reports a missing file as one line', async () => {
    await expect(loadInventory('test/fixtures/inventory/good/nonexistent.yml')).rejects.toThrow('test/fixtures/inventory/good/nonexistent.yml: file not found');
  });
});

describe('connectionVars', () => {
  it('resolves how to reach a host from its merged vars', async () => {
    const inv = await loadInventory(sitePath('yml'));
    expect(connectionVars('api1', hostVars(inv, 'api1'))).toEqual({
      host: 'api1',
      address: '192.0.2.21',
      port: 2222,
      user: 'deploy',
      become: true,
    });
    expect(connectionVars('web02', hostVars(inv, 'web02'))).toEqual({ host: 'web02', address: 'web02', user: 'deploy', become: true });
    expect(connectionVars('bastion', hostVars(inv, 'bastion'))).toEqual({ host: 'bastion', address: '192.0.2.1', user: 'deploy', become: false });
  });

  it('accepts -e strings for ports and booleans, and checks -e values', async () => {
    const inv = await loadInventory(sitePath('yml'));
    const extra = parseExtraVars(['ansible_port=2200 ansible_become=no', 'ansible_become_user=postgres ansible_ssh_private_key_file=/k/id']);
    expect(connectionVars('api1', mergeVars(hostVars(inv, 'api1'), extra))).toMatchObject({
      port: 2200,
      become: false,
      becomeUser: 'postgres',
      privateKeyFile: '/k/id',
    });
    const hostile = parseExtraVars(['ansible_host=$(reboot)', 'ansible_port=99999']);
    expect(() => connectionVars('api1', mergeVars(hostVars(inv, 'api1'), hostile))).toThrow(
      [
        '<command line>:1:1: host "api1": ansible_host "$(reboot)" is not a hostname or IP address',
        '<command line>:1:1: host "api1": ansible_port must be an integer from 1 to 65535, got "99999"',
      ].join('\n'),
    );
  });
});

describe('parseExtraVars', () => {
  it('reads several KEY=VALUE pairs per -e, with quotes, as strings', () => {
    const vars = parseExtraVars(['vip=192.0.2.10 weight=3', `msg="two words" other='x=y'`, 'vip=192.0.2.20']);
    expect(plain(vars)).toEqual({ vip: '192.0.2.20', weight: '3', msg: 'two words', other: 'x=y' });
    expect(vars.get('weight')!.source).toEqual({ file: '<command line>', line: 1, col: 16 });
    expect(vars.get('other')!.source).toEqual({ file: '<command line>', line: 1, col: 17 });
  });

  it('reports every malformed pair', () => {
    expect(() => parseExtraVars(['a=1 b', '=x', '@vars.yml', 'bad-key=1', 'q="open', ''])).toThrow(
      [
        '<command line>:1:5: -e expects KEY=VALUE, got a word without "=" (not shown: it may be a secret)',
        '<command line>:1:1: -e expects KEY=VALUE, got "=…" with no variable name before "="',
        '<command line>:1:1: -e "@vars.yml": reading vars from a file is not supported; pass KEY=VALUE pairs',
        '<command line>:1:1: -e variable name "bad-key" is not valid: use letters, digits and _, not starting with a digit',
        '<command line>:1:3: -e "q=…": unterminated double quote',
        '<command line>:1:1: -e needs KEY=VALUE, got nothing',
      ].join('\n'),
    );
  });
});

describe('parseExtraVars and secrets', () => {
  it('never echoes a value in its errors, which may hold a password', () => {
    let message = '';
    try {
      parseExtraVars(["ansible_become_pass='hunter2", 'hunter3', 'x=1 =hunter4', '"hunter5']);
    } catch (e) {
      message = (e as Error).message;
    }
    expect(message.split('\n')).toHaveLength(4);
    expect(message).toContain('"ansible_become_pass=…": unterminated single quote');
    expect(message).not.toMatch(/hunter/);
  });
});

describe('inventoryList', () => {
  it('has the shape of ansible-inventory --list', () => {
    const inv = parseInventoryText(
      `
all:
  vars: {ntp: pool}
  hosts:
    loner:
  children:
    lvs:
      children:
        web:
          hosts:
            w1: {weight: 2}
            w2:
        empty:
    plain:
`,
      'list.yml',
    );
    const list = inventoryList(inv);
    expect(list).toEqual({
      _meta: { hostvars: { loner: { ntp: 'pool' }, w1: { ntp: 'pool', weight: 2 }, w2: { ntp: 'pool' } } },
      all: { children: ['ungrouped', 'lvs', 'plain'] },
      lvs: { children: ['web', 'empty'] },
      ungrouped: { hosts: ['loner'] },
      web: { hosts: ['w1', 'w2'] },
    });
    // Keys come sorted, as `ansible-inventory` prints them.
    expect(Object.keys(list)).toEqual(['_meta', 'all', 'lvs', 'ungrouped', 'web']);
    expect(JSON.stringify(list)).not.toContain('inventory_hostname');
  });

  it('omits hosts without vars and respects a limit', () => {
    const inv = parseInventoryText('[web]\nw1 a=1\nw2\n[db]\nd1\n', 'limit.ini');
    expect(inventoryList(inv)).toEqual({
      _meta: { hostvars: { w1: { a: 1 } } },
      all: { children: ['ungrouped', 'web', 'db'] },
      web: { hosts: ['w1', 'w2'] },
      db: { hosts: ['d1'] },
    });
    expect(inventoryList(inv, 'w2:db')).toEqual({
      _meta: { hostvars: {} },
      all: { children: ['ungrouped', 'web', 'db'] },
      web: { hosts: ['w2'] },
      db: { hosts: ['d1'] },
    });
  });
});
