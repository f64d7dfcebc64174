import type { Location } from '../source/location.js';
import type { Vars } from '../inventory/types.js';
import type { ModuleName } from '../modules/registry.js';

export type { ResolvedTask } from '../modules/registry.js';

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
