/**
 * `npm run bench -- --hosts N [--repeat R] [--out FILE] [--skip-ansible]
 *                  [--install-ansible] [--baseline FILE] [--no-profile] [--no-flood]`
 *
 * Builds one lab of N hosts and measures, alternating across repeats, the
 * OpenSSH floor, the in-process ssh2 floor, vipush (first apply, no-op,
 * drift) and ansible-playbook on the equivalent playbook; prints medians and
 * their ratio to the OpenSSH floor, checks the targets of issue 8, profiles
 * one run per kind from the host side (strace on one sshd) and the controller
 * side (V8 CPU profile), measures how much one flooding host slows the others
 * (issue 17, flood.ts), and writes a JSON result. The lab is always torn down.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { cpus, loadavg, release, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { createLab, type Lab } from '../lab/lab.js';
import { summariseCpuProfile, onlyCpuProfile, type CpuBucket } from './cpu-profile.js';
import { fleetApplied, pristineSysctlConf, resetFleet } from './fleet-state.js';
import { HostTrace, type HostCost } from './host-trace.js';
import { FleetCpu } from './cpu-accounting.js';
import { floodTable, measureFlood, type FloodResult } from './flood.js';
import { GNU_TIME, median } from './measure.js';
import { ansible, ansibleVersion, installAnsible, openSshFloor, ssh2Floor, vipush, type Run } from './runners.js';

type MeasureKey = 'openssh-floor' | 'ssh2-floor' | 'vipush-validate' | 'vipush-apply' | 'vipush-noop' | 'vipush-drift' | 'ansible-apply' | 'ansible-noop';

const LABELS: Record<MeasureKey, string> = {
  'openssh-floor': '(a)  OpenSSH floor: ssh per host, 1 command',
  'ssh2-floor': '(a2) ssh2 floor: 1 process, connect+exec',
  'vipush-validate': '(s)  vipush validate (start-up, no SSH)',
  'vipush-apply': '(b)  vipush first apply',
  'vipush-noop': '(c)  vipush no-op re-run',
  'vipush-drift': '(d)  vipush drift',
  'ansible-apply': '(e)  ansible-playbook first apply',
  'ansible-noop': '(e2) ansible-playbook no-op re-run',
};

interface MeasureResult {
  label: string;
  runs: Array<Omit<Run, 'stdout' | 'stderr'>>;
  median: { wallMs: number; cpuMs: number; hostsCpuMs: number; otherCpuMs: number; peakRssKb: number; engineMs?: number } | null;
  ratioToFloor: number | null;
}

interface Target {
  name: string;
  target: string;
  value: string;
  pass: boolean | null;
}

interface Options {
  hosts: number;
  repeat: number;
  out: string;
  skipAnsible: boolean;
  installAnsible: boolean;
  baseline: string | null;
  profile: boolean;
  flood: boolean;
}

function log(message: string): void {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${message}\n`);
}

function parseOptions(argv: string[]): Options {
  const { values } = parseArgs({
    args: argv,
    options: {
      hosts: { type: 'string', default: '50' },
      repeat: { type: 'string', default: '3' },
      out: { type: 'string', default: 'bench-result.json' },
      'skip-ansible': { type: 'boolean', default: false },
      'install-ansible': { type: 'boolean', default: false },
      baseline: { type: 'string' },
      'no-profile': { type: 'boolean', default: false },
      'no-flood': { type: 'boolean', default: false },
    },
  });
  const hosts = Number(values.hosts);
  const repeat = Number(values.repeat);
  if (!Number.isInteger(hosts) || hosts < 1 || hosts > 240) throw new Error(`--hosts must be an integer from 1 to 240, got "${values.hosts}"`);
  if (!Number.isInteger(repeat) || repeat < 1) throw new Error(`--repeat must be a positive integer, got "${values.repeat}"`);
  return {
    hosts,
    repeat,
    out: resolve(process.env.INIT_CWD ?? process.cwd(), values.out!),
    skipAnsible: values['skip-ansible']!,
    installAnsible: values['install-ansible']!,
    baseline: values.baseline ? resolve(process.env.INIT_CWD ?? process.cwd(), values.baseline) : null,
    profile: !values['no-profile'],
    flood: !values['no-flood'],
  };
}

function ensureGnuTime(): void {
  if (existsSync(GNU_TIME)) return;
  if (process.getuid?.() !== 0) throw new Error(`${GNU_TIME} is missing: apt-get install time`);
  log('installing GNU time (package time)');
  const r = spawnSync('apt-get', ['install', '-y', '--no-install-recommends', 'time'], {
    stdio: 'inherit',
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
  });
  if (r.status !== 0 || !existsSync(GNU_TIME)) throw new Error('could not install GNU time (apt-get install time)');
}

function toolVersion(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  return ((r.stdout ?? '') + (r.stderr ?? '')).trim().split('\n')[0] ?? '';
}

/**
 * What one program costs on this machine: a fork + exec of /bin/true from sh, in ms (median of 5 loops
 * of 200). The ratios to the OpenSSH floor turn on it: the floor starts 2 programs per host, vipush's
 * first apply 10, and on a machine where this is 4 ms instead of 1 the first apply's ratio doubles.
 */
