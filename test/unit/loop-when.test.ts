import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { parsePlaybook } from '../../src/config/playbook.js';
import { resolvePlayForHost } from '../../src/config/resolve.js';
import { TemplateRenderer } from '../../src/config/template.js';
import { evaluateWhen, parseWhen } from '../../src/config/when.js';
import { UserInputError, formatDiagnostic } from '../../src/errors.js';
import type { HostFacts } from '../../src/facts/types.js';
import type { Vars } from '../../src/inventory/types.js';
import { addressRetireModule } from '../../src/modules/address/retire.js';
import { VIP_RECORD } from '../../src/modules/address/record.js';
import { PERSIST_HEADER } from '../../src/modules/address/persist/index.js';
import { factsNeeded } from '../../src/modules/registry.js';
import { stepArgv, summarise } from '../../src/changes/index.js';
import { HostRun } from '../../src/engine/host-run.js';
import { preparePlays } from '../../src/engine/run.js';
import { parseInventoryText } from '../../src/inventory/load.js';
import { FakeTransport, factsOutput, healthyHost, stepCount, stepsOutput } from './fake-transport.js';

const INV = { file: 'group_vars/realservers.yml', line: 2, col: 7 };

function vars(values: Record<string, unknown>): Vars {
  return new Map(Object.entries(values).map(([name, value]) => [name, { value, source: INV }]));
}

function loadErrors(text: string): string[] {
  try {
    parsePlaybook(text, 'vips.yml');
  } catch (e) {
    if (e instanceof UserInputError) return e.message.split('\n');
    throw e;
  }
  throw new Error('expected the playbook to be refused');
}

function resolve(text: string, values: Record<string, unknown>) {
  const [play] = parsePlaybook(text, 'vips.yml').plays;
  const r = resolvePlayForHost(play, vars(values));
  return { tasks: r.tasks, errors: r.diagnostics.map(formatDiagnostic) };
}

const VIPS = [
  { address: '192.0.2.10/32', label: 'lo:web' },
  { address: '192.0.2.11/32', label: 'lo:api' },
];

const LOOPED = `- hosts: realservers
  tasks:
    - name: VIP
      address:
        address: "{{ vip.address }}"
        label: "{{ vip.label }}"
        dev: lo
      loop: "{{ vips }}"
      loop_control: { loop_var: vip, label: "{{ vip.label }}" }
`;

describe('dotted templates', () => {
  const render = (text: string, values: Record<string, unknown>) => {
    const r = new TemplateRenderer(vars(values)).renderString(text, { file: 'vips.yml', line: 5, col: 18 });
    return r.ok ? r.value : r.diagnostics.map(formatDiagnostic);
  };
  test('a key of a map, an item of a list, keeping the type', () => {
    expect(render('{{ vip.address }}', { vip: { address: '192.0.2.1/32' } })).toBe('192.0.2.1/32');
    expect(render('{{ vips.1.port }}', { vips: [{ port: 80 }, { port: 443 }] })).toBe(443);
    expect(render('{{ a.b }}', { a: { b: ['x'] } })).toEqual(['x']);
    expect(render('port {{ vip.port }}/tcp', { vip: { port: 8080 } })).toBe('port 8080/tcp');
    // templates inside the variable are substituted before the key is read
    expect(render('{{ vip.address }}', { vip: { address: '{{ net }}.1/32' }, net: '192.0.2' })).toBe('192.0.2.1/32');
  });
  test('a missing key, an index past the end, a key of a scalar: errors where the template is', () => {
    expect(render('{{ vip.adress }}', { vip: { address: 'x' } })).toEqual([
      'vips.yml:5:18: "vip" has no key "adress" (did you mean "address"?) (from var "vip", group_vars/realservers.yml:2:7)',
    ]);
    expect(render('{{ vips.2 }}', { vips: [1, 2] })).toEqual([
      'vips.yml:5:18: "vips" has no item 2: it holds 2 (from var "vips", group_vars/realservers.yml:2:7)',
    ]);
    expect(render('{{ vip.address.x }}', { vip: { address: 'x' } })).toEqual([
      'vips.yml:5:18: "vip.address" is a string, not a map: it has no key "x" (from var "vip", group_vars/realservers.yml:2:7)',
    ]);
    expect(render('{{ nope.x }}', {})).toEqual(['vips.yml:5:18: undefined variable "nope"']);
  });
});

