import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Lab } from '../lab/lab.js';
import { openSshFloorScript } from './floors.js';
import { measure, type Sample } from './measure.js';

/** The repository root (this file runs from dist/test/bench). */
export const REPO = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
export const VIPUSH_BIN = join(REPO, 'bin', 'vipush.js');
export const PLAYBOOK = join(REPO, 'playbooks', 'hidden-arp.yml');
export const ANSIBLE_DIR = join(REPO, 'test', 'bench', 'ansible');
const SSH2_FLOOR = join(REPO, 'dist', 'test', 'bench', 'ssh2-floor.js');

/** A sample plus whether the run did what it should (a fast wrong run is no result). */
export interface Run extends Sample {
  valid: boolean;
  problem?: string;
  /** vipush's own run time from its JSON report (excludes Node start-up and config loading) */
  engineMs?: number;
  /** CPU of the lab hosts' SSH sessions during the run (see cpu-accounting.ts) */
  hostsCpuMs?: number;
  /** busy CPU of the whole machine during the run, minus controller and hosts: other load */
  otherCpuMs?: number;
}

/** The measured commands get the caller's environment minus what would change their behaviour. */
function cleanEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env = { ...process.env, ...extra };
  delete env.NODE_OPTIONS;
  delete env.SSH_AUTH_SOCK;
  return env;
}

export async function openSshFloor(lab: Lab): Promise<Run> {
  const script = openSshFloorScript({
    ips: lab.hosts.map((h) => h.ip),
    user: 'root',
    privateKeyFile: lab.privateKeyFile,
    knownHostsFile: lab.knownHostsFile,
  });
  const s = await measure(['sh', '-c', script], { env: cleanEnv(), timeoutMs: 600_000 });
  const answers = s.stdout.split('\n').filter((l) => /^\d+$/.test(l.trim())).length;
  const valid = s.code === 0 && answers === lab.hosts.length;
  return {
    ...s,
    valid,
    problem: valid ? undefined : `exit ${s.code}, ${answers}/${lab.hosts.length} answers; ${s.stderr.trim().split('\n').slice(0, 3).join(' | ')}`,
  };
}

export async function ssh2Floor(lab: Lab): Promise<Run> {
  const s = await measure([process.execPath, SSH2_FLOOR, '--known-hosts', lab.knownHostsFile, '--key', lab.privateKeyFile, ...lab.hosts.map((h) => h.ip)], {
    env: cleanEnv(),
    timeoutMs: 600_000,
  });
  let ok = -1;
  try {
    ok = (JSON.parse(s.stdout.trim().split('\n').pop() ?? '{}') as { ok?: number }).ok ?? -1;
  } catch {
    // reported below
  }
  const valid = s.code === 0 && ok === lab.hosts.length;
  return { ...s, valid, problem: valid ? undefined : `exit ${s.code}, ${ok}/${lab.hosts.length} ok; ${(s.stdout + s.stderr).trim().slice(0, 300)}` };
}

export type VipushMode = 'apply' | 'noop' | 'drift' | 'validate';

/** The parts of vipush's JSON report (--report) the bench reads. */
export interface VipushReport {
  durationMs: number;
  summary: { ok: number; changed: number; failed: number; unreachable: number; skipped: number };
  hosts: Record<string, { status: string; durationMs: number; error: string | null }>;
}

export function vipushArgs(lab: Lab, mode: VipushMode, reportFile?: string): string[] {
  const command = mode === 'drift' ? 'drift' : mode === 'validate' ? 'validate' : 'run';
  const args = [VIPUSH_BIN, command, PLAYBOOK, '-i', lab.inventoryFile, '-e', `vip=${lab.vip}`];
  if (mode === 'validate') return args;
  // Every host at once, as the floors and Ansible (forks = N) do.
  // The lab's hosts share the controller's cores: with 200 sessions at once a handshake can wait
  // longer than the 10 s default for CPU (a real fleet's sshd runs on its own CPUs). The floors
  // have no such deadline either (OpenSSH: none, ssh2: 120 s). It changes nothing when no host hits it.
  args.push('--known-hosts', lab.knownHostsFile, '--forks', String(lab.hosts.length), '--connect-timeout', '60');
  if (reportFile) args.push('--report', reportFile);
  return args;
}