function forkExecMs(): number {
  const loops = 200;
  const times: number[] = [];
  for (let i = 0; i < 5; i++) {
    const t0 = process.hrtime.bigint();
    const r = spawnSync('sh', ['-c', `i=0; while [ $i -lt ${loops} ]; do /bin/true; i=$((i+1)); done`]);
    if (r.status !== 0) throw new Error('sh could not run /bin/true');
    times.push(Number(process.hrtime.bigint() - t0) / 1e6 / loops);
  }
  return Math.round(median(times) * 1000) / 1000;
}

// ---- measuring ----------------------------------------------------------------

class Recorder {
  readonly runs = new Map<MeasureKey, Run[]>();

  constructor(private readonly fleetCpu: FleetCpu) {}

  async take(key: MeasureKey, fn: () => Promise<Run>): Promise<Run> {
    const before = this.fleetCpu.snapshot();
    const r = await fn();
    const d = FleetCpu.delta(before, this.fleetCpu.snapshot());
    r.hostsCpuMs = d.hostsCpuMs;
    r.otherCpuMs = Math.max(0, d.machineBusyMs - r.cpuMs - d.hostsCpuMs);
    const list = this.runs.get(key) ?? [];
    list.push(r);
    this.runs.set(key, list);
    const extra = r.engineMs !== undefined ? `, vipush's own ${(r.engineMs / 1000).toFixed(2)} s` : '';
    log(
      `${LABELS[key].slice(5).trim()}: ${(r.wallMs / 1000).toFixed(2)} s wall, ${(r.cpuMs / 1000).toFixed(2)} s CPU, hosts ${fmt(r.hostsCpuMs)} s, other ${fmt(r.otherCpuMs)} s, ${(r.peakRssKb / 1024).toFixed(0)} MB${extra}${r.valid ? '' : `  INVALID: ${r.problem}`}`,
    );
    return r;
  }
}

async function floors(lab: Lab, rec: Recorder, reversed: boolean): Promise<void> {
  const steps: Array<[MeasureKey, () => Promise<Run>]> = [
    ['openssh-floor', () => openSshFloor(lab)],
    ['ssh2-floor', () => ssh2Floor(lab)],
  ];
  for (const [k, fn] of reversed ? steps.reverse() : steps) await rec.take(k, fn);
}

async function vipushRuns(lab: Lab, rec: Recorder, pristine: Buffer): Promise<void> {
  await rec.take('vipush-validate', () => vipush(lab, 'validate'));
  await resetFleet(lab, pristine);
  await rec.take('vipush-apply', () => vipush(lab, 'apply'));
  await rec.take('vipush-noop', () => vipush(lab, 'noop'));
  await rec.take('vipush-drift', () => vipush(lab, 'drift'));
}

async function ansibleRuns(lab: Lab, rec: Recorder, pristine: Buffer): Promise<void> {
  await resetFleet(lab, pristine);
  await rec.take('ansible-apply', () => ansible(lab, 'apply'));
  await rec.take('ansible-noop', () => ansible(lab, 'noop'));
}

