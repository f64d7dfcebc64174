import { UserInputError, type Diagnostic } from '../errors.js';
import type { Location } from '../config/location.js';
import { formatLocation } from '../config/location.js';
import type { Group, Host, Inventory, VarValue, Vars } from './types.js';
import { checkGroupName, checkHostName, checkKnownVariable, checkVariableName, show } from './validate.js';

/**
 * Both inventory formats feed this builder, so names, variables, duplicates,
 * cycles and the implicit `all`/`ungrouped` groups are handled once. Problems
 * are collected, not thrown, so the user sees every one of them in one run.
 */
export class InventoryBuilder {
  readonly file: string;
  private readonly diagnostics: Diagnostic[] = [];
  private readonly groups = new Map<string, Group>();
  private readonly hosts = new Map<string, Host>();
  /** where `parent > child` was declared, keyed `parent\0child` */
  private readonly edgeSources = new Map<string, Location>();
  private readonly reportedNames = new Set<string>();

  constructor(file: string) {
    this.file = file;
    this.groups.set('all', { name: 'all', children: ['ungrouped'], hosts: [], vars: new Map() });
    this.groups.set('ungrouped', { name: 'ungrouped', children: [], hosts: [], vars: new Map() });
  }

  error(loc: Location | undefined, message: string): void {
    this.diagnostics.push({ loc, message });
  }

  hasGroup(name: string): boolean {
    return this.groups.has(name);
  }

  group(name: string, loc: Location): Group {
    let g = this.groups.get(name);
    if (!g) {
      const problem = checkGroupName(name);
      if (problem) this.errorOnce(`group\0${name}`, loc, problem);
      g = { name, children: [], hosts: [], vars: new Map(), source: loc };
      this.groups.set(name, g);
    } else if (!g.source) {
      g.source = loc;
    }
    return g;
  }

  addChild(parent: string, child: string, loc: Location): void {
    const p = this.groups.get(parent);
    if (!p || !this.groups.has(child)) throw new Error(`addChild(${parent}, ${child}) before both groups exist`);
    if (p.children.includes(child)) return;
    p.children.push(child);
    this.edgeSources.set(`${parent}\0${child}`, loc);
  }

  /** Defines (or defines again) a host as a member of a group, with variables of its own. */
  addHost(groupName: string, name: string, vars: Vars, loc: Location): void {
    const problem = checkHostName(name);
    if (problem) this.errorOnce(`host\0${name}`, loc, problem);
    let host = this.hosts.get(name);
    if (!host) {
      host = { name, vars: new Map(), source: loc };
      this.hosts.set(name, host);
    }
    for (const [key, value] of vars) this.setHostVar(host, key, value);
    const g = this.groups.get(groupName);
    if (!g) throw new Error(`addHost(${groupName}, ${name}) before the group exists`);
    if (!g.hosts.includes(name)) g.hosts.push(name);
  }

  setGroupVar(groupName: string, key: string, value: VarValue): void {
    const g = this.groups.get(groupName);
    if (!g) throw new Error(`setGroupVar(${groupName}) before the group exists`);
    if (this.checkVariable(key, value)) g.vars.set(key, value);
  }

  private setHostVar(host: Host, key: string, value: VarValue): void {
    if (!this.checkVariable(key, value)) return;
    const previous = host.vars.get(key);
    if (key === 'ansible_host' && previous && previous.value !== value.value) {
      this.error(
        value.source,
        `host ${show(host.name)} is defined twice with different ansible_host: ${show(value.value)} here, ${show(previous.value)} at ${formatLocation(previous.source)}`,
      );
      return;
    }
    // Ansible merges a host's repeated definitions; the later value wins.
    host.vars.set(key, value);
  }

  private checkVariable(key: string, value: VarValue): boolean {
    const problem = checkVariableName(key) ?? checkKnownVariable(key, value.value);
    if (problem) this.error(value.source, problem);
    return !problem;
  }

  private errorOnce(key: string, loc: Location, message: string): void {
    if (this.reportedNames.has(key)) return;
    this.reportedNames.add(key);
    this.error(loc, message);
  }

  /** Checks the group graph, files hosts under `ungrouped`, and returns the inventory or throws every problem found. */
  finish(): Inventory {
    this.reportCycles();
    if (this.diagnostics.length === 0) this.reconcile();
    if (this.diagnostics.length > 0) {
      const sorted = this.diagnostics
        .map((d, i) => ({ d, i }))
        .sort((a, b) => (a.d.loc?.line ?? 0) - (b.d.loc?.line ?? 0) || (a.d.loc?.col ?? 0) - (b.d.loc?.col ?? 0) || a.i - b.i)
        .map(({ d }) => d);
      throw new UserInputError(sorted);
    }
    return { file: this.file, hosts: this.hosts, groups: this.groups };
  }

  /** Reports each edge that closes a loop, at the place the edge was declared. */
  private reportCycles(): void {
    const state = new Map<string, 'open' | 'done'>();
    const path: string[] = [];
    const visit = (name: string): void => {
      state.set(name, 'open');
      path.push(name);
      for (const child of this.groups.get(name)?.children ?? []) {
        const s = state.get(child);
        if (s === 'open') {
          const loop = [...path.slice(path.indexOf(child)), child].join(' > ');
          this.error(this.edgeSources.get(`${name}\0${child}`), `group ${show(child)} is its own ancestor: ${loop}`);
        } else if (s === undefined) {
          visit(child);
        }
      }
      path.pop();
      state.set(name, 'done');
    };
    for (const name of this.groups.keys()) if (!state.has(name)) visit(name);
  }

  /**
   * What Ansible's reconcile_inventory does: every group under `all`, every
   * lone host in `ungrouped`. `all` then lists every host.
   */
  private reconcile(): void {
    const hasParent = new Set<string>();
    for (const g of this.groups.values()) for (const c of g.children) hasParent.add(c);
    const all = this.groups.get('all')!;
    for (const name of this.groups.keys()) {
      if (name !== 'all' && !hasParent.has(name)) all.children.push(name);
    }
    const memberOf = new Map<string, Set<string>>();
    for (const g of this.groups.values()) {
      for (const h of g.hosts) {
        if (!memberOf.has(h)) memberOf.set(h, new Set());
        memberOf.get(h)!.add(g.name);
      }
    }
    const ungrouped = this.groups.get('ungrouped')!;
    for (const host of this.hosts.keys()) {
      const groups = memberOf.get(host) ?? new Set<string>();
      const elsewhere = [...groups].some((g) => g !== 'all' && g !== 'ungrouped');
      if (elsewhere) ungrouped.hosts = ungrouped.hosts.filter((h) => h !== host);
      else if (!groups.has('ungrouped')) ungrouped.hosts.push(host);
    }
    // A host written under `all` (YAML) and one written before any section (INI) end up alike.
    all.hosts = [...this.hosts.keys()];
  }
}
