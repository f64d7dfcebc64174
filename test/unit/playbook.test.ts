import { describe, expect, test } from 'vitest';
import { loadPlaybook, parsePlaybook } from '../../src/config/playbook.js';
import { resolvePlayForHost } from '../../src/config/resolve.js';
import { suggest, editDistance } from '../../src/config/suggest.js';
import type { Play } from '../../src/config/types.js';
import { UserInputError } from '../../src/errors.js';
import type { Vars } from '../../src/inventory/types.js';

function loadErrors(text: string, file = 'site.yml'): string[] {
  try {
    parsePlaybook(text, file);
  } catch (e) {
    if (e instanceof UserInputError) return e.message.split('\n');
    throw e;
  }
  throw new Error('expected the playbook to be refused');
}

function hostVars(play: Play, extra: Record<string, unknown> = {}): Vars {
  const vars: Vars = new Map(play.vars);
  for (const [name, value] of Object.entries(extra)) vars.set(name, { value, source: { file: '<extra vars>', line: 1, col: 1 } });
  return vars;
}

describe('playbooks/hidden-arp.yml', () => {
  test('loads cleanly with the seed configuration', async () => {
    const pb = await loadPlaybook('playbooks/hidden-arp.yml');
    expect(pb.plays).toHaveLength(1);
    const [play] = pb.plays;
    expect(play.hosts).toBe('realservers');
    expect(play.vars.get('vip')?.value).toBe('192.168.0.181');
    expect(play.tasks.map((t) => t.module)).toEqual(['sysctl', 'address']);

    const r = resolvePlayForHost(play, hostVars(play));
    expect(r.diagnostics).toEqual([]);
    expect(r.tasks.map((t) => t.args)).toEqual([
      { file: '/etc/sysctl.conf', set: { 'net.ipv4.conf.all.arp_ignore': '3', 'net.ipv4.conf.all.arp_announce': '2' }, apply: true },
      { address: '192.168.0.181/32', family: 4, dev: 'lo', scope: 'host', label: 'lo:1', state: 'present', persist: 'auto', allowArp: false },
    ]);
    expect(r.tasks[1].name).toBe('VIP 192.168.0.181 on loopback');
  });

  test('an extra var overrides the default VIP', async () => {
    const [play] = (await loadPlaybook('playbooks/hidden-arp.yml')).plays;
    const r = resolvePlayForHost(play, hostVars(play, { vip: '10.0.0.80' }));
    expect(r.diagnostics).toEqual([]);
    expect(r.tasks[1].args).toMatchObject({ address: '10.0.0.80/32' });
  });
});

