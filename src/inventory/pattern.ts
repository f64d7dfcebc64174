import { UserInputError } from '../errors.js';
import { oneLine } from '../source/diagnostics.js';
import { inInventoryOrder, inventoryGraph } from './graph.js';
import type { Inventory } from './types.js';
import { isIPv6Literal } from './validate.js';

/** A pattern as messages show it: quoted, on one line whatever it holds. */
function quoted(text: string): string {
  return oneLine(JSON.stringify(text));
}

/**
 * Splits a host pattern into terms as Ansible's split_host_pattern does: on
 * commas if there are any; otherwise on colons, except inside [a:b] ranges
 * and in an IPv6 address.
 */
export function splitPattern(pattern: string): string[] {
  let terms: string[];
  if (pattern.includes(',')) terms = pattern.split(',');
  else if (isIPv6Literal(pattern.trim()) || HOST_WITH_PORT.test(pattern.trim())) terms = [pattern];
  else terms = pattern.match(/(?:[^\s:[\]]|\[[^\]]*\])+/g) ?? [];
  return terms.map((t) => t.trim()).filter((t) => t !== '');
}

/** What Ansible's parse_address reads as one `host:port` (so `db1:2200` is one term, which names no host): a name, with [a:b] ranges, and a port. */
const HOST_WITH_PORT = /^[A-Za-z0-9_.-]*(?:\[[^\]]*\][A-Za-z0-9_.-]*)*[A-Za-z0-9_.\]-]:[0-9]+$/;

/** Ansible's order: plain terms (union) first, then `&` (intersection), then `!` (exclusion). */
function orderTerms(terms: string[]): string[] {
  const union = terms.filter((t) => !t.startsWith('&') && !t.startsWith('!'));
  const intersect = terms.filter((t) => t.startsWith('&'));
  const exclude = terms.filter((t) => t.startsWith('!'));
  // A pattern of only & and ! terms starts from all hosts, as in Ansible.
  return [...(union.length > 0 ? union : ['all']), ...intersect, ...exclude];
}

/** fnmatch.translate: `*`, `?`, `[seq]`, `[!seq]`, matched against the whole name, case-sensitive. */
function globToRegExp(glob: string): RegExp {
  let src = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i];
    if (c === '*') src += '.*';
    else if (c === '?') src += '.';
    else if (c === '[') {
      const close = glob.indexOf(']', i + 2);
      if (close < 0) {
        src += '\\[';
        continue;
      }
      let body = glob.slice(i + 1, close).replace(/\\/g, '\\\\');
      if (body.startsWith('!')) body = '^' + body.slice(1);
      else if (body.startsWith('^')) body = '\\' + body;
      src += `[${body}]`;
      i = close;
    } else src += c.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
  }
  return new RegExp(`^(?:${src})$`, 's');
}

function termMatcher(term: string, whole: string): RegExp {
  if (!term.startsWith('~')) return globToRegExp(term);
  try {
    // Python's re.match: anchored at the start only.
    return new RegExp(`^(?:${term.slice(1)})`);
  } catch (e) {
    throw new UserInputError(`pattern ${quoted(whole)}: ${quoted(term)} is not a valid regular expression: ${oneLine((e as Error).message)}`);
  }
}

/**
 * A group's hosts in Ansible's order (Group.get_hosts): its own hosts, then
 * its children's, level by level, each host once.
 */
export function groupHostsInAnsibleOrder(inv: Inventory, group: string): string[] {
  const out: string[] = [];
  const seenHosts = new Set<string>();
  const seenGroups = new Set<string>([group]);
  let level = [group];
  while (level.length > 0) {
    for (const name of level) {
      const g = inv.groups.get(name);
      // `all` lists every host; the ones written directly under it come first, as in Ansible.
      const hosts = name === 'all' ? (g?.declaredHosts ?? []) : (g?.hosts ?? []);
      for (const h of hosts) {
        if (!seenHosts.has(h)) {
          seenHosts.add(h);
          out.push(h);
        }
      }
    }
    const next: string[] = [];
    for (const name of level) {
      for (const child of inv.groups.get(name)?.children ?? []) {
        if (!seenGroups.has(child)) {
          seenGroups.add(child);
          next.push(child);
        }
      }
    }
    level = next;
  }
  if (group === 'all') for (const h of inv.hosts.keys()) if (!seenHosts.has(h)) out.push(h);
  return out;
}

/** Ansible's C.LOCALHOST. */
const LOCALHOST = ['127.0.0.1', 'localhost', '::1'];

/** Ansible's PATTERN_WITH_SUBSCRIPT: `name[3]`, `name[-1]`, `name[1:3]` (inclusive), `name[1:]`; not on a ~regex. */
const SUBSCRIPT = /^(.+)\[(?:(-?[0-9]+)|([0-9]+)([:-])([0-9]*))\]$/s;

function splitSubscript(term: string): { expr: string; subscript?: [number, number | undefined] } {
  if (term.startsWith('~')) return { expr: term };
  const m = SUBSCRIPT.exec(term);
  if (!m) return { expr: term };
  const [, expr, index, start, , end] = m;
  if (index !== undefined) return { expr, subscript: [Number(index), undefined] };
  return { expr, subscript: [Number(start), end === '' ? -1 : Number(end)] };
}

