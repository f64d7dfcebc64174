import type { Inventory } from './types.js';

/**
 * Facts derived from an inventory's groups that variable precedence, patterns
 * and listing all need. Computed once per inventory; an Inventory is treated
 * as read-only once loaded.
 */
export interface InventoryGraph {
  /** position of each host in the inventory, in order of first appearance */
  hostIndex: Map<string, number>;
  /** every group a host belongs to, directly or through a child group (always includes "all") */
  groupsOfHost: Map<string, Set<string>>;
  /** every host in a group or any group below it */
  hostsOfGroup: Map<string, Set<string>>;
  /** Ansible's group depth: the longest path from "all" (which is 0) */
  depth: Map<string, number>;
}

const cache = new WeakMap<Inventory, InventoryGraph>();

export function inventoryGraph(inv: Inventory): InventoryGraph {
  const cached = cache.get(inv);
  if (cached) return cached;

  const parents = new Map<string, string[]>();
  for (const g of inv.groups.values()) {
    for (const child of g.children) parents.set(child, [...(parents.get(child) ?? []), g.name]);
  }

  const depth = new Map<string, number>();
  const depthOf = (name: string, seen: Set<string>): number => {
    const known = depth.get(name);
    if (known !== undefined) return known;
    // The loader refuses cycles; `seen` only keeps a hand-built inventory from looping forever.
    if (seen.has(name)) return 0;
    seen.add(name);
    const ps = parents.get(name) ?? [];
    const d = name === 'all' ? 0 : ps.length === 0 ? 1 : Math.max(...ps.map((p) => depthOf(p, seen) + 1));
    seen.delete(name);
    depth.set(name, d);
    return d;
  };
  for (const name of inv.groups.keys()) depthOf(name, new Set());

  const hostsOfGroup = new Map<string, Set<string>>();
  const collect = (name: string, seen: Set<string>): Set<string> => {
    const known = hostsOfGroup.get(name);
    if (known) return known;
    const result = new Set<string>();
    if (seen.has(name)) return result;
    seen.add(name);
    const g = inv.groups.get(name);
    for (const h of g?.hosts ?? []) result.add(h);
    for (const c of g?.children ?? []) for (const h of collect(c, seen)) result.add(h);
    seen.delete(name);
    hostsOfGroup.set(name, result);
    return result;
  };
  for (const name of inv.groups.keys()) collect(name, new Set());
  // Every host is in "all", even one a hand-built inventory forgot to file.
  const all = hostsOfGroup.get('all') ?? new Set<string>();
  for (const h of inv.hosts.keys()) all.add(h);
  hostsOfGroup.set('all', all);

  const groupsOfHost = new Map<string, Set<string>>();
  for (const h of inv.hosts.keys()) groupsOfHost.set(h, new Set(['all']));
  for (const [group, hosts] of hostsOfGroup) {
    for (const h of hosts) groupsOfHost.get(h)?.add(group);
  }

  const hostIndex = new Map<string, number>();
  let i = 0;
  for (const h of inv.hosts.keys()) hostIndex.set(h, i++);

  const graph = { hostIndex, groupsOfHost, hostsOfGroup, depth };
  cache.set(inv, graph);
  return graph;
}

/** Sorts host names into inventory order. */
export function inInventoryOrder(graph: InventoryGraph, hosts: Iterable<string>): string[] {
  return [...hosts].sort((a, b) => (graph.hostIndex.get(a) ?? Infinity) - (graph.hostIndex.get(b) ?? Infinity));
}
