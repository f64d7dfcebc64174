import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { UserInputError } from '../../src/errors.js';
import { loadInventory, parseInventoryText } from '../../src/inventory/load.js';

/**
 * Each file in test/fixtures/inventory/bad/ is refused with exactly the
 * one-line messages in its sibling `.expected` file. Those files hold the
 * paths as seen from the repository root; the test maps them to the path it
 * passes when run from elsewhere.
 */
const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '../..');
const badDir = join(repoRoot, 'test/fixtures/inventory/bad');
const fixtures = readdirSync(badDir)
  .filter((f) => !f.endsWith('.expected'))
  .sort();

describe('bad inventory corpus', () => {
  it('covers the required cases', () => {
    for (const name of [
      'unknown-key.yml',
      'cycle.yml',
      'cycle.ini',
      'duplicate-host.yml',
      'bad-port.yml',
      'hostile-host.yml',
      'hostile-host.ini',
      'yaml-syntax.yml',
      'bad-line.ini',
    ]) {
      expect(fixtures).toContain(name);
    }
  });

  it.each(fixtures)('%s is refused with the expected messages', async (name) => {
    const expectedFile = join(badDir, `${name}.expected`);
    expect(existsSync(expectedFile), `${name} has no ${name}.expected`).toBe(true);
    const asFromRoot = `test/fixtures/inventory/bad/${name}`;
    const passed = relative(process.cwd(), join(badDir, name));
    const expected = readFileSync(expectedFile, 'utf8')
      .trimEnd()
      .split('\n')
      .map((l) => l.split(asFromRoot).join(passed));
    expect(expected.length).toBeGreaterThan(0);

    const error = await loadInventory(passed).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error, `${name} was accepted`).toBeInstanceOf(UserInputError);
    const lines = (error as UserInputError).message.split('\n');
    expect(lines).toEqual(expected);
    for (const line of lines) expect(line).toMatch(/^[^\n]+:\d+:\d+: \S/);
    expect((error as UserInputError).diagnostics).toHaveLength(lines.length);
  });
});

describe('any text', () => {
  // Lines built from inventory-ish pieces reach far more code paths than random characters.
  const piece = fc.constantFrom(
    'all:',
    '  hosts:',
    '  children:',
    '  vars:',
    '    web1:',
    '    web[1:3]:',
    '      ansible_port: 22',
    '      ansible_host: 10.0.0.1',
    '[web]',
    '[web:vars]',
    '[web:children]',
    '[x:y]',
    'web1 a=1',
    'web1;rm',
    'a = "b',
    "q='",
    'web',
    '- x',
    '  - y',
    '{',
    '# c',
    '; c',
    '',
  );
  const text = fc.array(fc.oneof(piece, fc.string({ maxLength: 12 })), { maxLength: 12 }).map((lines) => lines.join('\n'));

  it('gives an inventory or a UserInputError of located one-line messages, never a crash', () => {
    fc.assert(
      fc.property(text, fc.constantFrom('t.yml', 't.ini'), (input, file) => {
        try {
          const inv = parseInventoryText(input, file);
          expect(inv.groups.has('all') && inv.groups.has('ungrouped')).toBe(true);
        } catch (e) {
          expect(e).toBeInstanceOf(UserInputError);
          for (const d of (e as UserInputError).diagnostics) {
            expect(d.loc?.file).toBe(file);
            expect(d.message).not.toContain('\n');
          }
        }
      }),
      { numRuns: 2000 },
    );
  });
});
