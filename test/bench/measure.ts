import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** GNU time, from Debian's `time` package (the shell keyword cannot report RSS). */
export const GNU_TIME = '/usr/bin/time';

/** One measured command: wall clock, CPU of its whole process tree, its largest process. */
export interface Sample {
  wallMs: number;
  /** user + sys of the command and every descendant it waited for */
  cpuMs: number;
  userMs: number;
  sysMs: number;
  /** ru_maxrss of the tree: the peak RSS of its largest single process, in KiB */
  peakRssKb: number;
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface MeasureOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  timeoutMs?: number;
  input?: string;
}

const MARK = 'VIPUSH_BENCH_TIME';

/**
 * Runs `argv` under GNU time. Wall time is taken here, around the whole
 * spawn, because that is what a user waits for; time's own %e is kept only as
 * a cross-check (it excludes our spawn of `time` itself, about a millisecond).
 */
export function measure(argv: readonly string[], opts: MeasureOptions = {}): Promise<Sample> {
  const dir = mkdtempSync(join(tmpdir(), 'vipush-bench-time-'));
  const timeFile = join(dir, 'time');
  const started = process.hrtime.bigint();
  return new Promise((resolve, reject) => {
    const child = spawn(GNU_TIME, ['-o', timeFile, '-f', `${MARK} %e %U %S %M`, '--', ...argv], {
      cwd: opts.cwd,
      env: opts.env ?? process.env,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    const timer = opts.timeoutMs ? setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs) : undefined;
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.stdin.on('error', () => undefined);
    child.stdin.end(opts.input ?? '');
    child.on('error', (e) => {
      if (timer) clearTimeout(timer);
      rmSync(dir, { recursive: true, force: true });
      reject(new Error(`cannot run ${GNU_TIME}: ${e.message}`));
    });
    child.on('close', (code) => {
      if (timer) clearTimeout(timer);
      const wallMs = Number(process.hrtime.bigint() - started) / 1e6;
      let text = '';
      try {
        text = readFileSync(timeFile, 'utf8');
      } catch {
        // time was killed before writing: reported below
      }
      rmSync(dir, { recursive: true, force: true });
      const line = text.split('\n').find((l) => l.startsWith(MARK));
      if (!line) {
        reject(
          new Error(
            `${GNU_TIME} wrote no measurement for: ${argv.join(' ').slice(0, 200)} (exit ${code}); stderr: ${Buffer.concat(err).toString().slice(-500)}`,
          ),
        );
        return;
      }
      const [, , user, sys, rss] = line.split(' ');
      const userMs = Number(user) * 1000;
      const sysMs = Number(sys) * 1000;
      resolve({
        wallMs,
        cpuMs: userMs + sysMs,
        userMs,
        sysMs,
        peakRssKb: Number(rss),
        code,
        stdout: Buffer.concat(out).toString(),
        stderr: Buffer.concat(err).toString(),
      });
    });
  });
}

export function median(values: readonly number[]): number {
  if (values.length === 0) return NaN;
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}
