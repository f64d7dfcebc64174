import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Lab, LabHost } from '../lab/lab.js';

/**
 * What one run cost one host, seen from the host: strace follows the host's
 * sshd listener (and everything it forks) for the duration of the run.
 * Counted from the trace, not from vipush, so no change to vipush is needed
 * and the same count works for ssh, ssh2 and Ansible.
 */
export interface HostCost {
  /** SSH connections: sshd re-executes itself (`sshd -R`) once per accepted connection */
  connections: number;
  /** exec requests: programs sshd started directly (the user's shell with -c), one per exec channel */
  execChannels: number;
  /** processes created on the host outside sshd itself (shells, subshells, timeout, cat, ip...) */
  processes: number;
  /** successful execve() calls outside sshd: programs run */
  programs: number;
  /** programs run, by name, most frequent first */
  byProgram: Record<string, number>;
}

interface Proc {
  parent: number | null;
  /** programs this pid exec'd, in order; empty: it still runs its parent's program */
  execs: string[];
}

function commOf(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return '';
  }
}

function ppidOf(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  } catch {
    return 0;
  }
}

/**
 * The sshd listener of each host (the sshd whose parent is not an sshd), in
 * one scan of /proc: a process belongs to a host when its network namespace
 * is the host's /run/netns entry (same inode).
 */
export function sshdListeners(hosts: readonly LabHost[]): number[] {
  const hostByInode = new Map<number, number>();
  for (const [i, h] of hosts.entries()) hostByInode.set(statSync(`/run/netns/${h.ns}`).ino, i);
  const found: Array<number | undefined> = hosts.map(() => undefined);
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const pid = Number(entry);
    if (commOf(pid) !== 'sshd' || commOf(ppidOf(pid)) === 'sshd') continue;
    let ino: number;
    try {
      ino = statSync(`/proc/${pid}/ns/net`).ino;
    } catch {
      continue;
    }
    const i = hostByInode.get(ino);
    if (i !== undefined) found[i] = pid;
  }
  return found.map((pid, i) => {
    if (pid === undefined) throw new Error(`no sshd listener found in ${hosts[i].ns}`);
    return pid;
  });
}

export async function sshdListener(host: LabHost): Promise<number> {
  return sshdListeners([host])[0];
}

export class HostTrace {
  private constructor(
    private readonly child: ChildProcess,
    private readonly dir: string,
    private readonly rootPid: number,
  ) {}

  static async start(lab: Lab, hostName = 'h1'): Promise<HostTrace> {
    const pid = await sshdListener(lab.host(hostName));
    const dir = mkdtempSync(join(tmpdir(), 'vipush-bench-strace-'));
    const child = spawn('strace', ['-f', '-ff', '-qq', '-s', '64', '-e', 'trace=execve,clone,clone3,fork,vfork', '-o', join(dir, 'tr'), '-p', String(pid)], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let err = '';
    child.stderr!.on('data', (b: Buffer) => (err += b.toString()));
    const deadline = Date.now() + 10_000;
    // strace creates the listener's file once it has attached.
    while (!existsSync(join(dir, `tr.${pid}`))) {
      if (child.exitCode !== null || Date.now() > deadline) {
        child.kill('SIGKILL');
        rmSync(dir, { recursive: true, force: true });
        throw new Error(`strace did not attach to sshd ${pid}: ${err.trim() || 'timeout'}`);
      }
      await new Promise((r) => setTimeout(r, 20));
    }
    return new HostTrace(child, dir, pid);
  }

  /** Detaches (after the sessions had a moment to end) and counts. */
  async stop(settleMs = 500): Promise<HostCost> {
    await new Promise((r) => setTimeout(r, settleMs));
    const exited = new Promise<void>((r) => this.child.once('exit', () => r()));
    if (this.child.exitCode === null) this.child.kill('SIGINT');
    await exited;
    try {
      return countTrace(this.dir, this.rootPid);
    } finally {
      rmSync(this.dir, { recursive: true, force: true });
    }
  }
}

const CHILD_RE = /^(?:clone3?|v?fork)\(.*\)\s+=\s+(\d+)$/;
const EXEC_RE = /^execve\("([^"]+)",.*\)\s+=\s+0$/;

export function countTrace(dir: string, rootPid: number): HostCost {
  const procs = new Map<number, Proc>();
  procs.set(rootPid, { parent: null, execs: [] });
  const files = readdirSync(dir).filter((f) => /^tr\.\d+$/.test(f));
  for (const f of files) {
    const pid = Number(f.slice(3));
    const p = procs.get(pid) ?? { parent: null, execs: [] };
    procs.set(pid, p);
    for (const line of readFileSync(join(dir, f), 'utf8').split('\n')) {
      const c = CHILD_RE.exec(line);
      if (c) {
        const child = Number(c[1]);
        const cp = procs.get(child) ?? { parent: null, execs: [] };
        cp.parent = pid;
        procs.set(child, cp);
        continue;
      }
      const e = EXEC_RE.exec(line);
      if (e) p.execs.push(e[1]);
    }
  }
  const programAt = (pid: number | null): string => {
    // The listener was running sshd when strace attached.
    for (let cur = pid; cur !== null; cur = procs.get(cur)?.parent ?? null) {
      const execs = procs.get(cur)?.execs ?? [];
      if (execs.length > 0) return execs[execs.length - 1];
      if (cur === rootPid) return '/usr/sbin/sshd';
    }
    return '/usr/sbin/sshd';
  };
  /** the program the parent ran when it forked this pid: the parent's last exec (sshd never execs twice) */
  const isSshd = (path: string) => path.endsWith('/sshd');
  let connections = 0;
  let execChannels = 0;
  let processes = 0;
  let programs = 0;
  const byProgram: Record<string, number> = {};
  for (const [pid, p] of procs) {
    if (pid === rootPid) continue;
    for (const path of p.execs) {
      if (isSshd(path)) connections++;
      else {
        programs++;
        const name = path.slice(path.lastIndexOf('/') + 1);
        byProgram[name] = (byProgram[name] ?? 0) + 1;
      }
    }
    const parentProgram = programAt(p.parent);
    if (isSshd(parentProgram) && p.execs.length > 0 && !isSshd(p.execs[0])) execChannels++;
    if (!isSshd(programAt(pid))) processes++;
  }
  const sorted = Object.fromEntries(Object.entries(byProgram).sort((a, b) => b[1] - a[1]));
  return { connections, execChannels, processes, programs, byProgram: sorted };
}