/** Ansible's _apply_subscript, with Python's indexing and slicing; undefined where Python raises IndexError. */
function applySubscript(hosts: string[], subscript: [number, number | undefined] | undefined): string[] | undefined {
  if (!subscript || hosts.length === 0) return hosts;
  const [start, endIn] = subscript;
  if (endIn) {
    const end = endIn === -1 ? hosts.length - 1 : endIn;
    return hosts.slice(start, end + 1);
  }
  const i = start < 0 ? hosts.length + start : start;
  if (i < 0 || i >= hosts.length) return undefined;
  return [hosts[i]];
}

/** The hosts one term names: a host, or groups' hosts, or, for globs and regexes, also matching host names; in Ansible's order. */
function matchTerm(inv: Inventory, term: string, whole: string): { hosts: string[]; matchedAName: boolean } {
  if (inv.hosts.has(term)) return { hosts: [term], matchedAName: true };
  const { expr, subscript } = splitSubscript(term);
  const re = termMatcher(expr, whole);
  const found: string[] = [];
  const groups = [...inv.groups.keys()].filter((g) => re.test(g));
  for (const g of groups) found.push(...groupHostsInAnsibleOrder(inv, g));
  let matchedHost = false;
  if (groups.length === 0 || expr.startsWith('~') || /[.?*[]/.test(expr)) {
    for (const h of inv.hosts.keys()) {
      if (re.test(h)) {
        found.push(h);
        matchedHost = true;
      }
    }
  }
  // Ansible's implicit localhost: a localhost name that matches nothing else finds the inventory's localhost under another of its names.
  if (found.length === 0 && groups.length === 0 && LOCALHOST.includes(expr)) {
    const local = [...inv.hosts.keys()].find((h) => LOCALHOST.includes(h));
    if (local !== undefined) return { hosts: [local], matchedAName: true };
  }
  const unique = [...new Set(found)];
  const hosts = applySubscript(unique, subscript);
  if (hosts === undefined) throw new UserInputError(`pattern ${quoted(whole)}: no hosts matched the subscripted pattern ${quoted(term)}`);
  return { hosts, matchedAName: groups.length > 0 || matchedHost };
}

/** Evaluates a pattern's terms in Ansible's order; `unmatched` is told of each term that names no host or group. */
function evaluate(inv: Inventory, pattern: string, terms: string[], unmatched: (term: string) => void): string[] {
  let selected: string[] = [];
  for (const term of orderTerms(terms)) {
    const op = term[0] === '&' || term[0] === '!' ? term[0] : '';
    const name = op ? term.slice(1) : term;
    const { hosts, matchedAName } = matchTerm(inv, name, pattern);
    if (!matchedAName && name !== 'all') unmatched(name);
    if (op === '&') {
      const keep = new Set(hosts);
      selected = selected.filter((h) => keep.has(h));
    } else if (op === '!') {
      const drop = new Set(hosts);
      selected = selected.filter((h) => !drop.has(h));
    } else {
      const have = new Set(selected);
      for (const h of hosts) if (!have.has(h)) selected.push(h);
    }
  }
  return selected;
}

/**
 * The hosts a pattern selects, with Ansible's semantics (names, groups, `all`,
 * `*`, globs, `~regex`, `a:b` / `a,b`, `a:&b`, `a:!b`, `group[1]`,
 * `group[0:2]`), in inventory order. A term that names no host or group, or
 * a pattern that selects nothing, is an error rather than Ansible's warning:
 * a push must never silently run on fewer hosts than the user meant.
 */
export function selectHosts(inv: Inventory, pattern: string): string[] {
  const terms = splitPattern(pattern);
  if (terms.length === 0) throw new UserInputError(`pattern ${quoted(pattern)} is empty`);
  const selected = evaluate(inv, pattern, terms, (name) => {
    throw new UserInputError(
      name === pattern
        ? `pattern ${quoted(pattern)} matches no hosts in ${inv.file}`
        : `pattern ${quoted(pattern)}: ${quoted(name)} matches no host or group in ${inv.file}`,
    );
  });
  if (selected.length === 0) throw new UserInputError(`pattern ${quoted(pattern)} matches no hosts in ${inv.file}`);
  return inInventoryOrder(inventoryGraph(inv), selected);
}

/**
 * `--limit`: the given hosts that the limit pattern also selects, in their
 * given order. May be empty. As in Ansible, a term that matches nothing is
 * reported to `warn` and ignored, and an empty limit (`''`, `,`) limits nothing.
 */
export function limitHosts(inv: Inventory, hosts: string[], limitPattern: string, warn: (message: string) => void = () => undefined): string[] {
  const terms = splitPattern(limitPattern);
  if (terms.length === 0) return hosts;
  if (terms.some((t) => t.startsWith('@'))) {
    throw new UserInputError(`--limit ${quoted(limitPattern)}: reading hosts from a file is not supported; give a pattern`);
  }
  const allowed = new Set(evaluate(inv, limitPattern, terms, (name) => warn(`--limit: could not match supplied host pattern, ignoring: ${quoted(name)}`)));
  return hosts.filter((h) => allowed.has(h));
}
