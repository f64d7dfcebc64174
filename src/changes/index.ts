import type { HostFacts } from '../facts/types.js';
import { addressKind } from './address.js';
import { commandKind, execKind } from './command.js';
import { fileKind } from './file.js';
import { sysctlLiveKind } from './sysctl-live.js';
import type { Change, ChangeKind, DriftItem, UndoOptions } from './types.js';

export type { AddressChange, Change, CommandChange, DriftItem, ExecChange, FileChange, SysctlLiveChange, UndoOptions } from './types.js';
export { printfFormat } from './file.js';

type KindTable = { [K in Change['kind']]: ChangeKind<Extract<Change, { kind: K }>> };

/** Every kind of change, by name: the one place that knows them all. */
const KINDS: KindTable = {
  file: fileKind,
  'sysctl-live': sysctlLiveKind,
  address: addressKind,
  command: commandKind,
  exec: execKind,
};

/** The kind of `c`, typed for `c` (TypeScript can't relate a union's kind to the table's entry on its own). */
function kindOf<C extends Change>(c: C): ChangeKind<C> {
  return KINDS[c.kind] as unknown as ChangeKind<C>;
}

export function simulate(state: HostFacts, c: Change): void {
  kindOf(c).simulate(state, c);
}

export function inverse(c: Change, opts: UndoOptions = {}): Change | undefined {
  return kindOf(c).inverse(c, opts);
}

export function stepArgv(c: Change): string[] {
  return kindOf(c).stepArgv(c);
}

export function mayHang(c: Change): boolean {
  return kindOf(c).mayHang;
}

export function describeDiff(c: Change): string {
  return kindOf(c).diff(c);
}

export function summarise(c: Change): string {
  return kindOf(c).summary(c);
}

export function driftOf(c: Change): DriftItem | undefined {
  return kindOf(c).drift(c);
}

/**
 * Hidden ARP's order of operations, enforced in this one place: every
 * address removal runs first (the VIP goes down before anything else), then
 * the rest in playbook order. Address additions stay where the playbook put
 * them, after the sysctl tasks; the ARP guard in the address module refuses a
 * playbook that would add a VIP before ARP is hidden.
 */
export function safeOrder<T extends { change: Change }>(steps: T[]): T[] {
  const isDel = (s: T) => s.change.kind === 'address' && s.change.op === 'del';
  return [...steps.filter(isDel), ...steps.filter((s) => !isDel(s))];
}