/** One unmeasured round that also proves the setup: vipush must really reach the end state, and a no-op must follow. */
async function warmUp(lab: Lab, pristine: Buffer): Promise<void> {
  log('warm-up (not measured): OpenSSH floor, reset, vipush apply, state check');
  const floor = await openSshFloor(lab);
  if (!floor.valid) throw new Error(`the OpenSSH floor does not work on this lab: ${floor.problem}`);
  await resetFleet(lab, pristine);
  const apply = await vipush(lab, 'apply');
  if (!apply.valid) log(`warning: vipush's warm-up apply was not a clean first apply: ${apply.problem}`);
  const wrong = await fleetApplied(lab);
  if (wrong.length > 0) log(`warning: after vipush's apply ${wrong.length} hosts are not in the end state: ${wrong.slice(0, 3).join('; ')}`);
}

/**
 * Issue 17. The runs are no-ops of vipush's own end state: the last repeat may have ended with
 * Ansible's apply, so the fleet is reset and applied by vipush first (not measured).
 */
async function floodMeasure(lab: Lab, fleetCpu: FleetCpu, pristine: Buffer): Promise<FloodResult | null> {
  if (lab.hosts.length < 2) {
    log('flood: skipped, it needs a host to flood and at least one healthy host');
    return null;
  }
  log(`flood: ${lab.hosts[lab.hosts.length - 1].name} floods through its login shell; vipush no-op, healthy, then each flood, then healthy again`);
  await resetFleet(lab, pristine);
  const apply = await vipush(lab, 'apply');
  if (!apply.valid) log(`warning: the apply before the flood runs was not a clean first apply: ${apply.problem}`);
  return measureFlood(lab, fleetCpu, log);
}

// ---- profile -------------------------------------------------------------------

interface ProfileEntry {
  what: string;
  host: HostCost;
  wallMs: number;
  cpuMs: number;
  cpu?: { totalMs: number; buckets: CpuBucket[] };
}

async function traced(lab: Lab, what: string, fn: (nodeFlags: string[]) => Promise<Run>, cpuProfile: boolean): Promise<ProfileEntry> {
  const profDir = mkdtempSync(join(tmpdir(), 'vipush-bench-prof-'));
  try {
    const trace = await HostTrace.start(lab, 'h1');
    const run = await fn(cpuProfile ? ['--cpu-prof', `--cpu-prof-dir=${profDir}`] : []);
    const host = await trace.stop();
    const file = cpuProfile ? onlyCpuProfile(profDir) : null;
    const entry: ProfileEntry = { what, host, wallMs: run.wallMs, cpuMs: run.cpuMs, cpu: file ? summariseCpuProfile(file) : undefined };
    if (!run.valid) log(`warning: the profiled ${what} was not as expected: ${run.problem}`);
    log(`profile ${what}: h1 saw ${host.connections} connections, ${host.execChannels} exec channels, ${host.processes} processes, ${host.programs} programs`);
    return entry;
  } finally {
    rmSync(profDir, { recursive: true, force: true });
  }
}

async function profile(lab: Lab, pristine: Buffer, withAnsible: boolean): Promise<ProfileEntry[]> {
  log("profile: strace on h1's sshd, V8 CPU profile of the controller (timings here are inflated by tracing)");
  const out: ProfileEntry[] = [];
  out.push(await traced(lab, 'OpenSSH floor', () => openSshFloor(lab), false));
  out.push(await traced(lab, 'ssh2 floor', () => ssh2Floor(lab), false));
  await resetFleet(lab, pristine);
  out.push(await traced(lab, 'vipush first apply', (f) => vipush(lab, 'apply', f), true));
  out.push(await traced(lab, 'vipush no-op', (f) => vipush(lab, 'noop', f), true));
  out.push(await traced(lab, 'vipush drift', (f) => vipush(lab, 'drift', f), true));
  if (withAnsible) {
    await resetFleet(lab, pristine);
    out.push(await traced(lab, 'ansible first apply', () => ansible(lab, 'apply'), false));
    out.push(await traced(lab, 'ansible no-op', () => ansible(lab, 'noop'), false));
  }
  return out;
}

