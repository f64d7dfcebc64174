import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadPlaybook } from '../../src/config/playbook.js';
import { UserInputError } from '../../src/errors.js';
import { loadInventory } from '../../src/inventory/load.js';
import { repoRoot } from '../e2e/vipush-cli.js';

/**
 * Huge, deep and self-multiplying input files: each is refused quickly, with a
 * located one-line message, exit 3 and bounded memory. The files are made
 * here, not kept in git (one is 20 MB).
 *
 * No wall-clock limit (one of 2 s failed on a loaded machine): the work is
 * bounded by the loader's own limits, which each message names (values,
 * depth), and memory by the CLI's peak RSS, read from the kernel. A hang is
 * caught by HANG_GUARD_MS.
 */

const HANG_GUARD_MS = 30_000;
const MAX_RSS_KB = 300 * 1024;
const MB = 1024 * 1024;

const CLEAN_INVENTORY = join(repoRoot, 'test/fixtures/hostile/inventory.yml');
const CLEAN_PLAYBOOK = join(repoRoot, 'test/fixtures/hostile/uses-inventory-vars.yml');

/** Nine levels of nine aliases each: 9^9 (387 million) strings if expanded. */
function billionLaughs(indent: string): string {
  const lines = [`${indent}lol0: &lol0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]`];
  for (let i = 1; i <= 9; i++)
    lines.push(
      `${indent}lol${i}: &lol${i} [${Array(9)
        .fill(`*lol${i - 1}`)
        .join(', ')}]`,
    );
  return lines.join('\n') + '\n';
}

/** Lines of `line(i)` until the text is `bytes` long. */
function linesUpTo(bytes: number, line: (i: number) => string): string {
  const parts: string[] = [];
  let size = 0;
  for (let i = 0; size < bytes; i++) {
    const l = line(i);
    parts.push(l);
    size += l.length;
  }
  return parts.join('');
}

