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
  /** an undo: `before` is what the run wrote, and only a file that still holds it is restored */
  restore?: boolean;
  /** an undo that restores whatever the file holds now (`vipush rollback --force`) */
  force?: boolean;
}

export interface SysctlLiveChange {
  kind: 'sysctl-live';
  key: string;
  from: string | null;
  to: string;
  /** an undo: `from` is what the run wrote, and only a kernel that still has it is restored */
  restore?: boolean;
  /** an undo that restores whatever the kernel has now */
  force?: boolean;
  /** the playbook allows ARP for addresses on lo (allow_arp): the host may lower arp_ignore/arp_announce under one */
  allowArp?: boolean;
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
  /** an undo: removes the address only while it has the scope the run gave it */
  restore?: boolean;
  /** an undo that removes the address whatever its scope now */
  force?: boolean;
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

/**
 * How an undo treats what it finds: by default it restores only what the run wrote and still finds
 * there (a compare-and-swap on the host); `force` restores whatever the host holds now.
 */
export interface UndoOptions {
  force?: boolean;
}

/** What vipush knows how to do with one kind of change. */
export interface ChangeKind<C extends Change> {
  /** applies the change to the simulated state, so later tasks plan against what earlier ones did */
  simulate(state: HostFacts, c: C): void;
  /** the undo, as a change; undefined when it can't be undone */
  inverse(c: C, opts: UndoOptions): Change | undefined;
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
