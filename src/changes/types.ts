import type { FileFact, HostFacts } from '../facts/types.js';

/**
 * A Change is data: one step a host runs, with the "before" that undoing it needs. Modules plan
 * them; --check, --diff, drift and rollback all read them. Each kind has one file in this folder
 * (its ChangeKind); adding a kind means adding a file and a line in index.ts.
 */
export interface FileChange {
  kind: 'file';
  path: string;
  before: FileFact | null;
  after: { content: Buffer; mode: number; uid?: number; gid?: number } | null;
  /** an undo: written whatever the file holds now */
  restore?: boolean;
}

export interface SysctlLiveChange {
  kind: 'sysctl-live';
  key: string;
  from: string | null;
  to: string;
}

export interface AddressChange {
  kind: 'address';
  op: 'add' | 'del';
  family: 4 | 6;
  cidr: string;
  dev: string;
  scope: string;
  label?: string;
  /** the playbook allows ARP for it (allow_arp): no ARP check on the host before adding it */
  allowArp?: boolean;
}

export interface CommandChange {
  kind: 'command';
  argv?: string[];
  shell?: string;
  reportChanged: boolean;
  undo?: { argv?: string[]; shell?: string };
  confirm?: boolean;
}

export interface ExecChange {
  kind: 'exec';
  argv: string[];
  why: string;
}

export type Change = FileChange | SysctlLiveChange | AddressChange | CommandChange | ExecChange;

/** Something that differs between the playbook (or persisted config) and the host. */
export interface DriftItem {
  item: string;
  expected: string;
  actual: string;
}

/** What vipush knows how to do with one kind of change. */
export interface ChangeKind<C extends Change> {
  /** applies the change to the simulated state, so later tasks plan against what earlier ones did */
  simulate(state: HostFacts, c: C): void;
  /** the undo, as a change; undefined when it can't be undone */
  inverse(c: C): Change | undefined;
  /** the step on the host: a function of src/remote/sh/steps.sh (or a program) and its arguments */
  stepArgv(c: C): string[];
  /** may run for a long time or hang (a user's command): the script gets a deadline on the host */
  mayHang: boolean;
  /** for --diff */
  diff(c: C): string;
  /** one line, for progress output and reports */
  summary(c: C): string;
  /** what the change fixes, as drift */
  drift(c: C): DriftItem | undefined;
}
