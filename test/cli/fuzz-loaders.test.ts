import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import fc from 'fast-check';
import { afterAll, afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { parsePlaybook } from '../../src/config/playbook.js';
import type { Playbook } from '../../src/config/types.js';
import { preparePlays } from '../../src/engine/run.js';
import { UserInputError } from '../../src/errors.js';
import { parseInventoryText } from '../../src/inventory/load.js';
import type { Inventory } from '../../src/inventory/types.js';
import { vipush } from '../e2e/vipush-cli.js';

/**
 * Property: whatever the text, the inventory and playbook loaders (and the
 * per-host checks that `vipush validate` runs after them) either succeed or
 * throw a UserInputError whose every diagnostic has a location in the file
 * with line and column >= 1, and a one-line message. Nothing else escapes: no
 * TypeError, no RangeError, no stack trace for the user.
 *
 * Inputs are random YAML-ish text and mutations of the project's valid files.
 */

const PLAYBOOKS = ['playbooks/hidden-arp.yml', ...readdirSync('test/fixtures/playbooks/good').map((f) => `test/fixtures/playbooks/good/${f}`)];
const INVENTORIES = ['test/fixtures/inventory/good/site.yml', 'test/fixtures/inventory/good/site.ini'];
const text = (path: string) => readFileSync(path, 'utf8');
const validInventory = parseInventoryText(text('test/fixtures/inventory/good/site.yml'), 'site.yml');
const validPlaybook = parsePlaybook(text('playbooks/hidden-arp.yml'), 'hidden-arp.yml');

/** Values that have broken YAML loaders, or that a shell, sysctl or ip would read as more than a value. */
const HOSTILE_VALUES = [
  '; rm -rf /',
  '$(reboot)',
  '`reboot`',
  '| sh',
  '&& reboot',
  '> /etc/passwd',
  "'",
  '"',
  '*',
  '?',
  '[',
  ']',
  '{',
  '}',
  '{{',
  '}}',
  '{{ x }}',
  '{{ x | y }}',
  '{% if %}',
  '{#',
  '&a',
  '*a',
  '<<: *a',
  '!!python/object:os.system',
  '!!binary aGVsbG8=',
  '!!set',
  '!!omap',
  '!!timestamp 2001-12-14',
  '~',
  'null',
  'yes',
  'no',
  'on',
  'off',
  'y',
  'n',
  '.inf',
  '-.inf',
  '.nan',
  '1e999',
  '-1',
  '0x1F',
  '0o17',
  '017',
  '1_000',
  '9007199254740993',
  '"a\\nb"',
  '"\\0"',
  '"\\e[31m"',
  '"\\x7f"',
  '"\\u202e"',
  '|',
  '>',
  '|-',
  '- a',
  '? a',
  ': a',
  '#',
  '%YAML 1.2',
  '---',
  '...',
  '@',
  '%',
  '!',
  'x'.repeat(300),
  '../../etc/shadow',
  '/etc/sysctl.d/../shadow',
  'lo:1;reboot',
  '192.0.2.1/33',
  '2001:db8::1%eth0',
  '::',
  '0.0.0.0/0',
  '-oProxyCommand=reboot',
  'web[1:99999999]',
  'web[a:z][a:z][a:z]',
  '[ab',
  'web[1:3',
  '\t',
  ' ',
  '',
];

/** Keys to rename to: near misses of real keys, Ansible keys vipush does not know, and hostile ones. */
const KEY_NAMES = [
  'hosts',
  'host',
  'tasks',
  'task',
  'vars',
  'var',
  'name',
  'sysctl',
  'sysctrl',
  'address',
  'adress',
  'command',
  'shell',
  'argv',
  'creates',
  'removes',
  'set',
  'file',
  'dev',
  'label',
  'scope',
  'state',
  'persist',
  'allow_arp',
  'serial',
  'max_fail_percentage',
  'become',
  'verify',
  'children',
  'ansible_host',
  'ansible_port',
  'ansible_user',
  'ansible_become',
  'ansible_become_pass',
  'ansible_group_priority',
  'plugin',
  'when',
  'loop',
  'loop_control',
  'loop_var',
  'index_var',
  'exclusive',
  '"{{ item }}"',
  '"{{ item.address }}"',
  '"x is defined"',
  '"a == 1 or not (b in [1, \'c\'])"',
  'register',
  '<<',
  '? x',
  '"a\\nb"',
  '"k;reboot"',
  "'$(x)'",
  '1',
  'true',
  'null',
  '[a]',
  '{a: 1}',
  '-',
];

/** Characters for flipping: structure, quotes, controls, and some outside ASCII. */
const FLIP_CHARS = [...':-[]{}#&*!|>\'"%@`,?~=\\/ \t\n\r\0\x1b\x7f.0123456789aZ', '\u00a0', '\u2028', '\ufeff', '\u00e9', '\ud83d\ude00', '\ud800'];

type Mutation =
  | { op: 'flip'; at: number; char: string }
  | { op: 'delete-line'; at: number }
  | { op: 'duplicate-line'; at: number }
  | { op: 'indent'; at: number; by: number; tab: boolean }
  | { op: 'rename-key'; at: number; to: string }
  | { op: 'swap-value'; at: number; to: string }
  | { op: 'splice'; at: number; from: number; length: number };

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ op: fc.constant('flip' as const), at: fc.nat(), char: fc.constantFrom(...FLIP_CHARS) }),
  fc.record({ op: fc.constant('delete-line' as const), at: fc.nat() }),
  fc.record({ op: fc.constant('duplicate-line' as const), at: fc.nat() }),
  fc.record({ op: fc.constant('indent' as const), at: fc.nat(), by: fc.integer({ min: -4, max: 4 }), tab: fc.boolean() }),
  fc.record({ op: fc.constant('rename-key' as const), at: fc.nat(), to: fc.oneof(fc.constantFrom(...KEY_NAMES), fc.string({ maxLength: 8 })) }),
  fc.record({
    op: fc.constant('swap-value' as const),
    at: fc.nat(),
    to: fc.oneof({ weight: 3, arbitrary: fc.constantFrom(...HOSTILE_VALUES) }, { weight: 1, arbitrary: fc.string({ maxLength: 20 }) }),
  }),
  fc.record({ op: fc.constant('splice' as const), at: fc.nat(), from: fc.nat(), length: fc.integer({ min: 1, max: 80 }) }),
);

