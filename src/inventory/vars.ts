import { homedir } from 'node:os';
import { UserInputError, type Diagnostic } from '../errors.js';
import { oneLineEach } from '../source/diagnostics.js';
import { inventoryGraph } from './graph.js';
import type { ConnectionVars, Inventory, Vars, VarsFiles, VarValue } from './types.js';
import { checkAnsibleHost, checkKeyFile, checkUserName, parsePort, show } from './validate.js';

export { parseExtraVars } from './extra-vars.js';

/** Later layers win. The engine stacks play vars and -e on top of hostVars(). */
export function mergeVars(...layers: Vars[]): Vars {
  const merged: Vars = new Map();
  for (const layer of layers) for (const [k, v] of layer) merged.set(k, v);
  return merged;
}

/**
 * A host's groups in the order Ansible applies their vars (sort_groups): by
 * depth (so `all` first and parents before children), then
 * ansible_group_priority, then name.
 */
export function groupsInPrecedenceOrder(inv: Inventory, host: string): string[] {
  const graph = inventoryGraph(inv);
  const groups = [...(graph.groupsOfHost.get(host) ?? [])];
  const key = (g: string): [number, number, string] => [graph.depth.get(g) ?? 0, inv.groups.get(g)?.priority ?? 1, g];
  return groups.sort((a, b) => {
    const [da, pa, na] = key(a);
    const [db, pb, nb] = key(b);
    return da - db || pa - pb || (na < nb ? -1 : na > nb ? 1 : 0);
  });
}

/**
 * Group and host vars merged with Ansible's precedence, without magic vars
 * (what `ansible-inventory --list` shows). Lowest first, as in Ansible's
 * VariableManager with the default VARIABLE_PRECEDENCE: the inventory file's
 * `all` vars, its other groups' vars; group_vars/all beside each inventory
 * source, then beside the playbook; group_vars/GROUP beside each inventory
 * source (source by source, groups in precedence order within each), then
 * beside the playbook; the inventory file's host vars; host_vars beside each
 * inventory source, then beside the playbook.
 */
export function inventoryVars(inv: Inventory, host: string): Vars {
  const h = inv.hosts.get(host);
  if (!h) throw new UserInputError(`host ${show(host)} is not in inventory ${inv.file}`);
  const groups = groupsInPrecedenceOrder(inv, host).filter((g) => g !== 'all');
  const beside = inv.inventoryVarsFiles ?? [];
  const play = inv.playbookVarsFiles ?? [];
  const none: Vars = new Map();
  const groupFiles = (dirs: VarsFiles[], names: string[]): Vars[] => dirs.flatMap((d) => names.map((g) => d.groups.get(g) ?? none));
  return mergeVars(
    inv.groups.get('all')?.vars ?? none,
    ...groups.map((g) => inv.groups.get(g)!.vars),
    ...groupFiles(beside, ['all']),
    ...groupFiles(play, ['all']),
    ...groupFiles(beside, groups),
    ...groupFiles(play, groups),
    h.vars,
    ...beside.map((d) => d.hosts.get(host) ?? none),
    ...play.map((d) => d.hosts.get(host) ?? none),
  );
}

/**
 * A host's variables: `all` < other groups (parents before children, then by
 * name) < the host's own, plus the magic vars inventory_hostname,
 * inventory_hostname_short and group_names (sorted, without all/ungrouped),
 * which nothing in the inventory can override.
 */
export function hostVars(inv: Inventory, host: string): Vars {
  const merged = inventoryVars(inv, host);
  const h = inv.hosts.get(host)!;
  const groupNames = [...(inventoryGraph(inv).groupsOfHost.get(host) ?? [])].filter((g) => g !== 'all' && g !== 'ungrouped').sort();
  const magic = (value: unknown): VarValue => ({ value, source: h.source });
  merged.set('inventory_hostname', magic(host));
  merged.set('inventory_hostname_short', magic(host.split('.')[0]));
  merged.set('group_names', magic(groupNames));
  return merged;
}

/** Ansible's boolean(): -e gives strings, the inventory gives booleans. */
function parseBoolean(value: unknown): boolean | undefined {
  if (typeof value === 'boolean') return value;
  if (typeof value === 'number' && (value === 0 || value === 1)) return value === 1;
  if (typeof value !== 'string') return undefined;
  const v = value.toLowerCase();
  if (['true', 'yes', 'on', 'y', '1', 't'].includes(v)) return true;
  if (['false', 'no', 'off', 'n', '0', 'f'].includes(v)) return false;
  return undefined;
}

/**
 * How to reach a host, from its fully merged vars (inventory, play, -e). The
 * values are checked again here because -e and play vars bypass the inventory
 * checks; every problem is reported at the var's source.
 */
export function connectionVars(host: string, vars: Vars): ConnectionVars {
  const problems: Diagnostic[] = [];
  const fail = (v: VarValue, message: string): undefined => {
    problems.push({ loc: v.source, message: `host ${show(host)}: ${message}` });
    return undefined;
  };

  const addressVar = vars.get('ansible_host');
  let address = host;
  if (addressVar) {
    const problem = checkAnsibleHost(addressVar.value);
    if (problem) fail(addressVar, problem);
    else address = addressVar.value as string;
  }

  const portVar = vars.get('ansible_port');
  let port: number | undefined;
  if (portVar) {
    port = parsePort(portVar.value);
    if (port === undefined) fail(portVar, `ansible_port must be an integer from 1 to 65535, got ${show(portVar.value)}`);
  }

  const text = (key: string, check: (key: string, value: unknown) => string | undefined): string | undefined => {
    const v = vars.get(key);
    if (!v) return undefined;
    const problem = check(key, v.value);
    return problem ? fail(v, problem) : (v.value as string);
  };
  const user = text('ansible_user', checkUserName);
  const becomeUser = text('ansible_become_user', checkUserName);
  const keyFile = text('ansible_ssh_private_key_file', checkKeyFile) ?? text('ansible_private_key_file', checkKeyFile);

  const becomeVar = vars.get('ansible_become');
  let become = false;
  if (becomeVar) {
    const b = parseBoolean(becomeVar.value);
    if (b === undefined) fail(becomeVar, `ansible_become must be true or false, got ${show(becomeVar.value)}`);
    else become = b;
  }

  if (problems.length > 0) throw new UserInputError(oneLineEach(problems));
  const result: ConnectionVars = { host, address, become };
  if (port !== undefined) result.port = port;
  if (user !== undefined) result.user = user;
  // As in Ansible, a key path may start with ~ for the controller user's home.
  if (keyFile !== undefined) result.privateKeyFile = keyFile.startsWith('~/') ? homedir() + keyFile.slice(1) : keyFile;
  if (becomeUser !== undefined) result.becomeUser = becomeUser;
  return result;
}
