import { describe, expect, test } from 'vitest';
import type { Location } from '../../src/source/location.js';
import { parsePlaybook } from '../../src/config/playbook.js';
import { resolveGate, resolveTask } from '../../src/config/resolve.js';
import { interfaceNameProblem, parseInterfaceAddress, sysctlFileProblem } from '../../src/net/values.js';
import type { GateSpec, TaskSpec } from '../../src/config/types.js';
import { formatDiagnostic } from '../../src/errors.js';
import type { Vars } from '../../src/inventory/types.js';

const site = (line: number, col: number): Location => ({ file: 'playbooks/site.yml', line, col });

function vars(values: Record<string, unknown>): Vars {
  return new Map(Object.entries(values).map(([name, value]) => [name, { value, source: site(6, 10) }]));
}

/** A task as the loader would build it; every arg value is placed at line 14, column 18 + its index. */
function task(module: TaskSpec['module'], args: unknown, changedWhen?: boolean): TaskSpec {
  const argSources = new Map<string, Location>([['', site(13, 7)]]);
  if (args && typeof args === 'object' && !Array.isArray(args)) {
    for (const [i, k] of Object.keys(args).entries()) argSources.set(`/${k.replace(/~/g, '~0').replace(/\//g, '~1')}`, site(14 + i, 18));
  }
  return { name: 't', module, args, source: site(12, 7), argSources, ...(changedWhen !== undefined ? { changedWhen } : {}) };
}

function errors(spec: TaskSpec, values: Record<string, unknown> = {}): string[] {
  const r = resolveTask(spec, vars(values));
  if ('task' in r) throw new Error(`expected errors, got ${JSON.stringify(r.task)}`);
  return r.diagnostics.map(formatDiagnostic);
}

function args(spec: TaskSpec, values: Record<string, unknown> = {}): unknown {
  const r = resolveTask(spec, vars(values));
  if ('diagnostics' in r) throw new Error(r.diagnostics.map(formatDiagnostic).join('\n'));
  return r.task.args;
}

