import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stepLines, type Step } from '../../src/engine/steps.js';
import { newNonce } from '../../src/remote/markers.js';
import { applyLines, lockedScript, parseOutcomes } from '../../src/remote/script.js';
import { ensureLabPackages } from '../lab/packages.js';

const SH_DIR = join(import.meta.dirname, '..', '..', 'src', 'remote', 'sh');
const files = readdirSync(SH_DIR).filter((n) => n.endsWith('.sh'));
const dir = mkdtempSync(join(tmpdir(), 'vipush-shells-'));

beforeAll(() => ensureLabPackages(), 600_000);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('the host-side shell (src/remote/sh)', () => {
  it.each(files)('%s passes shellcheck as dash', (name) => {
    // .shellcheckrc beside the files says why two checks are off there
    const r = spawnSync('shellcheck', ['--shell=dash', '--severity=style', name], { cwd: SH_DIR, encoding: 'utf8' });
    expect(r.stdout + r.stderr).toBe('');
    expect(r.status).toBe(0);
  });

  const shells: Array<[string, string[]]> = [
    ['dash', ['dash']],
    ['bash', ['bash']],
    ['BusyBox sh', ['busybox', 'sh']],
  ];
  it.each(shells)('every file parses under %s', (_name, shell) => {
    const all = files.map((n) => readFileSync(join(SH_DIR, n), 'utf8')).join('\n');
    const r = spawnSync(shell[0], [...shell.slice(1), '-n'], { input: all, encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
  });

  it.each(shells)('an apply script writes a file, sets a value and runs a command under %s', (name, shell) => {
    const nonce = newNonce();
    const f = join(dir, `${name.replace(/\W/g, '')}.conf`);
    const steps: Step[] = [
      { index: 0, taskIndex: 0, change: { kind: 'file', path: f, before: null, after: { content: Buffer.from('a = 1\n%s\\n\n'), mode: 0o640 } } },
      { index: 1, taskIndex: 0, change: { kind: 'command', argv: ['printf', '%s|', 'a b', '*'], reportChanged: true } },
    ];
    const script = lockedScript({ nonce, runDir: join(dir, 'run'), stateDir: join(dir, 'state') }, 5, applyLines(stepLines(steps)));
    const out = execFileSync(shell[0], [...shell.slice(1), '-s'], { input: script });
    const r = parseOutcomes(out, nonce);
    expect(r.ended).toBe(true);
    expect(r.outcomes.get(1)?.output).toBe('a b|*|');
    expect(readFileSync(f, 'utf8')).toBe('a = 1\n%s\\n\n');
  });
});