describe('loop', () => {
  test('one task per item, named NAME (item=LABEL), with dotted access to the item', () => {
    const r = resolve(LOOPED, { vips: VIPS });
    expect(r.errors).toEqual([]);
    expect(r.tasks.map((t) => t.name)).toEqual(['VIP (item=lo:web)', 'VIP (item=lo:api)']);
    expect(r.tasks.map((t) => t.args)).toMatchObject([
      { address: '192.0.2.10/32', label: 'lo:web', dev: 'lo' },
      { address: '192.0.2.11/32', label: 'lo:api', dev: 'lo' },
    ]);
  });

  test('a literal list, `item` by default, index_var, and the item itself as the label', () => {
    const text = `- hosts: all
  tasks:
    - name: "VIP {{ i }}"
      address: { address: "{{ item }}", dev: lo }
      loop: [192.0.2.20/32, "{{ extra_vip }}"]
      loop_control: { index_var: i }
`;
    const r = resolve(text, { extra_vip: '192.0.2.21/32' });
    expect(r.errors).toEqual([]);
    expect(r.tasks.map((t) => t.name)).toEqual(['VIP 0 (item=192.0.2.20/32)', 'VIP 1 (item=192.0.2.21/32)']);
    expect(r.tasks.map((t) => (t.module === 'address' ? t.args?.address : undefined))).toEqual(['192.0.2.20/32', '192.0.2.21/32']);
  });

  test('any module loops: a command per item', () => {
    const text = '- hosts: all\n  tasks:\n    - name: say\n      command: { argv: [echo, "{{ item }}"] }\n      loop: [one, two]\n';
    const r = resolve(text, {});
    expect(r.errors).toEqual([]);
    expect(r.tasks.map((t) => [t.name, t.module === 'command' && t.args?.argv])).toEqual([
      ['say (item=one)', ['echo', 'one']],
      ['say (item=two)', ['echo', 'two']],
    ]);
  });

  test('an empty list runs nothing', () => {
    expect(resolve(LOOPED, { vips: [] })).toEqual({ tasks: [], errors: [] });
  });

  test('a loop over something that is not a list is a located error naming the variable', () => {
    expect(resolve(LOOPED, { vips: '192.0.2.10/32' }).errors).toEqual([
      'vips.yml:8:13: `loop` must be a list, got string "192.0.2.10/32" (from var "vips", group_vars/realservers.yml:2:7)',
    ]);
    expect(resolve(LOOPED, { vips: { a: 1 } }).errors[0]).toMatch(/^vips\.yml:8:13: `loop` must be a list, got a map/);
  });

  test('an undefined list, and an item without the key, are located errors that say which item', () => {
    expect(resolve(LOOPED, { vipz: VIPS }).errors).toEqual(['vips.yml:8:13: undefined variable "vips" (did you mean "vipz"?)']);
    const r = resolve(LOOPED, { vips: [VIPS[0], { adress: '192.0.2.12/32', label: 'lo:x' }] });
    expect(r.errors).toEqual([
      'vips.yml:5:18: "vip" has no key "address" (did you mean "adress"?) (from var "vip", group_vars/realservers.yml:2:7) [loop item 1 (lo:x)]',
    ]);
  });

  test('a label is printed on the terminal: no control characters', () => {
    expect(resolve(LOOPED, { vips: [{ address: '192.0.2.1/32', label: 'lo:\u009b2J' }] }).errors).toEqual([
      'vips.yml:9:45: loop item label "lo:\\x9b2J" must be one line without control characters [loop item 0 ({"address":"192.0.2.1/32","label":"lo:?2J"})]',
    ]);
  });

  test('an item value that is wrong for the module is reported at the arg, with the item', () => {
    const r = resolve(LOOPED, { vips: [{ address: '192.0.2.300/32', label: 'lo:x' }] });
    expect(r.errors).toHaveLength(1);
    expect(r.errors[0]).toMatch(/^vips\.yml:5:18: .*192\.0\.2\.300.*\[loop item 0 \(lo:x\)\]$/);
  });

  test('loop_control needs a loop; loop_var must be a name; a string loop must be one template', () => {
    expect(
      loadErrors('- hosts: all\n  tasks:\n    - name: x\n      address: { address: 192.0.2.1/32, dev: lo }\n      loop_control: { loop_var: v }\n'),
    ).toEqual(['vips.yml:5:7: `loop_control` without `loop`: add `loop`, or remove `loop_control`']);
    expect(loadErrors('- hosts: all\n  tasks:\n    - name: x\n      address: { address: "{{ v }}", dev: lo }\n      loop: "a, b"\n')).toEqual([
      'vips.yml:5:13: `loop` must be a list, or "{{ var }}" naming one, got "a, b"',
    ]);
    expect(
      loadErrors(
        '- hosts: all\n  tasks:\n    - name: x\n      address: { address: "{{ v }}", dev: lo }\n      loop: [a]\n      loop_control: { loop_var: 1v }\n',
      )[0],
    ).toMatch(/^vips\.yml:6:33: .*not a variable name/);
    expect(
      loadErrors(
        '- hosts: all\n  tasks:\n    - name: x\n      address: { address: "{{ v }}", dev: lo }\n      loop: [a]\n      loop_control: { pause: 1 }\n',
      )[0],
    ).toMatch(/^vips\.yml:6:\d+: unknown `loop_control` key `pause`/);
  });
});

