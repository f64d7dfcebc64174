import { readdirSync, readFileSync, statSync } from 'node:fs';
import type { Lab, LabHost } from '../lab/lab.js';
import { FleetCpu } from './cpu-accounting.js';
import { sshdListener } from './host-trace.js';
import { median } from './measure.js';
import { vipushReported } from './runners.js';

/**
 * Issue 17: how much one flooding host slows the others. The same vipush run (the no-op re-run,
 * (c)) against the whole lab, once all healthy, then with the last host's login shell flooding
 * (as in test/e2e/hostile-host.test.ts), then healthy again once the host is restored. Only the
 * hosts that never flood are compared, so every run measures the same set.
 */
export type FloodVariant = 'healthy' | 'stderr-flood' | 'stdout-flood' | 'restored';

export const FLOOD_VARIANTS: readonly FloodVariant[] = ['healthy', 'stderr-flood', 'stdout-flood', 'restored'];

export const FLOOD_LABELS: Record<FloodVariant, string> = {
  healthy: 'all healthy',
  'stderr-flood': '600 MB stderr',
  'stdout-flood': 'stdout, cut at 64 MiB',
  restored: 'healthy again',
};

/** 600 MB, then the command as usual: the flood ends with the shell's own `head`. */
const STDERR_BYTES = 600_000_000;

/**
 * The flooding host's login shell: sshd runs every command through it. `yes` never ends by itself;
 * vipush closes the channel at its 64 MiB cap and `yes` dies of SIGPIPE.
 */
const FLOOD_SHELL = `#!/bin/sh
case $(cat /etc/vipush-hostile-mode 2>/dev/null) in
  stderr-flood) head -c ${STDERR_BYTES} /dev/zero | tr '\\000' x >&2 ;;
  stdout-flood) exec yes vipush-flood ;;
esac
exec /bin/sh "$@"
`;

/**
 * Run in the host's mount namespace ($1: the bench's pid). The check refuses to run in the bench's
 * own mount namespace: usermod on the machine's /etc would change the controller's root shell.
 */
const NOT_HERE = `[ /proc/self/ns/mnt -ef "/proc/$1/ns/mnt" ] && { echo "refusing to change the controller's /etc" >&2; exit 1; }`;

/** Prints root's previous shell, for the restore. */
const INSTALL = `set -e
${NOT_HERE}
getent passwd root | cut -d: -f7
cat > /etc/vipush-hostile.sh
chmod 755 /etc/vipush-hostile.sh
: > /etc/vipush-hostile-mode
usermod -s /etc/vipush-hostile.sh root
`;

/** $2: the shell to give back. */
const RESTORE = `set -e
${NOT_HERE}
usermod -s "$2" root
rm -f /etc/vipush-hostile.sh /etc/vipush-hostile-mode
getent passwd root | cut -d: -f7
`;

/** Median and max over a set of per-host durations, ms. */
export interface Spread {
  medianMs: number;
  maxMs: number;
}

export interface FloodRun {
  variant: FloodVariant;
  valid: boolean;
  problem?: string;
  code: number | null;
  wallMs: number;
  /** the controller (vipush's whole process tree), user + sys */
  cpuMs: number;
  peakRssKb: number;
  /** every lab host's SSH sessions, the flooding one's included */
  hostsCpuMs: number;
  /** vipush's own run time from its report */
  engineMs: number | null;
  /** hosts[].durationMs of the report over the hosts that never flood */
  healthy: Spread | null;
  flooder: { status: string; durationMs: number; error: string | null } | null;
  /** processes left under the flooding host's sshd once the run ended (killed then): 0 means the flood stopped by itself */
  leftoverProcesses: number;
}

export interface FloodResult {
  what: string;
  flooder: string;
  healthyHosts: number;
  runs: FloodRun[];
  /** flooded / all-healthy, per flood variant: null when either run is invalid */
  ratios: Partial<Record<FloodVariant, { healthyMedian: number; healthyMax: number; wall: number; cpu: number; peakRss: number } | null>>;
}

function netnsInode(host: LabHost): number {
  return statSync(`/run/netns/${host.ns}`).ino;
}

function parentOf(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  } catch {
    return 0;
  }
}

/** Processes in the host's network namespace that descend from its sshd listener: live SSH sessions and what they run. */
function sessionProcesses(host: LabHost, listener: number): number[] {
  const ino = netnsInode(host);
  const out: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const pid = Number(entry);
    try {
      if (statSync(`/proc/${pid}/ns/net`).ino !== ino) continue;
    } catch {
      continue;
    }
    for (let p = parentOf(pid); p > 1; p = parentOf(p)) {
      if (p === listener) {
        out.push(pid);
        break;
      }
    }
  }
  return out;
}

