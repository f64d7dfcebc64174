/**
 * Watches for ARP leak windows: runs test/lab/arp-prober.py in a lab
 * namespace (default: the client), which asks who-has VIP every 2 ms on eth0
 * and counts the replies by sender MAC. A VIP that is up for a few tens of
 * milliseconds before the ARP sysctls shows up as replies from a real
 * server's MAC; arping (one request a second) would miss it.
 *
 * The prober is /usr/bin/python3 with only python3-minimal modules: no build
 * step, and the interpreter of a Debian system rather than whatever python3
 * comes first on PATH.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { LAB_ENV, LabError } from './exec.js';
import type { HostRef, Lab } from './lab.js';

export const ARP_PROBER_PYTHON = '/usr/bin/python3';

export interface ArpProbeSummary {
  /** who-has requests sent */
  requests: number;
  /** ARP replies for the VIP, by sender MAC (lowercase) */
  replies: Record<string, number>;
  /** first and last reply per MAC, in ms after the first request */
  windows: Record<string, { firstMs: number; lastMs: number }>;
  elapsedMs: number;
  /** longest pause between two requests: a leak shorter than this could have been missed */
  maxGapMs: number;
  /** when that pause began, in ms after the first request */
  maxGapAtMs: number;
  sendErrors: number;
  /** frames the kernel dropped because the prober's receive buffer was full */
  dropped: number;
  /** 'max-duration' means the prober stopped by itself before stop() was called */
  stoppedBy: 'signal' | 'stdin' | 'max-duration';
  /** whether the prober got SCHED_FIFO, which keeps maxGapMs small on a busy machine */
  realtime: boolean;
}

export interface ArpProber {
  /** Stops the prober and resolves to what it saw. */
  stop(): Promise<ArpProbeSummary>;
}

export interface ArpProberOptions {
  /** ms between two requests (default 2) */
  intervalMs?: number;
  /** the prober stops by itself after this long; at most 60 (default 60) */
  maxSeconds?: number;
}

const START_TIMEOUT_MS = 5_000;
const STOP_TIMEOUT_MS = 5_000;

/** The script sits next to this file in test/lab/, also when this file runs compiled from dist/test/lab/. */
function proberScript(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  const candidates = [join(here, 'arp-prober.py'), join(here, '..', '..', '..', 'test', 'lab', 'arp-prober.py')];
  const found = candidates.find((p) => existsSync(p));
  if (!found) throw new LabError(`arp-prober.py not found (looked in ${candidates.join(', ')})`);
  return found;
}

export async function startArpProber(lab: Lab, vip: string, from: HostRef = lab.client, opts: ArpProberOptions = {}): Promise<ArpProber> {
  if (!existsSync(ARP_PROBER_PYTHON)) {
    throw new LabError(`the ARP prober needs ${ARP_PROBER_PYTHON}: apt-get install -y python3-minimal`);
  }
  const host = lab.host(from);
  const args = [
    'netns',
    'exec',
    host.ns,
    ARP_PROBER_PYTHON,
    '-I',
    '-S',
    proberScript(),
    '--iface',
    'eth0',
    '--src-ip',
    host.ip,
    '--target',
    vip,
    '--interval-ms',
    String(opts.intervalMs ?? 2),
    '--max-seconds',
    String(opts.maxSeconds ?? 60),
  ];
  const child = spawn('ip', args, { env: LAB_ENV, stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  child.stdin.on('error', () => undefined);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.on('close', (code, signal) => resolve({ code, signal }));
  });
  const failure = (what: string, r: { code: number | null; signal: NodeJS.Signals | null }) =>
    new LabError(`ARP prober in ${host.ns} ${what} (exit ${r.code ?? r.signal}): ${stderr.trim() || stdout.trim()}`);

  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new LabError(`ARP prober in ${host.ns} did not start within ${START_TIMEOUT_MS} ms: ${stderr.trim()}`));
    }, START_TIMEOUT_MS);
    const onData = () => {
      if (!stdout.startsWith('ready\n')) return;
      clearTimeout(timer);
      child.stdout.off('data', onData);
      resolve();
    };
    child.stdout.on('data', onData);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(new LabError(`cannot run the ARP prober: ${e.message}`));
    });
    void exited.then((r) => {
      clearTimeout(timer);
      reject(failure('exited before it was ready', r));
    });
  });

  let stopped: Promise<ArpProbeSummary> | null = null;
  return {
    stop() {
      stopped ??= (async () => {
        const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
        child.kill('SIGTERM');
        child.stdin.end();
        const r = await exited;
        clearTimeout(timer);
        const last = stdout.trim().split('\n').at(-1) ?? '';
        if (r.code !== 0 || !last.startsWith('{')) throw failure('failed', r);
        return parseSummary(last);
      })();
      return stopped;
    },
  };
}

function parseSummary(line: string): ArpProbeSummary {
  const s = JSON.parse(line) as ArpProbeSummary;
  if (typeof s.requests !== 'number' || typeof s.replies !== 'object' || s.replies === null) {
    throw new LabError(`ARP prober printed an unexpected summary: ${line}`);
  }
  return s;
}