describe('when', () => {
  const r = (values: Record<string, unknown>) => new TemplateRenderer(vars(values));
  const at = { file: 'vips.yml', line: 9, col: 13 };
  const holds = (text: string, values: Record<string, unknown> = {}) => {
    const parsed = parseWhen(text);
    if ('error' in parsed) return parsed.error;
    const out = evaluateWhen([{ text, expr: parsed.expr, source: at }], r(values));
    return 'diagnostics' in out ? out.diagnostics.map(formatDiagnostic).join('; ') : out.value;
  };

  test.each([
    ['role == "web"', { role: 'web' }, true],
    ["role != 'web'", { role: 'web' }, false],
    ['n == 2', { n: 2 }, true],
    ['n == "2"', { n: 2 }, false],
    ['flag == 1', { flag: true }, true],
    ['inventory_hostname in ["rs1", "rs2"]', { inventory_hostname: 'rs2' }, true],
    ['inventory_hostname not in item.hosts', { inventory_hostname: 'rs2', item: { hosts: ['rs1'] } }, true],
    ['"web" in roles', { roles: ['db', 'web'] }, true],
    ['"eb" in role', { role: 'web' }, true],
    ['"k" in m', { m: { k: 1 } }, true],
    ['not flag', { flag: false }, true],
    ['a and b or c', { a: true, b: false, c: true }, true],
    ['a and (b or c)', { a: true, b: false, c: false }, false],
    ['not a == b', { a: 1, b: 2 }, true],
    ['maybe is defined', {}, false],
    ['maybe is not defined', {}, true],
    ['item.vlan is defined', { item: { address: 'x' } }, false],
    ['item.vlan.id is defined', { item: { address: 'x' } }, false],
    ['vips', { vips: [] }, false],
    ['vips', { vips: [1] }, true],
    ['name', { name: '' }, false],
    ['name', { name: 'false' }, true],
    ['count', { count: 0 }, false],
    ['True', {}, true],
    ['none == nothing', { nothing: null }, true],
  ])('%s with %j is %s', (text, values, expected) => {
    expect(holds(text, values)).toBe(expected);
  });

  test('an undefined variable is an error, unless asked with `is defined`', () => {
    expect(holds('rolle == "web"', { role: 'web' })).toBe('vips.yml:9:13: `when` "rolle == \\"web\\"": undefined variable "rolle" (did you mean "role"?)');
    expect(holds('item.vlan == 1', { item: { address: 'x' } })).toMatch(/"item" has no key "vlan"/);
  });

  test.each([
    ['n > 1', '">"'],
    ['role | default("web")', '"|"'],
    ['role is match("w")', 'only "is defined" and "is not defined"'],
    ['lookup("env", "X")', 'calls'],
    ['{{ role }} == "web"', 'without "{{ }}"'],
    ['x is undefined', 'write "is not defined"'],
    ['role == ', 'ends too early'],
    ['a b', '"b" (column 3) is not supported here'],
    ['"a\\"b" == x', 'escapes'],
    ['x if y else z', '"if"'],
  ])('%s is refused: %s', (text, why) => {
    const parsed = parseWhen(text);
    expect('error' in parsed && parsed.error).toContain(why);
  });

  test('any text parses to a condition or to a one-line reason, never a crash', () => {
    const pieces = ['a', 'b.c', '"s"', '1', '(', ')', '[', ']', ',', '==', '!=', 'in', 'not', 'and', 'or', 'is', 'defined', '>', '|', '{{', ' '];
    fc.assert(
      fc.property(fc.array(fc.constantFrom(...pieces), { maxLength: 30 }), fc.string(), (words, tail) => {
        const r = parseWhen(`${words.join(' ')}${tail}`);
        if ('error' in r) expect(r.error).not.toContain('\n');
      }),
    );
    expect(parseWhen(`${'('.repeat(5000)}a${')'.repeat(5000)}`)).toEqual({ error: expect.stringContaining('too long') });
    expect(parseWhen(`${'not '.repeat(400)}a`)).toHaveProperty('expr');
  });

  test('an unsupported condition is a located error when the playbook loads', () => {
    expect(loadErrors('- hosts: all\n  tasks:\n    - name: x\n      address: { address: 192.0.2.1/32, dev: lo }\n      when: n >= 2\n')).toEqual([
      'vips.yml:5:13: `when` "n >= 2": ">=" (column 3) is not supported (vipush supports only variables, literals, ==, !=, in, not in, not, and, or, parentheses, is defined and is not defined)',
    ]);
    expect(loadErrors('- hosts: all\n  tasks:\n    - name: x\n      address: { address: 192.0.2.1/32, dev: lo }\n      when: [a, b ~ c]\n')[0]).toMatch(
      /^vips\.yml:5:17: /,
    );
  });

  test('a false condition skips the task without substituting its args; a list of conditions must all hold', () => {
    const text = `- hosts: all
  tasks:
    - name: extra VIP
      address: { address: "{{ extra_vip }}", dev: lo }
      when: [extra_vip is defined, enabled]
`;
    expect(resolve(text, { enabled: true }).tasks).toEqual([
      { name: 'extra VIP', module: 'address', source: { file: 'vips.yml', line: 3, col: 7 }, skipped: 'when: extra_vip is defined was false' },
    ]);
    expect(resolve(text, { enabled: false, extra_vip: '192.0.2.9/32' }).tasks[0]).toMatchObject({ skipped: 'when: enabled was false' });
    expect(resolve(text, { enabled: true, extra_vip: '192.0.2.9/32' }).tasks[0]).toMatchObject({ args: { address: '192.0.2.9/32' } });
  });

  test('per loop item, seeing the item; skipped tasks need no facts', () => {
    const text = `${LOOPED}      when: vip.label != "lo:api"\n`;
    const r = resolve(text, { vips: VIPS });
    expect(r.errors).toEqual([]);
    expect(r.tasks.map((t) => [t.name, 'skipped' in t ? t.skipped : 'runs'])).toEqual([
      ['VIP (item=lo:web)', 'runs'],
      ['VIP (item=lo:api)', 'when: vip.label != "lo:api" was false'],
    ]);
    expect(factsNeeded(r.tasks.slice(1))).toEqual({ sysctlKeys: [], files: [], paths: [], globs: [], probes: [] });
  });
});