/**
 * Waits (up to 10 s) for the flooding host's sessions to end, as they must once vipush is done;
 * whatever is still there is killed so the next run starts clean, and counted.
 */
async function settleSessions(host: LabHost, listener: number): Promise<number> {
  const deadline = Date.now() + 10_000;
  let left = sessionProcesses(host, listener);
  while (left.length > 0 && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 200));
    left = sessionProcesses(host, listener);
  }
  for (const pid of left) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  return left.length;
}

function spread(values: number[]): Spread | null {
  return values.length ? { medianMs: median(values), maxMs: Math.max(...values) } : null;
}

async function floodRun(lab: Lab, fleetCpu: FleetCpu, flooder: LabHost, listener: number, variant: FloodVariant): Promise<FloodRun> {
  if (variant === 'stderr-flood' || variant === 'stdout-flood') {
    const m = await lab.hostExec(flooder, ['sh', '-c', 'printf %s "$1" > /etc/vipush-hostile-mode', 'sh', variant]);
    if (m.code !== 0) throw new Error(`could not set ${flooder.name}'s flood mode: ${m.stderr.trim()}`);
  }
  const before = fleetCpu.snapshot();
  const { sample: s, report } = await vipushReported(lab, 'noop');
  const leftoverProcesses = await settleSessions(flooder, listener);
  const hostsCpuMs = FleetCpu.delta(before, fleetCpu.snapshot()).hostsCpuMs;
  const others = lab.hosts.filter((h) => h !== flooder).map((h) => report?.hosts[h.name]);
  const f = report?.hosts[flooder.name] ?? null;
  // What each variant must end with: the healthy hosts ok; the stderr flooder too (its command runs
  // after the flood), the stdout one failed on the cap.
  const problems: string[] = [];
  if (!report) problems.push('no report');
  const notOk = others.filter((h) => h?.status !== 'ok').length;
  if (notOk > 0) problems.push(`${notOk} healthy hosts not ok`);
  if (variant === 'stdout-flood') {
    if (s.code !== 1) problems.push(`exit ${s.code}, want 1`);
    if (f?.status !== 'failed' || !/64 MiB/.test(f.error ?? ''))
      problems.push(`${flooder.name} ${f?.status ?? 'missing'}: ${f?.error ?? ''}, want failed on the 64 MiB cap`);
  } else {
    if (s.code !== 0) problems.push(`exit ${s.code}`);
    if (f?.status !== 'ok') problems.push(`${flooder.name} ${f?.status ?? 'missing'}: ${f?.error ?? ''}`);
  }
  if (leftoverProcesses > 0) problems.push(`${leftoverProcesses} processes left on ${flooder.name} after the run`);
  return {
    variant,
    valid: problems.length === 0,
    problem: problems.length ? `${problems.join('; ')}; ${s.stderr.trim().split('\n').slice(-2).join(' | ').slice(0, 300)}` : undefined,
    code: s.code,
    wallMs: s.wallMs,
    cpuMs: s.cpuMs,
    peakRssKb: s.peakRssKb,
    hostsCpuMs,
    engineMs: report?.durationMs ?? null,
    healthy: spread(others.filter((h) => h !== undefined).map((h) => h.durationMs)),
    flooder: f ? { status: f.status, durationMs: f.durationMs, error: f.error } : null,
    leftoverProcesses,
  };
}

function ratiosOf(base: FloodRun | undefined, r: FloodRun): FloodResult['ratios'][FloodVariant] {
  if (!base?.valid || !r.valid || !base.healthy || !r.healthy) return null;
  return {
    healthyMedian: r.healthy.medianMs / base.healthy.medianMs,
    healthyMax: r.healthy.maxMs / base.healthy.maxMs,
    wall: r.wallMs / base.wallMs,
    cpu: r.cpuMs / base.cpuMs,
    peakRss: r.peakRssKb / base.peakRssKb,
  };
}

/**
 * The four runs, on a fleet already in the applied state (so each is a no-op). The host's shell is
 * restored whatever happens; the last run, healthy again, shows it was, and how much the machine
 * drifted meanwhile.
 */