/** Deterministic bytes: the same "random" file on every run. */
function garbage(bytes: number): Buffer {
  const out = Buffer.alloc(bytes);
  let x = 2463534242;
  for (let i = 0; i < bytes; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

const playHead = '- name: huge\n  hosts: all\n';
const bigList = `[${Array.from({ length: 50_000 }, (_, i) => i).join(',')}]`;

interface HugeCase {
  name: string;
  /** the hostile file is the playbook or the inventory; the other one is clean */
  role: 'playbook' | 'inventory';
  file: string;
  content: () => string | Buffer;
  /** why it is refused */
  message: RegExp;
}

const cases: HugeCase[] = [
  {
    name: 'billion laughs in play vars',
    role: 'playbook',
    file: 'laughs.yml',
    content: () => `${playHead}  vars:\n${billionLaughs('    ')}  tasks: []\n`,
    message: /anchors and aliases|alias count/,
  },
  {
    name: 'billion laughs in inventory vars',
    role: 'inventory',
    file: 'laughs-inventory.yml',
    content: () => `all:\n  vars:\n${billionLaughs('    ')}  hosts:\n    h1:\n`,
    message: /anchors and aliases|alias count/,
  },
  {
    name: '10,000-deep flow list',
    role: 'playbook',
    file: 'deep-list.yml',
    content: () => `${playHead}  vars:\n    x: ${'['.repeat(10_000)}${']'.repeat(10_000)}\n`,
    message: /nested more than 100 levels/,
  },
  {
    name: '10,000-deep flow map',
    role: 'playbook',
    file: 'deep-map.yml',
    content: () => `${playHead}  vars:\n    x: ${'{a: '.repeat(10_000)}1${'}'.repeat(10_000)}\n`,
    message: /nested more than 100 levels/,
  },
  {
    name: '10,000-deep block list',
    role: 'playbook',
    file: 'deep-block-list.yml',
    content: () => `${'- '.repeat(10_000)}x\n`,
    message: /nested more than 100 levels/,
  },
  {
    name: '1,000-deep block map',
    role: 'playbook',
    file: 'deep-block-map.yml',
    content: () => Array.from({ length: 1000 }, (_, i) => `${' '.repeat(i)}k${i}:`).join('\n') + ' x\n',
    message: /nested more than 100 levels/,
  },
  {
    name: '10,000-deep list in an inventory',
    role: 'inventory',
    file: 'deep-list-inventory.yml',
    content: () => `all:\n  vars:\n    x: ${'['.repeat(10_000)}${']'.repeat(10_000)}\n`,
    message: /nested more than 100 levels/,
  },
  {
    name: '20 MB playbook',
    role: 'playbook',
    file: 'huge.yml',
    content: () => playHead + linesUpTo(20 * MB, (i) => `# ${i} ${'x'.repeat(60)}\n`),
    message: /file is \d+ bytes; vipush reads YAML files of at most/,
  },
  {
    name: '20 MB INI inventory',
    role: 'inventory',
    file: 'huge.ini',
    content: () => linesUpTo(20 * MB, (i) => `web${i} ansible_host=192.0.2.1\n`),
    message: /file is \d+ bytes; vipush reads inventories of at most/,
  },
  {
    name: '5 MB of play vars',
    role: 'playbook',
    file: 'many-vars.yml',
    content: () => `${playHead}  vars:\n${linesUpTo(5 * MB, (i) => `    v${i}: x${i}\n`)}  tasks: []\n`,
    message: /more than 200000 values/,
  },
  {
    name: '5 MB of YAML hosts',
    role: 'inventory',
    file: 'many-hosts.yml',
    content: () => `all:\n  hosts:\n${linesUpTo(5 * MB, (i) => `    web${i}:\n`)}`,
    message: /more than 200000 values/,
  },
  {
    name: '5 MB of INI hosts',
    role: 'inventory',
    file: 'many-hosts.ini',
    content: () => `[web]\n${linesUpTo(5 * MB, (i) => `web${i} ansible_host=192.0.2.1\n`)}`,
    message: /more than 200000 values/,
  },
  {
    name: '5 MB of random bytes',
    role: 'playbook',
    file: 'garbage.yml',
    content: () => garbage(5 * MB),
    message: /YAML syntax error|nested more than|more than 200000 values/,
  },
  {
    name: 'a large anchor copied into 2,000 groups',
    role: 'inventory',
    file: 'alias-groups.yml',
    content: () =>
      `all:\n  vars:\n    big: &big ${bigList}\n  children:\n${Array.from({ length: 2000 }, (_, i) => `    g${i}: { vars: { v: *big } }\n`).join('')}`,
    message: /expand this file to more than 1000000 values/,
  },
  {
    name: 'an alias chain 5,000 long',
    role: 'playbook',
    file: 'alias-chain.yml',
    content: () =>
      `${playHead}  vars:\n    a0: &a0 [x]\n${Array.from({ length: 4_999 }, (_, i) => `    a${i + 1}: &a${i + 1} [*a${i}]\n`).join('')}  tasks: []\n`,
    message: /expand this file to more than 1000000 values|aliases refer to aliases too deeply/,
  },
  {
    name: 'INI groups chained 10,000 deep through :children',
    role: 'inventory',
    file: 'deep-children.ini',
    content: () => Array.from({ length: 10_000 }, (_, i) => `[g${i}:children]\ng${i + 1}\n`).join('') + '[g10000]\nh1\n',
    message: /groups are nested more than 64 levels deep/,
  },
];

let scratch: string;
let usagePreload: string;

beforeAll(() => {
  scratch = mkdtempSync(join(tmpdir(), 'vipush-huge-'));
  for (const c of cases) writeFileSync(join(scratch, c.file), c.content());
  // Loaded into the CLI process: its own CPU time and peak memory, printed as it exits.
  usagePreload = join(scratch, 'usage.mjs');
  writeFileSync(
    usagePreload,
    `import { writeSync } from 'node:fs';\nprocess.on('exit', () => { const u = process.resourceUsage(); writeSync(2, '@usage ' + JSON.stringify({ cpuMs: (u.userCPUTime + u.systemCPUTime) / 1000, maxRssKb: u.maxRSS }) + '\\n'); });\n`,
  );
});
afterAll(() => {
  if (scratch) rmSync(scratch, { recursive: true, force: true });
});

interface Measured {
  code: number | null;
  stdout: string;
  stderr: string;
  wallMs: number;
  cpuMs: number;
  maxRssKb: number;
}

function measuredCli(args: string[]): Promise<Measured> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(process.execPath, ['--import', usagePreload, join(repoRoot, 'bin', 'vipush.js'), ...args], {
      cwd: repoRoot,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), HANG_GUARD_MS);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      const wallMs = performance.now() - started;
      const usageLine = /^@usage (.*)$/m.exec(stderr);
      if (!usageLine) return reject(new Error(`no usage line from the CLI (killed after ${HANG_GUARD_MS} ms?): ${stderr.slice(-500)}`));
      const usage = JSON.parse(usageLine[1]) as { cpuMs: number; maxRssKb: number };
      resolve({ code, stdout, stderr: stderr.replace(usageLine[0] + '\n', ''), wallMs, ...usage });
    });
  });
}