const EXCLUSIVE = LOOPED.replace('        dev: lo\n', '        dev: lo\n        exclusive: true\n');

describe('exclusive address tasks', () => {
  test('the items are followed by the retirement of every other VIP vipush manages on the device', () => {
    const r = resolve(EXCLUSIVE, { vips: VIPS });
    expect(r.errors).toEqual([]);
    expect(r.tasks.map((t) => t.name)).toEqual(['VIP (item=lo:web)', 'VIP (item=lo:api)', 'VIP (retire undeclared VIPs on lo)']);
    expect(r.tasks[2]).toMatchObject({
      module: 'address_retire',
      args: {
        dev: 'lo',
        persist: 'none',
        declared: [
          { cidr: '192.0.2.10/32', family: 4 },
          { cidr: '192.0.2.11/32', family: 4 },
        ],
      },
    });
    // an empty list declares nothing: everything vipush manages on lo goes
    expect(resolve(EXCLUSIVE, { vips: [] }).tasks).toMatchObject([{ module: 'address_retire', args: { declared: [] } }]);
    // an item `when` skips is not declared
    const skipped = resolve(`${EXCLUSIVE}      when: vip.label == "lo:web"\n`, { vips: VIPS });
    expect(skipped.tasks[2]).toMatchObject({ args: { declared: [{ cidr: '192.0.2.10/32', family: 4 }] } });
  });

  test("with an empty list, the set's own args are still checked", () => {
    const text =
      '- hosts: all\n  tasks:\n    - name: x\n      address: { address: "{{ item }}", dev: "{{ d }}", persist: "{{ p }}", exclusive: true }\n      loop: []\n';
    expect(resolve(text, { d: 'lo;x', p: 'bogus' }).errors).toEqual([
      'vips.yml:4:46: device name "lo;x" contains ";"; a device name may contain only letters, digits and "_.-"',
      'vips.yml:4:66: `persist` must be one of auto, ifupdown, netplan, networkd, networkmanager, ifcfg, systemd, none, got "bogus"',
    ]);
    expect(resolve(text, { d: 'lo', p: 'none' }).tasks).toMatchObject([{ module: 'address_retire', args: { dev: 'lo', declared: [] } }]);
  });

  test('a looped task that is not exclusive may take its device from the item', () => {
    const r = resolve(LOOPED.replace('dev: lo', 'dev: "{{ vip.dev }}"'), { vips: VIPS.map((v) => ({ ...v, dev: 'lo' })) });
    expect(r.errors).toEqual([]);
    expect(r.tasks.map((t) => t.module)).toEqual(['address', 'address']);
    const off = resolve(EXCLUSIVE.replace('exclusive: true', 'exclusive: false'), { vips: VIPS });
    expect(off.tasks.map((t) => t.module)).toEqual(['address', 'address']);
  });

  test('dev and persist are one value for the set; one exclusive task per device; not with state: absent', () => {
    expect(resolve(EXCLUSIVE.replace('dev: lo', 'dev: "{{ vip.dev }}"'), { vips: VIPS }).errors).toEqual([
      'vips.yml:7:14: `dev` is one value for the whole set (`exclusive`, `dev`, `persist`): it cannot use the loop variable "vip"',
    ]);
    const twice = EXCLUSIVE + EXCLUSIVE.split('\n').slice(2).join('\n');
    expect(resolve(twice, { vips: VIPS }).errors).toEqual([
      "vips.yml:11:7: a second exclusive address task for lo (the first is at vips.yml:3:7): each would undo the other's set; declare the set in one task",
    ]);
    expect(loadErrors('- hosts: all\n  tasks:\n    - name: x\n      address: { address: 192.0.2.1/32, dev: lo, state: absent, exclusive: true }\n')[0]).toMatch(
      /^vips\.yml:4:\d+: `exclusive: true` declares the VIPs that stay/,
    );
  });
});

