import { limitHosts } from './pattern.js';
import type { Inventory } from './types.js';
import { inventoryVars } from './vars.js';

export interface InventoryListGroup {
  hosts?: string[];
  children?: string[];
}

export type InventoryList = { _meta: { hostvars: Record<string, Record<string, unknown>> } } & {
  [group: string]: InventoryListGroup | { hostvars: Record<string, Record<string, unknown>> };
};

/**
 * The JSON `ansible-inventory --list` prints: each non-empty group with its
 * direct hosts and child groups (`all` never lists hosts; a child is listed
 * even when it is empty and so has no entry of its own), and `_meta.hostvars`
 * with each host's merged group and host vars, without magic vars; hosts
 * without vars are left out. Keys are sorted, as Ansible's output is. With a
 * limit pattern (`--limit`), only the hosts it selects are listed.
 */
export function inventoryList(inv: Inventory, limitPattern?: string, warn?: (message: string) => void): InventoryList {
  const available = new Set(limitPattern === undefined ? inv.hosts.keys() : limitHosts(inv, [...inv.hosts.keys()], limitPattern, warn));
  const groups: Record<string, InventoryListGroup> = {};
  const seen = new Set<string>();
  const visit = (name: string): void => {
    seen.add(name);
    const g = inv.groups.get(name);
    if (!g) return;
    const entry: InventoryListGroup = {};
    const hosts = g.hosts.filter((h) => available.has(h));
    if (name !== 'all' && hosts.length > 0) entry.hosts = hosts;
    if (g.children.length > 0) entry.children = [...g.children];
    if (entry.hosts || entry.children) groups[name] = entry;
    for (const child of g.children) if (!seen.has(child)) visit(child);
  };
  visit('all');

  const hostvars: Record<string, Record<string, unknown>> = {};
  for (const host of inv.hosts.keys()) {
    if (!available.has(host)) continue;
    const vars = inventoryVars(inv, host);
    if (vars.size === 0) continue;
    hostvars[host] = Object.fromEntries([...vars].map(([k, v]) => [k, v.value]));
  }

  return sortKeys({ _meta: { hostvars }, ...groups }) as InventoryList;
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value === null || typeof value !== 'object') return value;
  const proto: unknown = Object.getPrototypeOf(value);
  if (proto !== Object.prototype && proto !== null) return value;
  const record = value as Record<string, unknown>;
  return Object.fromEntries(
    Object.keys(record)
      .sort()
      .map((k) => [k, sortKeys(record[k])]),
  );
}