describe('address', () => {
  test("the seed's typo names the var it came from", () => {
    expect(errors(task('address', { address: '{{ vip }}/32', dev: 'lo' }), { vip: '192.268.0.181' })).toEqual([
      'playbooks/site.yml:14:18: address "192.268.0.181/32" is not a valid IPv4 network (from var "vip", playbooks/site.yml:6:10)',
    ]);
  });

  test('defaults: scope host on lo, global elsewhere; present; no persistence; ARP not allowed', () => {
    expect(args(task('address', { address: '{{ vip }}/32', dev: 'lo' }), { vip: '192.168.0.181' })).toEqual({
      address: '192.168.0.181/32',
      family: 4,
      dev: 'lo',
      scope: 'host',
      state: 'present',
      persist: 'none',
      allowArp: false,
    });
    expect(args(task('address', { address: '192.168.0.186/24', dev: 'eth2', label: 'eth2:1' }))).toMatchObject({ scope: 'global', label: 'eth2:1' });
  });

  test('IPv6 is normalised; on lo it must be a /128', () => {
    expect(args(task('address', { address: '2001:DB8:0:0::0:1/128', dev: 'lo' }))).toMatchObject({ address: '2001:db8::1/128', family: 6 });
    expect(errors(task('address', { address: '2001:db8::1/64', dev: 'lo' }))).toEqual([
      'playbooks/site.yml:14:18: address "2001:db8::1/64" on lo must be a /128: with a shorter prefix the kernel would route all of 2001:db8::/64 into lo, and the host could no longer reach its neighbours there',
    ]);
    expect(errors(task('address', { address: '2001:db8::1/128', dev: 'lo', label: 'lo:1' }))).toEqual([
      'playbooks/site.yml:16:18: labels exist only for IPv4 addresses; remove `label`',
    ]);
  });

  test('IPv6 takes the scope the kernel gives it (it ignores the one ip asks for); unassignable addresses are refused', () => {
    expect(args(task('address', { address: '2001:db8::10/128', dev: 'lo' }))).toMatchObject({ scope: 'global' });
    expect(args(task('address', { address: 'fd00::10/128', dev: 'lo', scope: 'global' }))).toMatchObject({ scope: 'global' });
    expect(args(task('address', { address: 'fe80::10/128', dev: 'lo' }))).toMatchObject({ scope: 'link' });
    expect(errors(task('address', { address: '2001:db8::10/128', dev: 'lo', scope: 'host' }))).toEqual([
      'playbooks/site.yml:16:18: IPv6 addresses take their scope from the address: the kernel gives 2001:db8::10/128 scope global whatever `ip` asks; remove `scope`',
    ]);
    expect(errors(task('address', { address: 'ff02::10/128', dev: 'lo' }))).toEqual([
      "playbooks/site.yml:14:18: ff02::10 is a multicast address, which can't be assigned to an interface",
    ]);
    expect(errors(task('address', { address: 'fec0::10/128', dev: 'lo' }))).toEqual([
      'playbooks/site.yml:14:18: fec0::10 is site-local (fec0::/10), deprecated since RFC 3879; use a global or unique-local (fd00::/8) address',
    ]);
    expect(errors(task('address', { address: '::/128', dev: 'lo' }))).toEqual([
      "playbooks/site.yml:14:18: the unspecified address :: can't be assigned to an interface",
    ]);
  });

  test.each([
    ['192.168.0.181', 'address "192.168.0.181" has no prefix length; add one, such as "192.168.0.181/32"'],
    ['192.168.0.181/33', 'address "192.168.0.181/33" has an invalid prefix length "33"; IPv4 prefixes are 0..32'],
    ['192.168.0.181/032', 'address "192.168.0.181/032" has an invalid prefix length "032"; IPv4 prefixes are 0..32'],
    ['192.168.000.181/32', 'address "192.168.000.181/32" is not a valid IPv4 network'],
    ['0x7f.1/32', 'address "0x7f.1/32" is not a valid IPv4 network'],
    ['fe80::1%eth0/64', 'address "fe80::1%eth0/64" is not a valid IPv6 network'],
    ['', 'address "" is not a valid IPv4 network'],
  ])('%s is refused', (address, message) => {
    expect(parseInterfaceAddress(address)).toEqual({ error: message });
  });

  test('a shorter prefix on lo is refused with the reason', () => {
    expect(errors(task('address', { address: '{{ vip }}/24', dev: 'lo' }), { vip: '192.168.0.181' })).toEqual([
      'playbooks/site.yml:14:18: address "192.168.0.181/24" on lo must be a /32: with a shorter prefix the kernel would treat every address in 192.168.0.0/24 as local to this host, and the host could no longer reach its neighbours there (from var "vip", playbooks/site.yml:6:10)',
    ]);
  });

  test.each([
    ['lo', undefined],
    ['eth0.100', undefined],
    ['veth-rs_1', undefined],
    ['', 'device name must not be empty'],
    ['a-very-long-name', 'device name "a-very-long-name" is 16 characters; Linux allows at most 15'],
    ['eth 0', 'device name "eth 0" contains whitespace; a device name may contain only letters, digits and "_.-"'],
    ['eth0/1', 'device name "eth0/1" contains "/"; a device name may contain only letters, digits and "_.-"'],
    ['lo;reboot', 'device name "lo;reboot" contains ";"; a device name may contain only letters, digits and "_.-"'],
    ['$(id)', 'device name "$(id)" contains "$"; a device name may contain only letters, digits and "_.-"'],
    ['..', 'device name ".." is not allowed'],
  ])('device name %j', (name, problem) => {
    expect(interfaceNameProblem(name, 'device name')).toBe(problem);
  });

  test('labels: characters, length, and the device prefix', () => {
    expect(interfaceNameProblem('lo:1', 'label')).toBeUndefined();
    expect(interfaceNameProblem('lo:1 x', 'label')).toBe('label "lo:1 x" contains whitespace; a label may contain only letters, digits and "_.:-"');
    expect(errors(task('address', { address: '10.0.0.1/32', dev: 'lo', label: 'eth0:1' }))).toEqual([
      'playbooks/site.yml:16:18: label "eth0:1" must start with the device name "lo" (the kernel refuses other labels)',
    ]);
    expect(errors(task('address', { address: '10.0.0.1/32', dev: 'lo', label: '{{ l }}' }), { l: 'lo:`reboot`' })).toEqual([
      'playbooks/site.yml:16:18: label "lo:`reboot`" contains "`"; a label may contain only letters, digits and "_.:-" (from var "l", playbooks/site.yml:6:10)',
    ]);
  });

  test('substituted values are checked against the schema again', () => {
    expect(errors(task('address', { address: '10.0.0.1/32', dev: 'lo', state: '{{ s }}' }), { s: 'gone' })).toEqual([
      'playbooks/site.yml:16:18: `state` must be `present` or `absent`, got "gone" (from var "s", playbooks/site.yml:6:10)',
    ]);
    expect(errors(task('address', '{{ whole }}'), { whole: { address: '10.0.0.1/32', device: 'lo' } })).toEqual([
      'playbooks/site.yml:13:7: `address` is missing `dev` (from var "whole", playbooks/site.yml:6:10)',
      'playbooks/site.yml:13:7: unknown `address` key `device`; valid keys are `address`, `dev`, `scope`, `label`, `state`, `persist`, `allow_arp` and `exclusive` (from var "whole", playbooks/site.yml:6:10)',
    ]);
  });
});