test("a VIP that another address task adds on the set's device fights the set: refused, in the same play or another", () => {
  const inv = parseInventoryText(
    'all:\n  children:\n    realservers:\n      hosts:\n        rs1:\n  vars:\n    vips: [{ address: 192.0.2.10/32, label: "lo:a" }]\n',
    'hosts.yml',
  );
  const extra = '    - name: one more\n      address: { address: 192.0.2.77/32, dev: lo }\n';
  const expected =
    "vips.yml:11:7: 192.0.2.77/32 on lo is declared outside the exclusive set at vips.yml:3:7, which would take it off again at the end of every run: add it to that set's list";
  expect(resolve(EXCLUSIVE + extra, { vips: VIPS }).errors).toEqual([expected]);
  const otherPlay = `${EXCLUSIVE}- hosts: realservers\n  tasks:\n${extra}`;
  expect(() => preparePlays(parsePlaybook(otherPlay, 'vips.yml'), inv, { extraVars: new Map() })).toThrow(expected.replace('11:7', '13:7'));
  // on another device, or removing a VIP, is no conflict
  expect(resolve(EXCLUSIVE + extra.replace('dev: lo', 'dev: eth0'), { vips: VIPS }).errors).toEqual([]);
  expect(resolve(EXCLUSIVE + extra.replace('dev: lo', 'dev: lo, state: absent'), { vips: VIPS }).errors).toEqual([]);
});

test('one exclusive task per device and host across plays too (preparePlays)', () => {
  const inv = parseInventoryText(
    'all:\n  children:\n    realservers:\n      hosts:\n        rs1:\n  vars:\n    vips: [{ address: 192.0.2.10/32, label: "lo:a" }]\n',
    'hosts.yml',
  );
  const once = parsePlaybook(EXCLUSIVE, 'vips.yml');
  expect(preparePlays(once, inv, { extraVars: new Map() })[0].hosts[0].tasks.map((t) => t.module)).toEqual(['address', 'address_retire']);
  const twice = parsePlaybook(EXCLUSIVE + EXCLUSIVE, 'vips.yml');
  expect(() => preparePlays(twice, inv, { extraVars: new Map() })).toThrow(
    "vips.yml:13:7: a second exclusive address task for lo (the first is at vips.yml:3:7): each would undo the other's set; declare the set in one task",
  );
});

