import type { Location } from '../source/location.js';
import type { Vars } from '../inventory/types.js';
import type { ModuleName } from '../modules/registry.js';
import type { WhenCondition } from './when.js';

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
  /** `loop:` with its `loop_control`: the task runs once per item, each its own task in reports */
  loop?: TaskLoop;
  /** `when:`, every condition parsed; all must hold (per item, for a loop) */
  when?: WhenCondition[];
}

export interface TaskLoop {
  /** a list as written, or a string that is one "{{ var }}" */
  value: unknown;
  source: Location;
  /** where each item of a written list sits, by JSON pointer ("/0", "/1/address") */
  sources: Map<string, Location>;
  /** loop_control.loop_var (default "item") */
  loopVar: string;
  /** loop_control.index_var: the item's index from 0 */
  indexVar?: string;
  /** loop_control.label: what reports show for each item (default: the item) */
  label?: { text: string; source: Location };
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