describe('sysctl', () => {
  test('numbers become strings, slash keys become dotted, apply defaults to true', () => {
    expect(
      args(task('sysctl', { set: { 'net/ipv4/conf/all/arp_ignore': 3, 'net.ipv4.tcp_rmem': '4096 87380 6291456', 'kernel.x': '{{ n }}' } }), { n: -1 }),
    ).toEqual({
      file: '/etc/sysctl.conf',
      set: { 'net.ipv4.conf.all.arp_ignore': '3', 'net.ipv4.tcp_rmem': '4096 87380 6291456', 'kernel.x': '-1' },
      apply: true,
    });
  });

  test('the same key written twice is refused', () => {
    const spec = task('sysctl', { set: { 'net.ipv4.conf.all.arp_ignore': 1, 'net/ipv4/conf/all/arp_ignore': 3 } });
    expect(errors(spec)).toEqual([
      'playbooks/site.yml:14:18: sysctl key `net/ipv4/conf/all/arp_ignore` names the same setting as `net.ipv4.conf.all.arp_ignore`; keep one',
    ]);
  });

  test('key syntax: dot- or slash-separated, never mixed, no spaces', () => {
    const bad = (key: string) => errors(task('sysctl', { set: { [key]: 1 } }));
    const message =
      'is not a sysctl name: use names of letters, digits, `_` and `-` separated by dots (or all by slashes), such as net.ipv4.conf.all.arp_ignore';
    expect(bad('net.ipv4.conf.eth0/1.arp_ignore')).toEqual([`playbooks/site.yml:14:18: key \`net.ipv4.conf.eth0/1.arp_ignore\` ${message}`]);
    expect(bad('net.ipv4.conf.all.arp ignore')).toHaveLength(1);
    expect(bad('arp_ignore')).toHaveLength(1);
    expect(bad('net..ipv4')).toHaveLength(1);
  });

  test('values: scalars on one line; booleans get a YAML 1.1 hint', () => {
    expect(errors(task('sysctl', { set: { 'kernel.x': 'a\nb' } }))).toEqual([
      'playbooks/site.yml:14:18: `kernel.x` must be one line without control characters, got "a\\nb"',
    ]);
    expect(errors(task('sysctl', { set: { 'kernel.x': '{{ v }}' } }), { v: true })).toEqual([
      'playbooks/site.yml:14:18: `kernel.x` must be a number or a string (YAML reads yes/no/on/off/true/false as booleans: write 1 or 0, or quote the value), got true (from var "v", playbooks/site.yml:6:10)',
    ]);
    expect(errors(task('sysctl', { set: { 'kernel.x': '' } }))).toEqual(['playbooks/site.yml:14:18: `kernel.x` must not be empty']);
  });

  test('arp_ignore and arp_announce ranges, for any interface', () => {
    const value = (key: string, v: unknown) => resolveTask(task('sysctl', { set: { [key]: v } }), new Map());
    for (const v of [0, 1, 2, 3, 8, '3']) expect(value('net.ipv4.conf.all.arp_ignore', v)).toHaveProperty('task');
    for (const v of [4, 9, -1, '3.0', 'x']) expect(value('net.ipv4.conf.all.arp_ignore', v)).toHaveProperty('diagnostics');
    for (const v of [0, 1, 2]) expect(value('net/ipv4/conf/eth0/arp_announce', v)).toHaveProperty('task');
    // surrounding blanks are dropped, as sysctl -p drops them
    expect(value('net.ipv4.conf.all.arp_ignore', ' 3 ')).toMatchObject({ task: { args: { set: { 'net.ipv4.conf.all.arp_ignore': '3' } } } });
    expect(errors(task('sysctl', { set: { 'net.ipv4.conf.eth0.arp_announce': 3 } }))).toEqual([
      'playbooks/site.yml:14:18: net.ipv4.conf.eth0.arp_announce must be 0, 1 or 2, got 3',
    ]);
  });

  test.each([
    ['/etc/sysctl.conf', undefined],
    ['/etc/sysctl.d/60-vipush.conf', undefined],
    ['/etc/sysctl.d/../passwd.conf', 'sysctl file "/etc/sysctl.d/../passwd.conf" contains ".."; use /etc/sysctl.conf or /etc/sysctl.d/NAME.conf'],
    ['etc/sysctl.conf', 'sysctl file "etc/sysctl.conf" is not an absolute path; use /etc/sysctl.conf or /etc/sysctl.d/NAME.conf'],
    ['/etc/sysctl.d/sub/x.conf', 'sysctl file "/etc/sysctl.d/sub/x.conf" is not read at boot; use /etc/sysctl.conf or /etc/sysctl.d/NAME.conf'],
    ['/run/sysctl.d/x.conf', 'sysctl file "/run/sysctl.d/x.conf" is not read at boot; use /etc/sysctl.conf or /etc/sysctl.d/NAME.conf'],
    [
      '/etc/sysctl.d/vip',
      'sysctl file "/etc/sysctl.d/vip" does not end in ".conf", so it is not read at boot; use /etc/sysctl.conf or /etc/sysctl.d/NAME.conf',
    ],
    [
      '/etc/sysctl.d/$(id).conf',
      'sysctl file "/etc/sysctl.d/$(id).conf": NAME may contain only letters, digits and "_.@+-"; use /etc/sysctl.conf or /etc/sysctl.d/NAME.conf',
    ],
    [
      '/etc/sysctl.d/.conf',
      'sysctl file "/etc/sysctl.d/.conf": NAME may contain only letters, digits and "_.@+-"; use /etc/sysctl.conf or /etc/sysctl.d/NAME.conf',
    ],
  ])('sysctl file %j', (file, problem) => {
    expect(sysctlFileProblem(file)).toBe(problem);
  });
});