function facts(over: Partial<HostFacts>): HostFacts {
  return {
    os: { id: 'debian', idLike: [], prettyName: 'Debian' },
    sessionAddress: '198.18.0.11',
    addresses: [],
    lanIfaces: ['eth0'],
    sysctls: new Map(),
    files: new Map(),
    paths: new Map(),
    sysctlDropIns: [],
    probes: new Map(),
    ...over,
  };
}

const file = (content: string) => ({ content: Buffer.from(content), mode: 0o600, uid: 0, gid: 0 });
const lo = (local: string, prefixlen = 32) => ({ dev: 'lo', family: 4 as const, local, prefixlen, scope: 'host', label: 'lo' });

describe('retiring undeclared VIPs', () => {
  const host = facts({
    addresses: [lo('127.0.0.1', 8), lo('192.0.2.10'), lo('192.0.2.11'), lo('192.0.2.99'), { ...lo('198.18.0.11', 24), dev: 'eth0', scope: 'global' }],
    files: new Map([
      [VIP_RECORD, file('# vipush\nlo 192.0.2.10/32\nlo 192.0.2.11/32\nlo 127.0.0.1/8\nlo 198.18.0.11/32\neth1 10.9.9.9/32\ngarbage; rm -rf /\n')],
    ]),
    paths: new Map([['/var/lib/vipush', true]]),
  });
  const plan = (declared: string[], state = host) =>
    addressRetireModule.plan({ dev: 'lo', persist: 'none', declared: declared.map((cidr) => ({ cidr, family: 4 as const })) }, state, { host: 'rs1' });

  test('takes off only recorded VIPs no longer declared: never loopback, the session address or an address vipush did not record', () => {
    const p = plan(['192.0.2.10/32']);
    const dels = p.changes.filter((c) => c.kind === 'address');
    expect(dels).toEqual([{ kind: 'address', op: 'del', family: 4, cidr: '192.0.2.11/32', dev: 'lo', scope: 'host', label: 'lo' }]);
    expect(p.drift).toEqual([{ item: 'VIP 192.0.2.11/32 on lo', expected: 'absent (managed by vipush, no longer declared)', actual: 'still on lo' }]);
    const record = p.changes.find((c) => c.kind === 'file');
    expect(record && record.kind === 'file' && record.after?.content.toString()).toBe(
      '# vipush: the VIPs exclusive address tasks manage on this host, one "dev address/prefix" a line\neth1 10.9.9.9/32\nlo 192.0.2.10/32\n',
    );
  });

  test('nothing to do when the declared set is what the host holds and records', () => {
    const recorded = facts({
      ...host,
      files: new Map([
        [VIP_RECORD, file(`# vipush: the VIPs exclusive address tasks manage on this host, one "dev address/prefix" a line\nlo 192.0.2.10/32\n`)],
      ]),
    });
    expect(plan(['192.0.2.10/32'], recorded)).toEqual({ changes: [], drift: [], warnings: [], unfixable: [] });
  });

  test('the first run makes the state directory and the record', () => {
    const p = plan(['192.0.2.10/32'], facts({}));
    expect(p.changes.map((c) => c.kind)).toEqual(['exec', 'file']);
    expect(p.drift).toEqual([]);
  });

  test("VIPs in vipush's persistence files count as managed; others' files do not", () => {
    const persisted = facts({
      addresses: [lo('192.0.2.50'), lo('192.0.2.60')],
      files: new Map([
        ['/etc/network/interfaces.d/vipush-lo', file(`${PERSIST_HEADER}\n# vipush-vip address=192.0.2.50/32 dev=lo scope=host\n`)],
        ['/etc/network/interfaces.d/mine', file('# vipush-vip address=192.0.2.60/32 dev=lo scope=host\n')],
      ]),
    });
    const p = plan([], persisted);
    expect(p.changes.filter((c) => c.kind === 'address').map((c) => c.kind === 'address' && c.cidr)).toEqual(['192.0.2.50/32']);
  });
});

