import type { RunResult } from '../engine/run.js';
import type { GateOutcome, HostResult, HostStatus } from '../engine/types.js';

export interface ReportMeta {
  playbook: string;
  inventory: string;
  startedAt: Date;
  durationMs: number;
  check: boolean;
  mode: 'run' | 'drift' | 'fix';
  runId: string;
}

export interface JsonReport {
  version: 1;
  runId: string;
  mode: string;
  playbook: string;
  inventory: string;
  startedAt: string;
  durationMs: number;
  check: boolean;
  hosts: Record<string, Omit<HostResult, 'host'>>;
  untouched: string[];
  stoppedReason: string | null;
  /** the health gates that ran after each batch, in order */
  gates: GateOutcome[];
  summary: Record<HostStatus, number>;
}

export function summarise(hosts: Iterable<HostResult>): Record<HostStatus, number> {
  const s: Record<HostStatus, number> = { ok: 0, changed: 0, failed: 0, unreachable: 0, skipped: 0 };
  for (const h of hosts) s[h.status]++;
  return s;
}

export function buildReport(meta: ReportMeta, run: RunResult): JsonReport {
  const hosts: JsonReport['hosts'] = {};
  for (const [name, h] of [...run.hosts].sort(([a], [b]) => a.localeCompare(b))) {
    const { host: _host, ...rest } = h;
    hosts[name] = rest;
  }
  for (const name of run.untouched) {
    hosts[name] ??= {
      status: 'skipped',
      rolledBack: false,
      restored: [],
      tasks: [],
      drift: [],
      error: 'not started: an earlier batch failed or the run was interrupted',
      durationMs: 0,
    };
  }
  return {
    version: 1,
    runId: meta.runId,
    mode: meta.mode,
    playbook: meta.playbook,
    inventory: meta.inventory,
    startedAt: meta.startedAt.toISOString(),
    durationMs: meta.durationMs,
    check: meta.check,
    hosts,
    untouched: run.untouched,
    stoppedReason: run.stoppedReason ?? null,
    gates: run.gates,
    summary: summarise(Object.values(hosts).map((h) => ({ host: '', ...h }))),
  };
}
