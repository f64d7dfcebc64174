import type { DriftItem } from '../modules/types.js';

export type TaskStatus = 'ok' | 'changed' | 'failed' | 'skipped';
export type HostStatus = 'ok' | 'changed' | 'failed' | 'unreachable' | 'skipped';

/** No duration of its own: a host's tasks run as one script (see HostResult.durationMs). */
export interface TaskResult {
  name: string;
  module: string;
  status: TaskStatus;
  changes: string[];
  diff: string;
  warnings: string[];
  output: string;
  error: string | null;
  /** why the task was skipped (`when` was false); absent for a task that ran */
  skipReason?: string;
}

export interface HostDrift extends DriftItem {
  task: string;
}

export interface HostResult {
  host: string;
  status: HostStatus;
  rolledBack: boolean;
  /** what the rollback restored, one line each */
  restored: string[];
  /** set when a rollback could not restore everything */
  rollbackError?: string;
  tasks: TaskResult[];
  drift: HostDrift[];
  /** what the host's journal showed before the read: a run that had not finished, undone first */
  journal?: string;
  /** the connection was lost during the apply: what the host's journal says happened, read over a new connection */
  outcome?: 'converged' | 'rolled back' | 'outcome unknown';
  /** the dead-man switch, when a change could cut vipush off */
  deadman?: 'armed' | 'confirmed' | 'disarmed' | 'left-to-revert';
  error: string | null;
  durationMs: number;
}

export type RunMode = 'run' | 'drift' | 'fix';

/** A health gate's verdict after a batch (batch counts from 0). */
export interface GateOutcome {
  play: string;
  batch: number;
  name: string;
  ok: boolean;
  detail: string;
}

export interface RunEvents {
  playStart?(play: { name: string; hosts: string[] }): void;
  batchStart?(batch: { play: string; index: number; count: number; hosts: string[] }): void;
  hostStart?(host: string): void;
  hostDone?(result: HostResult): void;
  batchDone?(batch: { play: string; index: number; failed: string[]; stopped: boolean; reason?: string }): void;
  gate?(gate: GateOutcome): void;
  message?(text: string): void;
}
