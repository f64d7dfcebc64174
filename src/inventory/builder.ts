import { UserInputError, type Diagnostic } from '../errors.js';
import { oneLineEach } from '../source/diagnostics.js';
import { formatLocation, type Location } from '../source/location.js';
import type { Group, Host, Inventory, VarValue, Vars } from './types.js';
import { checkGroupName, checkHostName, checkKnownVariable, checkVariableName, groupPriority, show } from './validate.js';

/**
 * Both inventory formats feed this builder, so names, variables, duplicates,
 * cycles and the implicit `all`/`ungrouped` groups are handled once. Problems
 * are collected, not thrown, so the user sees every one of them in one run.
 */
/** Deep enough for any real inventory; keeps every walk over the group graph shallow. */
export const MAX_GROUP_DEPTH = 64;

export class InventoryBuilder {
  readonly file: string;
  private readonly diagnostics: Diagnostic[] = [];
  private readonly groups = new Map<string, Group>();
  private readonly hosts = new Map<string, Host>();
  /** each group's direct members, for constant-time lookups in inventories of many hosts */
  private readonly members = new Map<string, Set<string>>();
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

  hasErrors(): boolean {
    return this.diagnostics.length > 0;
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
    let members = this.members.get(groupName);
    if (!members) {
      members = new Set();
      this.members.set(groupName, members);
    }
    if (!members.has(name)) {
      members.add(name);
      g.hosts.push(name);
    }
  }

  setGroupVar(groupName: string, key: string, value: VarValue): void {
    const g = this.groups.get(groupName);
    if (!g) throw new Error(`setGroupVar(${groupName}) before the group exists`);
    if (!this.checkVariable(key, value)) return;
    // As in Ansible's Group.set_variable: the group's priority, not a variable its hosts see.
    if (key === 'ansible_group_priority') g.priority = groupPriority(value.value);
    else g.vars.set(key, value);
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
    const problem = checkVariableName(key) ?? (isTemplated(value.value) ? undefined : checkKnownVariable(key, value.value));
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
    if (this.reportCycles() === 0) this.reportDeepNesting();
    if (this.diagnostics.length === 0) this.reconcile();
    if (this.diagnostics.length > 0) {
      const sorted = this.diagnostics
        .map((d, i) => ({ d, i }))
        .sort((a, b) => (a.d.loc?.line ?? 0) - (b.d.loc?.line ?? 0) || (a.d.loc?.col ?? 0) - (b.d.loc?.col ?? 0) || a.i - b.i)
        .map(({ d }) => d);
      throw new UserInputError(oneLineEach(sorted));
    }
    return { file: this.file, hosts: this.hosts, groups: this.groups };
  }

  /**
   * Reports each edge that closes a loop, at the place the edge was declared,
   * and returns how many. A depth-first walk with its own stack: an INI
   * inventory can chain groups through `:children` as deep as it likes.
   */
  private reportCycles(): number {
    let found = 0;
    const state = new Map<string, 'open' | 'done'>();
    for (const root of this.groups.keys()) {
      if (state.has(root)) continue;
      const path = [root];
      const nextChild = [0];
      state.set(root, 'open');
      while (path.length > 0) {
        const name = path[path.length - 1];
        const children = this.groups.get(name)?.children ?? [];
        const i = nextChild[nextChild.length - 1]++;
        if (i >= children.length) {
          state.set(name, 'done');
          path.pop();
          nextChild.pop();
          continue;
        }
        const child = children[i];
        const s = state.get(child);
        if (s === 'open') {
          found++;
          const loop = [...path.slice(path.indexOf(child)), child];
          this.error(this.edgeSources.get(`${name}\0${child}`), `group ${show(child)} is its own ancestor: ${shortChain(loop)}`);
        } else if (s === undefined) {
          state.set(child, 'open');
          path.push(child);
          nextChild.push(0);
        }
      }
    }
    return found;
  }

  /** Reports the first `:children` edge that nests groups more than MAX_GROUP_DEPTH deep (the graph has no loops here). */
  private reportDeepNesting(): void {
    const parentsLeft = new Map<string, number>();
    for (const g of this.groups.values()) for (const c of g.children) parentsLeft.set(c, (parentsLeft.get(c) ?? 0) + 1);
    const depth = new Map<string, number>();
    const ready = [...this.groups.keys()].filter((name) => !parentsLeft.get(name));
    for (const name of ready) depth.set(name, 1);
    for (let i = 0; i < ready.length; i++) {
      const name = ready[i];
      const d = depth.get(name)! + 1;
      for (const child of this.groups.get(name)?.children ?? []) {
        if (d > MAX_GROUP_DEPTH) {
          this.error(this.edgeSources.get(`${name}\0${child}`), `groups are nested more than ${MAX_GROUP_DEPTH} levels deep (group ${show(child)})`);
          return;
        }
        if (d > (depth.get(child) ?? 0)) depth.set(child, d);
        const left = parentsLeft.get(child)! - 1;
        parentsLeft.set(child, left);
        if (left === 0) ready.push(child);
      }
    }
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
    const grouped = new Set<string>();
    for (const host of this.hosts.keys()) {
      const groups = memberOf.get(host) ?? new Set<string>();
      const elsewhere = [...groups].some((g) => g !== 'all' && g !== 'ungrouped');
      if (elsewhere) grouped.add(host);
      else if (!groups.has('ungrouped')) ungrouped.hosts.push(host);
    }
    ungrouped.hosts = ungrouped.hosts.filter((h) => !grouped.has(h));
    // A host written under `all` (YAML) and one written before any section (INI) end up alike.
    all.declaredHosts = all.hosts;
    all.hosts = [...this.hosts.keys()];
  }
}

/** A value with `{{ }}` is checked when it is used, after templating (connectionVars). */
function isTemplated(value: unknown): boolean {
  return typeof value === 'string' && value.includes('{{');
}

/** `a > b > c > a`, with the middle of a very long loop left out so the message stays one readable line. */
function shortChain(names: string[]): string {
  if (names.length <= 12) return names.join(' > ');
  return [...names.slice(0, 5), `… ${names.length - 10} more …`, ...names.slice(-5)].join(' > ');
}
