import type { FactsRequest, FileFact, HostFacts } from '../facts/types.js';

/**
 * A Change is data: what one step will do, with the "before" that undoing it
 * needs. --check, --diff, drift and rollback all read these.
 */
export type Change =
  | {
      kind: 'file';
      path: string;
      before: FileFact | null;
      after: { content: Buffer; mode: number; uid?: number; gid?: number } | null;
      /** an undo: written whatever the file holds now */
      restore?: boolean;
    }
  | { kind: 'sysctl-live'; key: string; from: string | null; to: string }
  | { kind: 'address'; op: 'add' | 'del'; family: 4 | 6; cidr: string; dev: string; scope: string; label?: string }
  | { kind: 'command'; argv?: string[]; shell?: string; reportChanged: boolean; undo?: { argv?: string[]; shell?: string }; confirm?: boolean }
  | { kind: 'exec'; argv: string[]; why: string };

/** Something that differs between the playbook (or persisted config) and the host. */
export interface DriftItem {
  item: string;
  expected: string;
  actual: string;
}

export interface TaskPlan {
  changes: Change[];
  /** what these changes fix, as drift; when omitted, each change describes itself (driftOf) */
  drift?: DriftItem[];
  /** shown to the user; they do not fail the task */
  warnings: string[];
  /** differences that are not fixed by these changes (e.g. a later sysctl.d file overrides ours at boot) */
  unfixable: DriftItem[];
}

/** Refusal at plan time: nothing has been touched on the host. */
export class PlanRefusal extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PlanRefusal';
  }
}

export interface PlanContext {
  host: string;
}

export interface Module<A> {
  needs(args: A): Partial<FactsRequest>;
  /** Pure: no I/O. Reads the (simulated) state, returns the changes. */
  plan(args: A, state: HostFacts, ctx: PlanContext): TaskPlan;
}