// ---- results -------------------------------------------------------------------

function summarise(rec: Recorder): Partial<Record<MeasureKey, MeasureResult>> {
  const out: Partial<Record<MeasureKey, MeasureResult>> = {};
  const floorRuns = (rec.runs.get('openssh-floor') ?? []).filter((r) => r.valid);
  const floor = floorRuns.length ? median(floorRuns.map((r) => r.wallMs)) : null;
  for (const key of Object.keys(LABELS) as MeasureKey[]) {
    const runs = rec.runs.get(key);
    if (!runs) continue;
    const valid = runs.filter((r) => r.valid);
    const engine = valid.map((r) => r.engineMs).filter((v): v is number => v !== undefined);
    const med = valid.length
      ? {
          wallMs: median(valid.map((r) => r.wallMs)),
          cpuMs: median(valid.map((r) => r.cpuMs)),
          hostsCpuMs: median(valid.map((r) => r.hostsCpuMs ?? NaN)),
          otherCpuMs: median(valid.map((r) => r.otherCpuMs ?? NaN)),
          peakRssKb: Math.max(...valid.map((r) => r.peakRssKb)),
          engineMs: engine.length ? median(engine) : undefined,
        }
      : null;
    out[key] = {
      label: LABELS[key],
      runs: runs.map(({ stdout: _o, stderr: _e, ...rest }) => rest),
      median: med,
      ratioToFloor: med && floor ? med.wallMs / floor : null,
    };
  }
  return out;
}

function fmt(ms: number | undefined | null, digits = 2): string {
  return ms === undefined || ms === null || Number.isNaN(ms) ? '-' : (ms / 1000).toFixed(digits);
}