describe('huge, deep and self-multiplying files', () => {
  it.each(cases.map((c) => [c.name, c] as const))(
    '%s: the loader refuses it at its limit, with located one-line messages',
    { timeout: HANG_GUARD_MS },
    async (_name, c) => {
      const path = join(scratch, c.file);
      const error = await (c.role === 'playbook' ? loadPlaybook(path) : loadInventory(path)).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(UserInputError);
      const diagnostics = (error as UserInputError).diagnostics;
      expect(diagnostics.length).toBeGreaterThan(0);
      for (const d of diagnostics) {
        expect(d.loc?.file).toBe(path);
        expect(d.loc!.line).toBeGreaterThanOrEqual(1);
        expect(d.loc!.col).toBeGreaterThanOrEqual(1);
        expect(d.message).not.toMatch(/[\n\r]/);
      }
      expect(diagnostics.map((d) => d.message).join('\n')).toMatch(c.message);
    },
  );

  it.each(cases.map((c) => [c.name, c] as const))('%s: the CLI exits 3 with one located line per error, in bounded memory', async (_name, c) => {
    const path = join(scratch, c.file);
    const [playbook, inventory] = c.role === 'playbook' ? [path, CLEAN_INVENTORY] : [CLEAN_PLAYBOOK, path];
    const r = await measuredCli(['validate', playbook, '-i', inventory]);
    expect(r.code, r.stderr.slice(0, 1000)).toBe(3);
    expect(r.stdout).toBe('');
    const lines = r.stderr.trimEnd().split('\n');
    for (const line of lines) expect(line.startsWith(`vipush: ${path}:`) && /:\d+:\d+: \S/.test(line), line).toBe(true);
    expect(r.stderr).toMatch(c.message);
    expect(r.stderr).not.toMatch(/internal error|\n\s+at /);
    expect(r.maxRssKb, `peak RSS ${Math.round(r.maxRssKb / 1024)} MB`).toBeLessThan(MAX_RSS_KB);
  });
});

describe('what is too deep for YAML in an INI value stays text, as Ansible keeps what it cannot read', () => {
  it('an INI variable of 10,000 nested brackets loads as a string', { timeout: HANG_GUARD_MS }, async () => {
    const path = join(scratch, 'deep-value.ini');
    const value = `${'['.repeat(10_000)}${']'.repeat(10_000)}`;
    writeFileSync(path, `h1 ansible_host=192.0.2.1 deep=${value}\n`);
    const inv = await loadInventory(path);
    expect(inv.hosts.get('h1')?.vars.get('deep')?.value).toBe(value);
  });

  it('a shallow INI list is still read as a list', async () => {
    const path = join(scratch, 'shallow-value.ini');
    writeFileSync(path, 'h1 ansible_host=192.0.2.1 ports=[80,443]\n');
    expect((await loadInventory(path)).hosts.get('h1')?.vars.get('ports')?.value).toEqual([80, 443]);
  });
});

describe('input files that are not files', () => {
  it('-i DIR reads the directory as an inventory directory: its bad files are located errors, exit 3', async () => {
    const r = await measuredCli(['validate', CLEAN_PLAYBOOK, '-i', scratch]);
    expect(r.code, r.stderr).toBe(3);
    const lines = r.stderr.trimEnd().split('\n');
    for (const line of lines) expect(line).toMatch(new RegExp(`^vipush: ${scratch}/[^:]+:\\d+:\\d+: `));
  });

  const notFiles: [string, () => string, RegExp][] = [
    ['a directory', () => scratch, /not a regular file/],
    ['/dev/zero (endless)', () => '/dev/zero', /not a regular file/],
    ['a missing file', () => join(scratch, 'missing.yml'), /file not found/],
  ];
  it.each(notFiles)('%s is refused with exit 3, not read', async (name, path, message) => {
    const uses = [['validate', path(), '-i', CLEAN_INVENTORY]];
    // -i DIR is an inventory directory (as in Ansible), read below; a playbook is never a directory
    if (name !== 'a directory') uses.push(['validate', CLEAN_PLAYBOOK, '-i', path()]);
    for (const args of uses) {
      const r = await measuredCli(args);
      expect(r.code, r.stderr).toBe(3);
      expect(r.stderr).toMatch(message);
      expect(r.stderr.trimEnd().split('\n')).toHaveLength(1);
    }
  });
});
