import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { openSync, closeSync, readFileSync } from 'node:fs';
import { connect } from 'node:net';
import type { ExecResult } from '../../src/transport/types.js';

/** A failure of the lab itself (a command that had to work, a process that did not start). */
export class LabError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'LabError';
  }
}

/**
 * Lab commands get a small fixed environment: the caller's NODE_OPTIONS, LANG
 * and the like must not change what `ip`, `sysctl` or sshd print or do.
 */
export const LAB_ENV: NodeJS.ProcessEnv = {
  PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
  HOME: '/root',
  LC_ALL: 'C',
};

export interface RunOptions {
  input?: string | Buffer;
  timeoutMs?: number;
  env?: NodeJS.ProcessEnv;
}

export function run(file: string, args: readonly string[], opts: RunOptions = {}): Promise<ExecResult> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { env: { ...LAB_ENV, ...opts.env }, stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let timedOut = false;
    const timer = opts.timeoutMs
      ? setTimeout(() => {
          timedOut = true;
          child.kill('SIGKILL');
        }, opts.timeoutMs)
      : undefined;
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.on('error', (e) => {
      if (timer) clearTimeout(timer);
      reject(new LabError(`cannot run ${file}: ${e.message}`));
    });
    child.on('close', (code, signal) => {
      if (timer) clearTimeout(timer);
      const stderr = Buffer.concat(err).toString();
      resolve({
        stdout: Buffer.concat(out).toString(),
        stderr: timedOut ? `${stderr}[lab: killed after ${opts.timeoutMs} ms]\n` : stderr,
        code,
        signal,
        durationMs: Date.now() - started,
      });
    });
    // A command that exits without reading its stdin must not crash the lab with EPIPE.
    child.stdin.on('error', () => undefined);
    child.stdin.end(opts.input ?? '');
  });
}

export function describeCommand(file: string, args: readonly string[]): string {
  const shown = args.map((a) => (a.length > 80 ? `${a.slice(0, 77)}...` : a));
  return [file, ...shown].join(' ');
}

/** Runs a command that must succeed; a failure throws with the command and its stderr. */
export async function runOk(file: string, args: readonly string[], opts: RunOptions = {}): Promise<string> {
  const r = await run(file, args, opts);
  if (r.code !== 0) {
    throw new LabError(`${describeCommand(file, args)} failed (exit ${r.code ?? r.signal}): ${r.stderr.trim() || r.stdout.trim()}`);
  }
  return r.stdout;
}

/** The synchronous twin of run(), for teardown from a process 'exit' handler. */
export function runSync(file: string, args: readonly string[], input?: string): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(file, args, { env: LAB_ENV, input: input ?? '', encoding: 'utf8', timeout: 60_000 });
  return { code: r.status, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
}

/**
 * A process the lab started, identified by pid *and* start time, so that a pid
 * the kernel has since handed to an unrelated process is never signalled.
 */
export interface ProcessRef {
  pid: number;
  startTicks: string;
}

function statFields(pid: number): string[] | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may hold spaces and parentheses; fields resume after the last ')'.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return null;
  }
}

export function processRef(pid: number): ProcessRef | null {
  const f = statFields(pid);
  return f ? { pid, startTicks: f[19] } : null;
}

/** Alive means: exists, is not a zombie (a zombie has already left its namespaces), and is the same process. */
export function isAlive(ref: ProcessRef): boolean {
  const f = statFields(ref.pid);
  return f !== null && f[0] !== 'Z' && f[19] === ref.startTicks;
}

export function isPidAlive(pid: number): boolean {
  const f = statFields(pid);
  return f !== null && f[0] !== 'Z';
}

export function killRef(ref: ProcessRef, signal: NodeJS.Signals = 'SIGKILL'): void {
  if (!isAlive(ref)) return;
  try {
    process.kill(ref.pid, signal);
  } catch {
    // already gone
  }
}

export function killPid(pid: number, signal: NodeJS.Signals = 'SIGKILL'): void {
  try {
    process.kill(pid, signal);
  } catch {
    // already gone
  }
}

export async function waitGone(pids: readonly number[], timeoutMs = 5_000): Promise<number[]> {
  const deadline = Date.now() + timeoutMs;
  let left = pids.filter(isPidAlive);
  while (left.length > 0 && Date.now() < deadline) {
    await sleep(10);
    left = left.filter(isPidAlive);
  }
  return left;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

export function tailOf(file: string, lines = 15): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

/**
 * Starts a long-lived process outside our process group, with its output in a
 * log file, so it neither holds the event loop nor receives the terminal's Ctrl-C.
 */
export function spawnDetached(file: string, args: readonly string[], logFile: string, stdout: 'log' | 'pipe' = 'log'): ChildProcess {
  const fd = openSync(logFile, 'a');
  try {
    const child = spawn(file, args, { env: LAB_ENV, detached: true, stdio: ['ignore', stdout === 'pipe' ? 'pipe' : fd, fd] });
    child.unref();
    return child;
  } finally {
    closeSync(fd);
  }
}

/**
 * Resolves once `ip:port` accepts TCP. Fails fast if `child` exits first and
 * after `timeoutMs` otherwise; both errors point at the log.
 */
export function waitForPort(ip: string, port: number, what: string, logFile: string, child: ChildProcess | null, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  return new Promise((resolve, reject) => {
    let settled = false;
    const onExit = (code: number | null, signal: string | null) =>
      finish(new LabError(`${what} exited (${code ?? signal}) before listening on ${ip}:${port}; see ${logFile}:\n${tailOf(logFile)}`));
    const finish = (err?: Error) => {
      if (settled) return;
      settled = true;
      child?.off('exit', onExit);
      if (err) reject(err);
      else resolve();
    };
    child?.once('exit', onExit);
    const attempt = () => {
      if (settled) return;
      const socket = connect({ host: ip, port });
      socket.setTimeout(500);
      let attemptDone = false;
      const retry = () => {
        if (attemptDone) return;
        attemptDone = true;
        socket.destroy();
        if (Date.now() > deadline) {
          finish(new LabError(`${what} did not listen on ${ip}:${port} within ${timeoutMs} ms; see ${logFile}:\n${tailOf(logFile)}`));
        } else {
          setTimeout(attempt, 20);
        }
      };
      socket.once('connect', () => {
        attemptDone = true;
        socket.destroy();
        finish();
      });
      socket.once('error', retry);
      socket.once('timeout', retry);
    };
    attempt();
  });
}