function table(results: Partial<Record<MeasureKey, MeasureResult>>): string {
  const head = ['measure', 'wall s', 'x floor', 'CPU s', 'hosts CPU s', 'other CPU s', 'peak RSS MB', 'valid', 'walls s'];
  const rows = (Object.keys(LABELS) as MeasureKey[])
    .filter((k) => results[k])
    .map((k) => {
      const r = results[k]!;
      const m = r.median;
      return [
        r.label,
        fmt(m?.wallMs),
        r.ratioToFloor === null ? '-' : r.ratioToFloor.toFixed(2),
        fmt(m?.cpuMs),
        fmt(m?.hostsCpuMs),
        fmt(m?.otherCpuMs),
        m ? (m.peakRssKb / 1024).toFixed(0) : '-',
        `${r.runs.filter((x) => x.valid).length}/${r.runs.length}`,
        r.runs.map((x) => fmt(x.wallMs, 1)).join(' '),
      ];
    });
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === 0 || i === cells.length - 1 ? c.padEnd(widths[i]) : c.padStart(widths[i])))
      .join('  ')
      .trimEnd();
  return [line(head), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

function targets(opts: Options, results: Partial<Record<MeasureKey, MeasureResult>>): Target[] {
  const n = opts.hosts;
  const wall = (k: MeasureKey) => results[k]?.median?.wallMs ?? null;
  const ratio = (k: MeasureKey) => results[k]?.ratioToFloor ?? null;
  const out: Target[] = [];
  const atMost = (name: string, target: string, v: number | null, limit: number, unit = '×') =>
    out.push({ name, target, value: v === null ? 'not measured' : `${v.toFixed(2)}${unit}`, pass: v === null ? null : v <= limit });
  // The issue sets these at 50 hosts; below that, Node's start-up (~0.2 s) outweighs the fleet, so a
  // verdict would say nothing: the ratios are shown, not judged.
  const floorTarget = (name: string, target: string, k: MeasureKey, limit: number) => {
    if (n >= 50) return atMost(name, target, ratio(k), limit);
    const v = ratio(k);
    out.push({
      name,
      target: `${target}, set for 50 hosts or more`,
      value: v === null ? 'not measured' : `${v.toFixed(2)}× (not judged at ${n} hosts)`,
      pass: null,
    });
  };
  floorTarget(`first apply, ${n} hosts, vs OpenSSH floor`, '≤ 1.0× (issue: at 50 hosts)', 'vipush-apply', 1.0);
  floorTarget(`no-op re-run, ${n} hosts, vs OpenSSH floor`, '≤ 0.8×', 'vipush-noop', 0.8);
  floorTarget(`drift, ${n} hosts, vs OpenSSH floor`, '≤ 0.8×', 'vipush-drift', 0.8);
  for (const [a, v, what] of [
    ['ansible-apply', 'vipush-apply', 'first apply'],
    ['ansible-noop', 'vipush-noop', 'no-op'],
  ] as const) {
    const wa = wall(a);
    const wv = wall(v);
    const x = wa !== null && wv !== null ? wa / wv : null;
    out.push({
      name: `Ansible vs vipush, ${what}`,
      target: '≥ 10× slower',
      value: x === null ? (opts.skipAnsible || !results[a] ? 'ansible not measured' : 'not measured') : `${x.toFixed(1)}×`,
      pass: x === null ? null : x >= 10,
    });
  }
  if (opts.baseline) {
    const base = JSON.parse(readFileSync(opts.baseline, 'utf8')) as { hosts: number; results: Partial<Record<MeasureKey, MeasureResult>> };
    for (const k of ['vipush-apply', 'vipush-noop', 'vipush-drift'] as const) {
      const b = base.results[k]?.median?.wallMs ?? null;
      const w = wall(k);
      const x = b !== null && w !== null ? w / b : null;
      // The issue's 4.4× for 4× the hosts: linear plus 10%.
      const limit = 1.1 * (n / base.hosts);
      atMost(`${k} at ${n} hosts vs ${base.hosts} hosts`, `≤ ${limit.toFixed(1)}× (issue: 200 vs 50 ≤ 4.4×)`, x, limit);
    }
  } else {
    out.push({ name: '200 hosts vs 50 hosts', target: '≤ 4.4×', value: 'needs --hosts 200 --baseline <50-host result JSON>', pass: null });
  }
  // Memory counts even for a run that failed its check (e.g. unreachable hosts): the controller still held every connection.
  const rssRuns = (['vipush-apply', 'vipush-noop', 'vipush-drift'] as const).flatMap((k) => results[k]?.runs ?? []);
  const rss = rssRuns.length ? Math.max(...rssRuns.map((r) => r.peakRssKb)) : null;
  if (rss === null) out.push({ name: 'controller peak RSS', target: '≤ 200 MB', value: 'not measured', pass: null });
  else if (n >= 200) atMost(`controller peak RSS at ${n} hosts (all vipush runs)`, '≤ 200 MB', rss / 1024, 200, ' MB');
  else
    out.push({ name: 'controller peak RSS at 200 hosts', target: '≤ 200 MB', value: `needs --hosts 200 (at ${n}: ${(rss / 1024).toFixed(0)} MB)`, pass: null });
  return out;
}

function profileText(entries: ProfileEntry[], hosts: number): string {
  const lines = [`host-side cost on h1 (strace of its sshd), per host:`];
  lines.push('  run                   conns  exec channels  processes  programs  top programs');
  for (const e of entries) {
    const top = Object.entries(e.host.byProgram)
      .slice(0, 6)
      .map(([p, c]) => `${p}×${c}`)
      .join(' ');
    lines.push(
      `  ${e.what.padEnd(20)}  ${String(e.host.connections).padStart(5)}  ${String(e.host.execChannels).padStart(13)}  ${String(e.host.processes).padStart(9)}  ${String(e.host.programs).padStart(8)}  ${top}`,
    );
  }
  for (const e of entries.filter((x) => x.cpu)) {
    lines.push(
      `controller, ${e.what} (${hosts} hosts; process user+sys ${fmt(e.cpuMs)} s): V8 samples over ${fmt(e.cpu!.totalMs)} s by place (a descheduled process's wait lands on the running frame: read as proportions)`,
    );
    lines.push(`  ${e.cpu!.buckets.map((b) => `${b.bucket} ${b.ms} ms`).join(', ')}`);
  }
  return lines.join('\n');
}

// ---- main ------------------------------------------------------------------------

async function main(): Promise<number> {
  const opts = parseOptions(process.argv.slice(2));
  if (process.getuid?.() !== 0) throw new Error('the bench builds a lab of network namespaces and needs root');
  ensureGnuTime();

  let ansibleVer = ansibleVersion();
  if (!ansibleVer && !opts.skipAnsible && opts.installAnsible) {
    installAnsible(log);
    ansibleVer = ansibleVersion();
  }
  const withAnsible = !opts.skipAnsible && ansibleVer !== null;
  if (opts.skipAnsible) log('ansible: skipped (--skip-ansible)');
  else if (!ansibleVer) process.stdout.write('ansible: not installed (apt-get install ansible to include it)\n');

  const startedAt = new Date();
  const loadBefore = loadavg();
  const execMs = forkExecMs();
  log(`one program (fork + exec of /bin/true from sh) costs ${execMs} ms here`);
  log(`building a lab of ${opts.hosts} hosts`);
  const lab = await createLab({ hosts: opts.hosts, director: false, client: false, httpServers: false, log });
  let prof: ProfileEntry[] = [];
  let rec: Recorder | null = null;
  let flood: FloodResult | null = null;
  try {
    const fleetCpu = await FleetCpu.of(lab);
    rec = new Recorder(fleetCpu);
    const pristine = pristineSysctlConf();
    await warmUp(lab, pristine);
    for (let r = 0; r < opts.repeat; r++) {
      log(`repeat ${r + 1}/${opts.repeat}`);
      // Alternate the order so that drift in the machine's load hits every measure alike.
      if (r % 2 === 0) {
        await floors(lab, rec, false);
        await vipushRuns(lab, rec, pristine);
        if (withAnsible) await ansibleRuns(lab, rec, pristine);
      } else {
        if (withAnsible) await ansibleRuns(lab, rec, pristine);
        await vipushRuns(lab, rec, pristine);
        await floors(lab, rec, true);
      }
    }
    if (opts.flood) flood = await floodMeasure(lab, fleetCpu, pristine);
    if (opts.profile) prof = await profile(lab, pristine, withAnsible);
  } finally {
    log('tearing the lab down');
    await lab.teardown();
  }

  if (!rec) throw new Error('no measurements');
  const results = summarise(rec);
  const checks = targets(opts, results);
  process.stdout.write(
    `\nvipush bench: ${opts.hosts} hosts, ${opts.repeat} repeats, medians of valid runs; peak RSS is the largest single process of the measured tree (max over runs)\n\n`,
  );
  process.stdout.write(`${table(results)}\n\n`);
  process.stdout.write(
    `one program (fork + exec of /bin/true from sh) costs ${execMs} ms on this machine: the ratios to the OpenSSH floor depend on it (see README)\n\n`,
  );
  for (const t of checks) process.stdout.write(`${t.pass === null ? 'SKIP' : t.pass ? 'PASS' : 'FAIL'}  ${t.name}: ${t.value} (target ${t.target})\n`);
  if (flood) process.stdout.write(`\none flooding host (issue 17): ${flood.what}\n\n${floodTable(flood)}\n`);
  if (prof.length) process.stdout.write(`\n${profileText(prof, opts.hosts)}\n`);

  const result = {
    version: 1,
    startedAt: startedAt.toISOString(),
    durationMs: Date.now() - startedAt.getTime(),
    hosts: opts.hosts,
    repeat: opts.repeat,
    machine: {
      cpus: cpus().length,
      kernel: release(),
      node: process.version,
      openssh: toolVersion('ssh', ['-V']),
      ansible: ansibleVer,
      forkExecMs: execMs,
      loadavgBefore: loadBefore,
      loadavgAfter: loadavg(),
    },
    lab: { prefix: lab.prefix, timingsMs: lab.timings },
    results,
    targets: checks,
    flood,
    profile: prof,
  };
  await writeFile(opts.out, JSON.stringify(result, null, 2) + '\n');
  process.stdout.write(`\nresult: ${opts.out}\n`);
  return 0;
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    process.stderr.write(`bench failed: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exit(1);
  },
);