describe('command', () => {
  test('a list is argv (numbers become strings), a string is run by sh', () => {
    expect(args(task('command', ['sleep', '{{ n }}']), { n: 2 })).toEqual({ argv: ['sleep', '2'], changedWhen: true });
    expect(args(task('command', 'echo hi > /tmp/y', false))).toEqual({ shell: 'echo hi > /tmp/y', changedWhen: false });
  });

  test('creates and removes must be absolute paths on one line', () => {
    expect(errors(task('command', { argv: ['true'], creates: 'tmp/x', removes: '/tmp/{{ f }}' }), { f: 'a\nb' })).toEqual([
      'playbooks/site.yml:15:18: `creates` must be an absolute path, got "tmp/x"',
      'playbooks/site.yml:16:18: `removes` must be one line without control characters (from var "f", playbooks/site.yml:6:10)',
    ]);
  });

  test('argv or shell, exactly one', () => {
    expect(errors(task('command', { creates: '/x' }))).toEqual(['playbooks/site.yml:13:7: `command` needs `argv` (a list) or `shell` (a string)']);
    expect(errors(task('command', { argv: ['a'], shell: 'b' }))).toEqual(['playbooks/site.yml:15:18: `command` takes `argv` or `shell`, not both']);
    expect(errors(task('command', []))).toEqual(['playbooks/site.yml:13:7: `command` must not be empty']);
    expect(errors(task('command', 3))).toEqual([
      'playbooks/site.yml:13:7: `command` must be a list of arguments, a string run by sh, or a map with `argv` or `shell`, got 3',
    ]);
  });
});