describe('loadPlaybook', () => {
  test("the brief's example loads, with defaults and every field read", async () => {
    const pb = await loadPlaybook('test/fixtures/playbooks/good/brief-example.yml');
    const [play] = pb.plays;
    expect(play.serial).toEqual([{ count: 1 }, { percent: 25 }, { percent: 100 }]);
    expect(play.maxFailPercentage).toBe(0);
    expect(play.tasks.map((t) => [t.module, t.changedWhen])).toEqual([
      ['sysctl', undefined],
      ['address', undefined],
      ['command', undefined],
      ['command', false],
    ]);
    expect(play.verify.map((g) => g.kind)).toEqual(['arp_owner', 'http', 'command']);
    expect(play.verify[1]).toMatchObject({ kind: 'http', url: 'http://{{ vip }}/', from: 'client', expectStatus: 200 });

    const r = resolvePlayForHost(play, hostVars(play));
    expect(r.diagnostics).toEqual([]);
    expect(r.tasks[2].args).toEqual({ argv: ['systemctl', 'reload', 'nginx'], changedWhen: true });
    expect(r.tasks[3].args).toEqual({ argv: ['touch', '/tmp/x'], creates: '/tmp/x', removes: '/tmp/z', changedWhen: false, confirm: false });
    expect(r.gates.map((g) => ('vip' in g ? g.vip : 'url' in g ? g.url : g.argv))).toEqual(['192.168.0.181', 'http://192.168.0.181/', ['true']]);
  });

  test('records where each task, play, var and arg value is written', () => {
    const pb = parsePlaybook(
      [
        '- name: p', //             1
        '  hosts: web', //          2
        '  vars:', //               3
        '    vip: 10.0.0.1', //     4
        '  tasks:', //              5
        '    - name: t', //         6
        '      sysctl:', //         7
        '        set:', //          8
        '          net/x: 1', //    9
        '        apply: no', //     10
      ].join('\n'),
      'f.yml',
    );
    const [play] = pb.plays;
    expect(play.source).toEqual({ file: 'f.yml', line: 1, col: 3 });
    expect(play.vars.get('vip')).toEqual({ value: '10.0.0.1', source: { file: 'f.yml', line: 4, col: 10 } });
    const [task] = play.tasks;
    expect(task.source).toEqual({ file: 'f.yml', line: 6, col: 7 });
    expect([...task.argSources].map(([p, l]) => `${p} ${l.line}:${l.col}`)).toEqual([' 8:9', '/set 9:11', '/set/net~1x 9:18', '/apply 10:16']);
    // YAML 1.1, as Ansible reads it: `no` is false
    expect(task.args).toEqual({ set: { 'net/x': 1 }, apply: false });
  });

  test('scalars resolve as PyYAML resolves them (Ansible), not as the yaml package would', () => {
    const value = (v: string) => parsePlaybook(`- hosts: web\n  vars: { v: ${v} }\n  tasks: []\n`, 'f.yml').plays[0].vars.get('v')?.value;
    // the same in both
    expect([value('yes'), value('No'), value('on'), value('OFF'), value('true')]).toEqual([true, false, true, false, true]);
    expect([value('017'), value('0x1F'), value('1_000'), value('12:30'), value('1.5'), value('1.0e+3'), value('.5')]).toEqual([
      15, 31, 1000, 750, 1.5, 1000, 0.5,
    ]);
    // PyYAML's booleans have no y/n, its floats need a dot, and an exponent needs a sign
    expect([value('y'), value('Y'), value('n'), value('N')]).toEqual(['y', 'Y', 'n', 'N']);
    expect([value('1e3'), value('1.0e3'), value('-.5'), value('.')]).toEqual(['1e3', '1.0e3', '-.5', '.']);
  });

  test('a single serial number or percentage becomes one step', () => {
    const play = (serial: string) => parsePlaybook(`- hosts: web\n  serial: ${serial}\n  tasks: []\n`, 'f.yml').plays[0];
    expect(play('3').serial).toEqual([{ count: 3 }]);
    expect(play('"50%"').serial).toEqual([{ percent: 50 }]);
    expect(play('3').name).toBe('web');
  });

  test('serial and max_fail_percentage bounds', () => {
    expect(loadErrors('- hosts: web\n  serial: 0\n')).toEqual(['site.yml:2:11: `serial` must be at least 1, got 0']);
    expect(loadErrors('- hosts: web\n  serial: [2, "0%"]\n')).toEqual(['site.yml:2:15: serial "0%" is out of range: a percentage must be from 1% to 100%']);
    expect(loadErrors('- hosts: web\n  serial: true\n')).toEqual([
      'site.yml:2:11: `serial` must be a number of hosts such as 2, a percentage such as "25%", or a list of them, got true',
    ]);
    expect(loadErrors('- hosts: web\n  serial: []\n')).toEqual(['site.yml:2:11: `serial` must not be empty']);
    expect(loadErrors('- hosts: web\n  max_fail_percentage: -1\n')).toEqual(['site.yml:2:24: `max_fail_percentage` must be at least 0, got -1']);
  });

  test('hosts must be a non-empty pattern without templates', () => {
    expect(loadErrors('- hosts: ""\n')).toEqual(['site.yml:1:10: `hosts` must not be empty, got ""']);
    expect(loadErrors('- hosts: [a, b]\n')).toEqual(['site.yml:1:10: `hosts` must be a string, got a list']);
    expect(loadErrors('- hosts: "{{ group }}"\n')).toEqual([
      'site.yml:1:10: `hosts` cannot use templates: vipush substitutes variables only in vars, tasks and verify',
    ]);
  });

  test('every error of the file at once, sorted by position', () => {
    const errors = loadErrors(
      ['- hosts: web', '  tasks:', '    - name: a', '      address: { address: 10.0.0.1/32, dev: lo, scop: host }', '- hots: web', '  become: maybe'].join(
        '\n',
      ),
    );
    expect(errors).toEqual([
      'site.yml:4:49: unknown `address` key `scop` (did you mean `scope`?)',
      'site.yml:5:3: unknown play key `hots` (did you mean `hosts`?)',
      'site.yml:6:11: `become` must be true or false, got "maybe"',
    ]);
  });

  test('an unknown module far from any known name lists the modules', () => {
    expect(loadErrors('- hosts: web\n  tasks:\n    - name: a\n      template: { src: a, dest: b }\n')).toEqual([
      'site.yml:4:7: unknown module `template`; vipush has `sysctl`, `address` or `command`',
    ]);
  });

  test('a templated arg passes loading and is checked when substituted', () => {
    const pb = parsePlaybook(
      '- hosts: web\n  vars:\n    now: maybe\n  tasks:\n    - name: a\n      sysctl:\n        set: { kernel.x: 1 }\n        apply: "{{ now }}"\n',
      'site.yml',
    );
    const [play] = pb.plays;
    expect(resolvePlayForHost(play, hostVars(play)).diagnostics.map((d) => `${d.loc?.line}:${d.loc?.col}: ${d.message}`)).toEqual([
      '8:16: `apply` must be true or false, got "maybe" (from var "now", site.yml:3:10)',
    ]);
    const ok = resolvePlayForHost(play, hostVars(play, { now: false }));
    expect(ok.tasks[0].args).toMatchObject({ apply: false });
  });

  test('a literal mistake is reported at load time, before any host is resolved', () => {
    expect(loadErrors('- hosts: web\n  tasks:\n    - name: a\n      address: { address: 10.0.0.1/24, dev: lo }\n')).toEqual([
      'site.yml:4:27: address "10.0.0.1/24" on lo must be a /32: with a shorter prefix the kernel would treat every address in 10.0.0.0/24 as local to this host, and the host could no longer reach its neighbours there',
    ]);
  });

  test('an empty file and a missing file are user errors', async () => {
    expect(loadErrors('# nothing here\n')).toEqual(['site.yml:1:1: the playbook is empty; write a list of plays']);
    await expect(loadPlaybook('test/fixtures/playbooks/does-not-exist.yml')).rejects.toThrow(UserInputError);
  });

  test('bad variable names are refused', () => {
    expect(loadErrors('- hosts: web\n  vars:\n    my-vip: 1\n')).toEqual([
      'site.yml:3:5: key `my-vip` is not a variable name: use letters, digits and `_`, not starting with a digit',
    ]);
  });
});

describe('suggest', () => {
  test('suggests only close candidates', () => {
    expect(suggest('adress', ['sysctl', 'address', 'command'])).toBe('address');
    expect(suggest('serail', ['serial', 'hosts'])).toBe('serial');
    expect(suggest('nmae', ['name', 'changed_when'])).toBe('name');
    expect(suggest('Hosts', ['hosts'])).toBe('hosts');
    expect(suggest('template', ['sysctl', 'address', 'command'])).toBeUndefined();
    expect(suggest('x', ['y', 'z'])).toBe('y');
    expect(suggest('ab', [])).toBeUndefined();
  });

  test('edit distance counts a swap of neighbours as one edit', () => {
    expect(editDistance('serail', 'serial')).toBe(1);
    expect(editDistance('kitten', 'sitting')).toBe(3);
    expect(editDistance('', 'abc')).toBe(3);
  });
});
