import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { JsonReport } from '../../src/report/json.js';
import type { Lab } from '../lab/lab.js';

export const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the built CLI (dist/, built by `npm test` before vitest) as a user would. */
/** Saved run snapshots of the tests go to a private dir, not the machine's /var/lib/vipush. */
export const testStateDir = mkdtempSync(join(tmpdir(), 'vipush-test-state-'));

/** Starts the CLI without waiting, for tests that signal it or race it. */
export function spawnVipush(args: string[], stdio: 'ignore' | 'pipe' = 'ignore') {
  return spawn(process.execPath, [join(repoRoot, 'bin', 'vipush.js'), ...args], {
    cwd: repoRoot,
    env: { ...process.env, VIPUSH_STATE_DIR: testStateDir },
    stdio: stdio === 'ignore' ? 'ignore' : ['ignore', 'pipe', 'pipe'],
  });
}

export function vipush(args: string[], opts: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(repoRoot, 'bin', 'vipush.js'), ...args], {
      cwd: repoRoot,
      env: { ...process.env, VIPUSH_STATE_DIR: testStateDir, ...opts.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 120_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** The connection options every lab run needs. */
export function labArgs(lab: Lab): string[] {
  return ['-i', lab.inventoryFile, '--known-hosts', lab.knownHostsFile, '-e', `vip=${lab.vip}`];
}

export async function readReport(path: string): Promise<JsonReport> {
  return JSON.parse(await readFile(path, 'utf8')) as JsonReport;
}
