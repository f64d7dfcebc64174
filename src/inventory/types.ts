import type { Location } from '../source/location.js';

/** A variable's value and where it was defined, so errors can say "(from var "vip", file:line:col)". */
export interface VarValue {
  value: unknown;
  source: Location;
}
export type Vars = Map<string, VarValue>;

export interface Group {
  name: string;
  /** direct child group names */
  children: string[];
  /** direct member host names, in inventory order; for "all", every host */
  hosts: string[];
  vars: Vars;
  source?: Location;
  /** for `all`: the hosts written directly under it (its `hosts` lists every host) */
  declaredHosts?: string[];
  /** ansible_group_priority from the inventory file: orders groups of equal depth (default 1); not a variable */
  priority?: number;
}

export interface Host {
  name: string;
  /** the host's own vars (not merged) */
  vars: Vars;
  /** where the host was first defined */
  source: Location;
}

/** The `group_vars/` and `host_vars/` found in one directory, for the groups and hosts the inventory has. */
export interface VarsFiles {
  dir: string;
  groups: Map<string, Vars>;
  hosts: Map<string, Vars>;
}

export interface Inventory {
  /** the inventory sources, as messages name them */
  file: string;
  hosts: Map<string, Host>;
  /** always contains "all" and "ungrouped", as Ansible does */
  groups: Map<string, Group>;
  /** group_vars/ and host_vars/ beside each inventory source (its directory, or the directory it is), in source order */
  inventoryVarsFiles?: VarsFiles[];
  /** group_vars/ and host_vars/ beside the playbook */
  playbookVarsFiles?: VarsFiles[];
}

/** How to reach a host, resolved from its merged vars (ansible_host, ansible_port, ...). */
export interface ConnectionVars {
  host: string; // inventory name
  address: string; // ansible_host or the name
  port?: number;
  user?: string;
  privateKeyFile?: string;
  become: boolean;
  becomeUser?: string;
}