export async function measureFlood(lab: Lab, fleetCpu: FleetCpu, log: (m: string) => void): Promise<FloodResult> {
  const flooder = lab.hosts[lab.hosts.length - 1];
  const listener = await sshdListener(flooder);
  const runs: FloodRun[] = [];
  // null while the host has its own shell; the shell to give back once it has the flooding one
  let shell: string | null = null;
  const restore = async (to: string) => {
    const r = await lab.hostExec(flooder, ['sh', '-c', RESTORE, 'sh', String(process.pid), to], { timeoutMs: 30_000 });
    if (r.code !== 0 || r.stdout.trim() !== to) throw new Error(`could not restore ${flooder.name}'s shell to ${to}: ${r.stderr.trim()}`);
    shell = null;
  };
  try {
    for (const variant of FLOOD_VARIANTS) {
      // The first run sees the host untouched: not even the wrapper shell's extra exec.
      if (variant === 'stderr-flood') {
        const r = await lab.hostExec(flooder, ['sh', '-c', INSTALL, 'sh', String(process.pid)], { input: FLOOD_SHELL, timeoutMs: 30_000 });
        if (r.code !== 0) throw new Error(`could not make ${flooder.name} flood: ${r.stderr.trim()}`);
        shell = r.stdout.trim();
      }
      if (variant === 'restored' && shell !== null) await restore(shell);
      const run = await floodRun(lab, fleetCpu, flooder, listener, variant);
      runs.push(run);
      const h = run.healthy;
      log(
        `flood, ${FLOOD_LABELS[variant]}: ${(run.wallMs / 1000).toFixed(2)} s wall, healthy hosts median ${h ? (h.medianMs / 1000).toFixed(2) : '-'} s max ${h ? (h.maxMs / 1000).toFixed(2) : '-'} s, ${flooder.name} ${run.flooder?.status ?? '-'} in ${run.flooder ? (run.flooder.durationMs / 1000).toFixed(2) : '-'} s, CPU ${(run.cpuMs / 1000).toFixed(2)} s, ${(run.peakRssKb / 1024).toFixed(0)} MB${run.valid ? '' : `  INVALID: ${run.problem}`}`,
      );
    }
  } finally {
    // A failure between install and restore must not leave the host flooding for the profile runs.
    if (shell !== null) await restore(shell);
  }
  const base = runs.find((r) => r.variant === 'healthy');
  const ratios: FloodResult['ratios'] = {};
  for (const r of runs) if (r.variant !== 'healthy') ratios[r.variant] = ratiosOf(base, r);
  return {
    what: `vipush no-op re-run (c) of playbooks/hidden-arp.yml, all ${lab.hosts.length} hosts at once; ${flooder.name} floods through its login shell`,
    flooder: flooder.name,
    healthyHosts: lab.hosts.length - 1,
    runs,
    ratios,
  };
}

/** The four runs side by side, with flooded / all-healthy next to each flood. */
export function floodTable(result: FloodResult): string {
  const s = (ms: number | null | undefined) => (ms === null || ms === undefined ? '-' : (ms / 1000).toFixed(2));
  const x = (v: number | undefined) => (v === undefined ? '-' : `×${v.toFixed(2)}`);
  const rows: Array<[string, (r: FloodRun) => string, keyof NonNullable<FloodResult['ratios'][FloodVariant]> | null]> = [
    [`healthy hosts' median s (${result.healthyHosts})`, (r) => s(r.healthy?.medianMs), 'healthyMedian'],
    [`healthy hosts' max s`, (r) => s(r.healthy?.maxMs), 'healthyMax'],
    ['run wall s', (r) => s(r.wallMs), 'wall'],
    ['controller CPU s', (r) => s(r.cpuMs), 'cpu'],
    ['controller peak RSS MB', (r) => (r.peakRssKb / 1024).toFixed(0), 'peakRss'],
    ['hosts CPU s (flooder included)', (r) => s(r.hostsCpuMs), null],
    [`${result.flooder} s`, (r) => (r.flooder ? `${s(r.flooder.durationMs)} ${r.flooder.status}` : '-'), null],
    ['valid', (r) => (r.valid ? 'yes' : 'NO'), null],
  ];
  const head = [
    '',
    ...result.runs.flatMap((r) =>
      r.variant === 'healthy' || r.variant === 'restored' ? [FLOOD_LABELS[r.variant]] : [FLOOD_LABELS[r.variant], 'flood/healthy'],
    ),
  ];
  const body = rows.map(([label, value, key]) => [
    label,
    ...result.runs.flatMap((r) => {
      if (r.variant === 'healthy' || r.variant === 'restored') return [value(r)];
      const ratio = result.ratios[r.variant];
      return [value(r), key && ratio ? x(ratio[key]) : ''];
    }),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i])))
      .join('  ')
      .trimEnd();
  const problems = result.runs.filter((r) => !r.valid).map((r) => `  ${FLOOD_LABELS[r.variant]}: INVALID: ${r.problem}`);
  return [line(head), widths.map((w) => '-'.repeat(w)).join('  '), ...body.map(line), ...problems].join('\n');
}