/** Lines that hold `key: value` (YAML) or `key=value` (INI), as [line index, key start, key end, value start]. */
function keyedLines(lines: string[]): [number, number, number, number][] {
  const out: [number, number, number, number][] = [];
  lines.forEach((line, i) => {
    const m = /^(\s*(?:- )?)([^\s:=#][^:=]*?)(\s*[:=]\s*)/.exec(line);
    if (m) out.push([i, m[1].length, m[1].length + m[2].length, m[0].length]);
  });
  return out;
}

function mutate(source: string, mutations: Mutation[]): string {
  let current = source;
  for (const m of mutations) {
    const lines = current.split('\n');
    const line = m.at % lines.length;
    switch (m.op) {
      case 'flip': {
        const at = m.at % Math.max(1, current.length);
        current = current.slice(0, at) + m.char + current.slice(at + 1);
        break;
      }
      case 'delete-line':
        lines.splice(line, 1);
        current = lines.join('\n');
        break;
      case 'duplicate-line':
        lines.splice(line, 0, lines[line]);
        current = lines.join('\n');
        break;
      case 'indent': {
        const text = lines[line];
        const stripped = text.trimStart();
        const width = Math.max(0, text.length - stripped.length + m.by);
        lines[line] = (m.tab ? '\t' : ' ').repeat(width) + stripped;
        current = lines.join('\n');
        break;
      }
      case 'rename-key':
      case 'swap-value': {
        const keyed = keyedLines(lines);
        if (keyed.length === 0) break;
        const [i, keyStart, keyEnd, valueStart] = keyed[m.at % keyed.length];
        const text = lines[i];
        lines[i] = m.op === 'rename-key' ? text.slice(0, keyStart) + m.to + text.slice(keyEnd) : text.slice(0, valueStart) + m.to;
        current = lines.join('\n');
        break;
      }
      case 'splice': {
        // a piece of the file pasted somewhere else: plausible structure in the wrong place
        const from = m.from % Math.max(1, current.length);
        const piece = current.slice(from, from + m.length);
        const at = m.at % Math.max(1, current.length);
        current = current.slice(0, at) + piece + current.slice(at);
        break;
      }
    }
  }
  return current;
}

/** The outcome of loading (and, if that works, checking every host as `vipush validate` does). */
type Outcome = { ok: true } | { ok: false; error: UserInputError };

function loadPlaybookText(source: string, file: string): Outcome {
  return attempt(() => {
    const playbook = parsePlaybook(source, file);
    preparePlays(playbook, validInventory, { extraVars: new Map() });
  });
}

function loadInventoryText(source: string, file: string): Outcome {
  return attempt(() => {
    const inventory = parseInventoryText(source, file);
    checkBoth(validPlaybook, inventory);
  });
}

function checkBoth(playbook: Playbook, inventory: Inventory): void {
  preparePlays(playbook, inventory, { extraVars: new Map() });
}

/** Runs `load`; a UserInputError is an outcome, any other exception fails the property with its stack. */
function attempt(load: () => void): Outcome {
  try {
    load();
    return { ok: true };
  } catch (e) {
    if (e instanceof UserInputError) return { ok: false, error: e };
    throw e;
  }
}

/** The property every outcome must have; `files` are the names the loaders were given. */
function expectWellFormed(outcome: Outcome, files: string[]): void {
  if (outcome.ok) return;
  const { diagnostics } = outcome.error;
  expect(diagnostics.length).toBeGreaterThan(0);
  for (const d of diagnostics) {
    expect(d.loc, d.message).toBeDefined();
    expect(files, d.message).toContain(d.loc!.file);
    expect(d.loc!.line).toBeGreaterThanOrEqual(1);
    expect(d.loc!.col).toBeGreaterThanOrEqual(1);
    expect(d.message.length).toBeGreaterThan(0);
    expect(d.message).not.toMatch(/[\n\r\x00-\x08\x0b-\x1f\x7f]/);
  }
}

const counts = { playbookMutants: 0, inventoryMutants: 0, randomTexts: 0, rejected: 0 };

function tally(outcome: Outcome): Outcome {
  if (!outcome.ok) counts.rejected++;
  return outcome;
}

/** Playbook-ish and inventory-ish lines, so that random text gets past the first YAML error. */
const PIECES = [
  '- name: p',
  '  hosts: all',
  '  hosts: realservers',
  '  vars:',
  '    vip: 192.0.2.10',
  '  tasks:',
  '    - name: t',
  '      sysctl:',
  '        set:',
  '          net.ipv4.conf.all.arp_ignore: 1',
  '      address: { address: "{{ vip }}/32", dev: lo, label: "lo:1" }',
  '      command: ["true"]',
  '  verify:',
  '    - http: { url: "http://{{ vip }}/", from: h1 }',
  'all:',
  '  children:',
  '    realservers:',
  '      hosts:',
  '        web1:',
  '          ansible_host: 192.0.2.11',
  '[web]',
  '[web:vars]',
  '[web:children]',
  'web1 ansible_host=192.0.2.1',
  'x: &a [1, 2]',
  'y: *a',
  '<<: *a',
  '---',
  '...',
  '%YAML 1.1',
  '- ',
  '  - ',
  '? ',
  ': ',
  '{',
  '}',
  '[',
  ']',
  '"',
  "'",
  '|',
  '>',
  '#',
  '',
];
const randomText = fc
  .array(
    fc.oneof(
      { weight: 3, arbitrary: fc.constantFrom(...PIECES) },
      { weight: 1, arbitrary: fc.string({ maxLength: 16 }) },
      { weight: 1, arbitrary: fc.constantFrom(...HOSTILE_VALUES) },
    ),
    { maxLength: 25 },
  )
  .map((lines) => lines.join('\n'));

describe('the loaders never crash, and every error is located', () => {
  // A library warning would reach the user's stderr as an extra, unlocated line.
  let warnings: ReturnType<typeof vi.spyOn>;
  beforeEach(() => {
    warnings = vi.spyOn(process, 'emitWarning').mockImplementation(() => undefined);
  });
  afterEach(() => {
    const calls = warnings.mock.calls.map((c: unknown[]) => String(c[0]));
    warnings.mockRestore();
    expect(calls).toEqual([]);
  });

  it('random mutations of the valid playbooks', () => {
    fc.assert(
      fc.property(fc.constantFrom(...PLAYBOOKS), fc.array(mutation, { minLength: 1, maxLength: 4 }), (path, mutations) => {
        counts.playbookMutants++;
        const file = basename(path);
        expectWellFormed(tally(loadPlaybookText(mutate(text(path), mutations), file)), [file, 'site.yml']);
      }),
      { numRuns: 3000 },
    );
  });

  it('random mutations of the valid inventories (YAML and INI)', () => {
    fc.assert(
      fc.property(fc.constantFrom(...INVENTORIES), fc.array(mutation, { minLength: 1, maxLength: 4 }), (path, mutations) => {
        counts.inventoryMutants++;
        const file = basename(path);
        expectWellFormed(tally(loadInventoryText(mutate(text(path), mutations), file)), [file, 'hidden-arp.yml']);
      }),
      { numRuns: 3000 },
    );
  });

  it('random YAML-ish text, read as a playbook, a YAML inventory and an INI inventory', () => {
    fc.assert(
      fc.property(randomText, (source) => {
        counts.randomTexts++;
        expectWellFormed(tally(loadPlaybookText(source, 'r.yml')), ['r.yml', 'site.yml']);
        expectWellFormed(tally(loadInventoryText(source, 'r.yml')), ['r.yml', 'hidden-arp.yml']);
        expectWellFormed(tally(loadInventoryText(source, 'r.ini')), ['r.ini', 'hidden-arp.yml']);
      }),
      { numRuns: 2000 },
    );
  });

  it('the mutations do break files (most mutants are rejected, so the property above was tested on errors)', () => {
    const total = counts.playbookMutants + counts.inventoryMutants + counts.randomTexts * 3;
    expect(counts.playbookMutants).toBeGreaterThanOrEqual(3000);
    expect(counts.inventoryMutants).toBeGreaterThanOrEqual(3000);
    expect(counts.rejected / total).toBeGreaterThan(0.5);
    expect(counts.rejected).toBeLessThan(total);
  });

  it('mutate() does what each operation says', () => {
    expect(mutate('a: 1\nb: 2\n', [{ op: 'delete-line', at: 1 }])).toBe('a: 1\n');
    expect(mutate('a: 1\nb: 2', [{ op: 'duplicate-line', at: 0 }])).toBe('a: 1\na: 1\nb: 2');
    expect(mutate('  a: 1', [{ op: 'indent', at: 0, by: 2, tab: false }])).toBe('    a: 1');
    expect(mutate('  - a: 1', [{ op: 'rename-key', at: 0, to: 'b;c' }])).toBe('  - b;c: 1');
    expect(mutate('a=1 # c', [{ op: 'swap-value', at: 0, to: '$(x)' }])).toBe('a=$(x)');
    expect(mutate('abc', [{ op: 'flip', at: 4, char: '\0' }])).toBe('a\0c');
  });
});

describe('a sample of mutants through the CLI (vipush validate)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'vipush-fuzz-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('exits 0 or 3, with one located line per error on stderr and no stack trace', async () => {
    // A fixed seed: the same 20 mutants every run, most of them invalid.
    const candidates = fc.sample(fc.tuple(fc.constantFrom(...PLAYBOOKS, ...INVENTORIES), fc.array(mutation, { minLength: 1, maxLength: 3 })), {
      numRuns: 400,
      seed: 20240601,
    });
    const chosen: { path: string; role: 'playbook' | 'inventory'; source: string; ok: boolean }[] = [];
    for (const [path, mutations] of candidates) {
      const role = PLAYBOOKS.includes(path) ? 'playbook' : 'inventory';
      const source = mutate(text(path), mutations);
      const ok = (role === 'playbook' ? loadPlaybookText(source, 'x.yml') : loadInventoryText(source, basename(path))).ok;
      const wanted = ok ? 4 : 16;
      if (chosen.filter((c) => c.ok === ok && c.role === role).length < wanted / 2) chosen.push({ path, role, source, ok });
      if (chosen.length >= 20) break;
    }
    expect(chosen.filter((c) => !c.ok).length).toBeGreaterThanOrEqual(12);

    for (const [i, c] of chosen.entries()) {
      const file = join(dir, `m${i}-${basename(c.path)}`);
      writeFileSync(file, c.source);
      const [playbook, inventory] = c.role === 'playbook' ? [file, 'test/fixtures/inventory/good/site.yml'] : ['playbooks/hidden-arp.yml', file];
      const r = await vipush(['validate', playbook, '-i', inventory]);
      expect(r.stderr, `${file}`).not.toMatch(/internal error|\n\s+at /);
      if (c.ok) {
        expect(r.code, `${file}: ${r.stderr}`).toBe(0);
        continue;
      }
      expect(r.code, `${file}: ${r.stderr}`).toBe(3);
      expect(r.stdout).toBe('');
      const lines = r.stderr.trimEnd().split('\n');
      for (const line of lines)
        expect(line, file).toMatch(new RegExp(`^vipush: (${escapeRegExp(file)}|${escapeRegExp(playbook)}|${escapeRegExp(inventory)}):\\d+:\\d+: \\S`));
    }
  });
});

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