describe('a looped, exclusive task on one host (HostRun with a fake host)', () => {
  const text = `- hosts: all
  tasks:
    - name: arp
      sysctl: { set: { net.ipv4.conf.all.arp_ignore: 3, net.ipv4.conf.all.arp_announce: 2 } }
    - name: VIP
      address: { address: "{{ vip.address }}", label: "{{ vip.label }}", dev: lo, exclusive: true }
      loop: "{{ vips }}"
      loop_control: { loop_var: vip, label: "{{ vip.address }}" }
      when: vip.label != "lo:off"
`;
  const list = [...VIPS, { address: '192.0.2.12/32', label: 'lo:off' }];
  const hostFacts = (nonce: string) =>
    factsOutput(nonce, {
      addrs: [
        { dev: 'lo', family: 'inet', local: '127.0.0.1', prefixlen: 8, scope: 'host', label: 'lo' },
        { dev: 'lo', family: 'inet', local: '192.0.2.99', prefixlen: 32, scope: 'host', label: 'lo:old' },
        { dev: 'eth0', family: 'inet', local: '198.18.0.11', prefixlen: 24, scope: 'global', label: 'eth0' },
      ],
      sysctls: { 'net.ipv4.conf.all.arp_ignore': '0', 'net.ipv4.conf.all.arp_announce': '0' },
      files: { '/etc/sysctl.conf': { content: '' }, [VIP_RECORD]: { content: 'lo 192.0.2.99/32\n', mode: '600' } },
    });
  const opts = { mode: 'run' as const, check: false, diff: true, become: false, commandTimeoutMs: 1000 };
  const conn = (t: FakeTransport) => ({ get: async () => t, reconnect: async () => t });
  const hostTasks = () => resolve(text, { vips: list }).tasks;

  test('each item is its own task in the result; a skipped item is skipped with its reason; the retired VIP goes down first', async () => {
    const t = new FakeTransport('h1', healthyHost(hostFacts));
    const run = new HostRun('h1', hostTasks(), conn(t), opts);
    const r = await run.run();
    expect(r.error).toBeNull();
    expect(r.tasks.map((x) => [x.name, x.status])).toEqual([
      ['arp', 'changed'],
      ['VIP (item=192.0.2.10/32)', 'changed'],
      ['VIP (item=192.0.2.11/32)', 'changed'],
      ['VIP (item=192.0.2.12/32)', 'skipped'],
      ['VIP (retire undeclared VIPs on lo)', 'changed'],
    ]);
    expect(r.tasks[3].skipReason).toBe('when: vip.label != "lo:off" was false');
    expect(r.tasks[4].changes).toEqual(['del 192.0.2.99/32 dev lo scope host label lo:old', `update ${VIP_RECORD}`]);
    expect(r.tasks[1].diff).toContain('+ ip addr 192.0.2.10/32 dev lo scope host label lo:web');
    // the VIP comes down before anything else, the sysctls before any VIP goes up
    const order = run.planned.map((s) => summarise(s.change));
    expect(order[0]).toBe('del 192.0.2.99/32 dev lo scope host label lo:old');
    expect(order.findIndex((c) => c.startsWith('sysctl'))).toBeLessThan(order.findIndex((c) => c.startsWith('add')));
  });

  test('a failing item rolls back every item and the retirement, the retired VIP coming back last', async () => {
    const t = new FakeTransport('h1', (call) => {
      if (call.via === 'finish') {
        const steps = stepCount(call.script);
        // the last step by index (the record's write) fails: every other step took effect. (Indices are
        // the plan's; the script runs the retirement, index 5, first.) A failed step of vipush's own
        // changed nothing and is not undone.
        const outcomes = Array.from({ length: steps }, (_, i) => [i, i < steps - 1 ? 'done' : 'failed', 'write failed'] as const);
        return { stdout: stepsOutput(call.nonce, outcomes, false), code: 70 };
      }
      return healthyHost(hostFacts)(call);
    });
    const run = new HostRun('h1', hostTasks(), conn(t), opts);
    const r = await run.run();
    expect(r.status).toBe('failed');
    expect(r.rolledBack).toBe(true);
    const undone = run.undone.map((s) => summarise(s.change));
    expect(undone.at(-1)).toBe('add 192.0.2.99/32 dev lo scope host label lo:old');
    // after the sysctls went back: the host puts it back only if ARP for it is still hidden
    expect(stepArgv(run.undone.at(-1)!.change)[0]).toBe('vp_hidden_then');
  });
});
