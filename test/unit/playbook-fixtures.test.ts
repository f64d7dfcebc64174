import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { describe, expect, test } from 'vitest';
import { loadPlaybook } from '../../src/config/playbook.js';
import { resolvePlayForHost } from '../../src/config/resolve.js';
import { UserInputError, formatDiagnostic } from '../../src/errors.js';
import type { Vars } from '../../src/inventory/types.js';

/**
 * The corpus of bad playbooks: each NAME.yml has a NAME.expected with the
 * exact lines vipush must print for it. Paths are relative to the repo root,
 * where vitest runs.
 */
const BAD = 'test/fixtures/playbooks/bad';

/** What the user would see for `file`: load errors, or else each play resolved for one host. */
async function linesFor(file: string): Promise<string[]> {
  let playbook: Awaited<ReturnType<typeof loadPlaybook>>;
  try {
    playbook = await loadPlaybook(file);
  } catch (e) {
    if (!(e instanceof UserInputError)) throw e;
    return e.message.split('\n');
  }
  // One host with no inventory vars: the play's own vars are all there is.
  const inventoryVars: Vars = new Map();
  return playbook.plays.flatMap((play) => resolvePlayForHost(play, new Map([...inventoryVars, ...play.vars])).diagnostics.map(formatDiagnostic));
}

const fixtures = readdirSync(BAD)
  .filter((f) => f.endsWith('.yml'))
  .sort();

describe('bad playbooks', () => {
  test('the corpus holds the cases the brief asks for', () => {
    for (const name of [
      'seed-typo-vip',
      'unknown-module',
      'unknown-play-key',
      'two-modules',
      'serial-out-of-range',
      'undefined-var',
      'label-too-long',
      'label-semicolon',
      'sysctl-key-space',
      'yaml-tab',
      'sysctl-file-dotdot',
    ]) {
      expect(fixtures).toContain(`${name}.yml`);
    }
  });

  test.each(fixtures)('%s', async (name) => {
    const file = `${BAD}/${name}`;
    const expectedFile = file.replace(/\.yml$/, '.expected');
    expect(existsSync(expectedFile), `${expectedFile} is missing`).toBe(true);
    const expected = readFileSync(expectedFile, 'utf8').trimEnd().split('\n');
    const actual = await linesFor(file);
    expect(actual.length, 'a bad fixture must produce at least one error').toBeGreaterThan(0);
    expect(actual).toEqual(expected);
  });
});