describe('resolveGate', () => {
  const gates = (text: string): GateSpec[] => parsePlaybook(`- hosts: web\n  verify:\n${text}`, 'v.yml').plays[0].verify;

  test('substitutes and normalises the VIP', () => {
    const [gate] = gates('    - arp_owner: { vip: "{{ vip }}", from: client, expect: director }\n');
    const r = resolveGate(gate, vars({ vip: '2001:DB8::0:1' }));
    expect(r).toMatchObject({ gate: { kind: 'arp_owner', vip: '2001:db8::1', from: 'client', expect: 'director' } });
    expect(resolveGate(gate, vars({ vip: '10.0.0.300' }))).toEqual({
      diagnostics: [
        {
          loc: { file: 'v.yml', line: 3, col: 25 },
          message: '`vip` must be an IPv4 or IPv6 address, got "10.0.0.300" (from var "vip", playbooks/site.yml:6:10)',
        },
      ],
    });
  });

  test('http gates need an http(s) URL; the status may come from a var', () => {
    const [gate] = gates('    - http: { url: "{{ scheme }}://{{ vip }}/", from: client, expect_status: "{{ code }}" }\n');
    expect(resolveGate(gate, vars({ scheme: 'http', vip: '10.0.0.1', code: 204 }))).toMatchObject({ gate: { url: 'http://10.0.0.1/', expectStatus: 204 } });
    const bad = resolveGate(gate, vars({ scheme: 'ftp', vip: '10.0.0.1', code: 204 }));
    expect('diagnostics' in bad && bad.diagnostics.map(formatDiagnostic)).toEqual([
      'v.yml:3:20: `url` must be an http:// or https:// URL, got "ftp://10.0.0.1/" (from vars "scheme", playbooks/site.yml:6:10; "vip", playbooks/site.yml:6:10)',
    ]);
  });

  test('command gates take argv or shell', () => {
    const [a] = gates('    - command: { argv: ["curl", "-fsS", "http://{{ vip }}/"], from: client }\n');
    expect(resolveGate(a, vars({ vip: '10.0.0.1' }))).toMatchObject({ gate: { kind: 'command', argv: ['curl', '-fsS', 'http://10.0.0.1/'] } });
    // a literal gate is checked while loading
    expect(() => gates('    - command: { from: client }\n')).toThrow('v.yml:3:16: a `command` gate needs `argv` (a list) or `shell` (a string)');
    // a gate built in code, without argSources, is reported at the gate
    const built: GateSpec = { kind: 'command', argv: ['a'], script: 'b', from: 'client', source: site(20, 7) };
    expect(resolveGate(built, new Map())).toEqual({
      diagnostics: [{ loc: site(20, 7), message: 'a `command` gate takes `argv` or `shell`, not both' }],
    });
  });
});
