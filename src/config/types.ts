import type { Location } from '../source/location.js';
import type { Vars } from '../inventory/types.js';

export type ModuleName = 'sysctl' | 'address' | 'command';
export const MODULE_NAMES: readonly ModuleName[] = ['sysctl', 'address', 'command'];

/**
 * A task as written: its module args are raw YAML values that may hold
 * `{{ var }}`; they are substituted and validated per host by resolveTask().
 */
export interface TaskSpec {
  name: string;
  module: ModuleName;
  args: unknown;
  source: Location;
  /** where each arg value sits in the file, by JSON pointer (e.g. "/address", "/set/net.ipv4.conf.all.arp_ignore") */
  argSources: Map<string, Location>;
  /** ansible-style per-task keys */
  changedWhen?: boolean;
}

export type GateSpec = (
  | { kind: 'arp_owner'; vip: string; from: string; expect: string; source: Location }
  | { kind: 'http'; url: string; from: string; expectStatus: number; source: Location }
  | { kind: 'command'; argv?: string[]; script?: string; from: string; source: Location }
) & {
  /** where each gate arg value sits in the file, by JSON pointer ("/vip", "/argv/0"), as TaskSpec.argSources */
  argSources?: Map<string, Location>;
};

/** serial as Ansible reads it: numbers and percentages, the last one repeats. */
export type SerialStep = { count: number } | { percent: number };

export interface Play {
  name: string;
  hosts: string; // a pattern
  vars: Vars;
  serial: SerialStep[]; // empty = all hosts in one batch
  maxFailPercentage: number; // default 0
  anyErrorsFatal: boolean;
  /** seconds a host waits for vipush to reconnect after a risky change before it reverts by itself */
  confirmTimeout: number;
  become: boolean;
  tasks: TaskSpec[];
  verify: GateSpec[];
  source: Location;
}

export interface Playbook {
  file: string;
  plays: Play[];
}

// ---- module args after substitution and validation --------------------------

export interface SysctlArgs {
  /** /etc/sysctl.conf (default) or a file under /etc/sysctl.d/ */
  file: string;
  /** key -> value as the kernel prints it (numbers become strings) */
  set: Record<string, string>;
  /** apply live values now (default true) */
  apply: boolean;
}

export type PersistBackend = 'auto' | 'ifupdown' | 'netplan' | 'networkd' | 'networkmanager' | 'ifcfg' | 'none';

export interface AddressArgs {
  /** normalised CIDR, e.g. 192.168.0.181/32 or 2001:db8::1/128 */
  address: string;
  family: 4 | 6;
  dev: string;
  scope: 'host' | 'link' | 'global';
  label?: string;
  state: 'present' | 'absent';
  persist: PersistBackend;
  allowArp: boolean;
}

export interface CommandArgs {
  argv?: string[];
  shell?: string;
  creates?: string;
  removes?: string;
  /** how to undo this command: used by rollback and the dead-man switch */
  undo?: { argv?: string[]; shell?: string };
  /** the command can cut vipush off: arm the dead-man switch around it */
  confirm?: boolean;
  changedWhen: boolean;
}

export type ResolvedTask =
  | { name: string; module: 'sysctl'; args: SysctlArgs; source: Location }
  | { name: string; module: 'address'; args: AddressArgs; source: Location }
  | { name: string; module: 'command'; args: CommandArgs; source: Location };