/** One vipush run under GNU time and its JSON report (null when it wrote none), unjudged. */
export async function vipushReported(lab: Lab, mode: VipushMode, nodeFlags: string[] = []): Promise<{ sample: Sample; report: VipushReport | null }> {
  const dir = mkdtempSync(join(tmpdir(), 'vipush-bench-report-'));
  const reportFile = join(dir, 'report.json');
  try {
    // the runs' snapshots stay in the lab dir, removed with the lab, not in this machine's /var/lib/vipush
    const env = cleanEnv({ VIPUSH_STATE_DIR: join(lab.dir, 'state') });
    const sample = await measure([process.execPath, ...nodeFlags, ...vipushArgs(lab, mode, reportFile)], { cwd: REPO, env, timeoutMs: 600_000 });
    let report: VipushReport | null = null;
    try {
      report = JSON.parse(readFileSync(reportFile, 'utf8')) as VipushReport;
    } catch {
      // no report (validate writes none; a crash neither): the caller says so
    }
    return { sample, report };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * One vipush run under GNU time, checked against its JSON report: a first
 * apply must change every host, a no-op and a drift check must find every
 * host ok. `nodeFlags` go before the script (e.g. --cpu-prof).
 */
export async function vipush(lab: Lab, mode: VipushMode, nodeFlags: string[] = []): Promise<Run> {
  const { sample: s, report } = await vipushReported(lab, mode, nodeFlags);
  const n = lab.hosts.length;
  if (mode === 'validate') {
    const valid = s.code === 0;
    return { ...s, valid, problem: valid ? undefined : `exit ${s.code}: ${s.stderr.trim().slice(0, 300)}` };
  }
  const sum = report?.summary;
  const wanted = mode === 'apply' ? sum?.changed === n : sum?.ok === n;
  const valid = s.code === 0 && !!sum && wanted;
  const problem = valid
    ? undefined
    : `exit ${s.code}; summary ${sum ? JSON.stringify(sum) : '(no report)'}; ${s.stderr.trim().split('\n').slice(-3).join(' | ')}`;
  return { ...s, valid, problem, engineMs: report?.durationMs };
}

// ---- Ansible ---------------------------------------------------------------

export function ansibleVersion(): string | null {
  const r = spawnSync('ansible-playbook', ['--version'], { encoding: 'utf8', env: cleanEnv() });
  if (r.error || r.status !== 0) return null;
  return r.stdout.split('\n')[0].trim();
}

export function installAnsible(log: (m: string) => void): void {
  log("installing Debian's ansible package (--install-ansible)");
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  for (const args of [['update'], ['install', '-y', '--no-install-recommends', 'ansible']]) {
    const r = spawnSync('apt-get', args, { stdio: 'inherit', env });
    if (r.status !== 0) throw new Error(`apt-get ${args.join(' ')} failed (exit ${r.status})`);
  }
}

const RECAP_RE = /^(\S+)\s+:\s+ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)/gm;

export function parseAnsibleRecap(stdout: string): Map<string, { ok: number; changed: number; unreachable: number; failed: number }> {
  const hosts = new Map<string, { ok: number; changed: number; unreachable: number; failed: number }>();
  for (const m of stdout.matchAll(RECAP_RE)) {
    hosts.set(m[1], { ok: Number(m[2]), changed: Number(m[3]), unreachable: Number(m[4]), failed: Number(m[5]) });
  }
  return hosts;
}

/**
 * Ansible's ControlPersist masters outlive the run; each run gets its own
 * socket directory (so no run reuses another's connections) and its masters
 * are told to exit afterwards.
 */
function stopControlMasters(dir: string): void {
  for (const sock of readdirSync(dir)) {
    spawnSync('ssh', ['-F', '/dev/null', '-o', `ControlPath=${join(dir, sock)}`, '-O', 'exit', 'bench-control-master'], { stdio: 'ignore', timeout: 10_000 });
  }
}

export async function ansible(lab: Lab, mode: 'apply' | 'noop'): Promise<Run> {
  const controlDir = mkdtempSync(join(tmpdir(), 'vipush-bench-cp-'));
  const localTmp = mkdtempSync(join(tmpdir(), 'vipush-bench-ansible-'));
  const n = lab.hosts.length;
  try {
    const sshCommon = `-o UserKnownHostsFile=${lab.knownHostsFile} -o GlobalKnownHostsFile=/dev/null -o StrictHostKeyChecking=yes`;
    const s = await measure(
      [
        'ansible-playbook',
        '-i',
        lab.inventoryFile,
        join(ANSIBLE_DIR, 'hidden-arp.yml'),
        '-f',
        String(n),
        '-e',
        `vip=${lab.vip}`,
        '--ssh-common-args',
        sshCommon,
      ],
      {
        cwd: REPO,
        env: cleanEnv({
          ANSIBLE_CONFIG: join(ANSIBLE_DIR, 'ansible.cfg'),
          ANSIBLE_SSH_CONTROL_PATH_DIR: controlDir,
          ANSIBLE_LOCAL_TEMP: localTmp,
          ANSIBLE_NOCOLOR: '1',
        }),
        timeoutMs: 1_800_000,
      },
    );
    const recap = parseAnsibleRecap(s.stdout);
    const hosts = lab.hosts.map((h) => recap.get(h.name));
    const bad = hosts.filter((r) => !r || r.failed > 0 || r.unreachable > 0 || (mode === 'apply' ? r.changed === 0 : r.changed > 0)).length;
    const valid = s.code === 0 && bad === 0;
    const tail = s.stdout
      .split('\n')
      .filter((l) => /fatal|FAILED|UNREACHABLE|ERROR/.test(l))
      .slice(0, 3)
      .join(' | ');
    return { ...s, valid, problem: valid ? undefined : `exit ${s.code}; ${bad}/${n} hosts not as expected; ${tail || s.stderr.trim().slice(0, 300)}` };
  } finally {
    stopControlMasters(controlDir);
    rmSync(controlDir, { recursive: true, force: true });
    rmSync(localTmp, { recursive: true, force: true });
  }
}
