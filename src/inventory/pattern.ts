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
  else if (isIPv6Literal(pattern.trim())) terms = [pattern];
  else terms = pattern.match(/(?:[^\s:[\]]|\[[^\]]*\])+/g) ?? [];
  return terms.map((t) => t.trim()).filter((t) => t !== '');
}

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

/** The hosts one term names: a host, or groups' hosts, or, for globs and regexes, also matching host names. */
function matchTerm(inv: Inventory, term: string, whole: string): { hosts: Set<string>; matchedAName: boolean } {
  const graph = inventoryGraph(inv);
  if (inv.hosts.has(term)) return { hosts: new Set([term]), matchedAName: true };
  const re = termMatcher(term, whole);
  const hosts = new Set<string>();
  const groups = [...inv.groups.keys()].filter((g) => re.test(g));
  for (const g of groups) for (const h of graph.hostsOfGroup.get(g) ?? []) hosts.add(h);
  let matchedHost = false;
  if (groups.length === 0 || term.startsWith('~') || /[.?*[]/.test(term)) {
    for (const h of inv.hosts.keys()) {
      if (re.test(h)) {
        hosts.add(h);
        matchedHost = true;
      }
    }
  }
  return { hosts, matchedAName: groups.length > 0 || matchedHost };
}

/**
 * The hosts a pattern selects, with Ansible's semantics (names, groups, `all`,
 * `*`, globs, `~regex`, `a:b` / `a,b`, `a:&b`, `a:!b`), in inventory order.
 * A term that names no host or group, or a pattern that selects nothing, is
 * an error rather than Ansible's warning: a push must never silently run on
 * fewer hosts than the user meant.
 */
export function selectHosts(inv: Inventory, pattern: string): string[] {
  const terms = splitPattern(pattern);
  if (terms.length === 0) throw new UserInputError(`pattern ${quoted(pattern)} is empty`);
  let selected = new Set<string>();
  for (const term of orderTerms(terms)) {
    const op = term[0] === '&' || term[0] === '!' ? term[0] : '';
    const name = op ? term.slice(1) : term;
    const { hosts, matchedAName } = matchTerm(inv, name, pattern);
    if (!matchedAName) {
      throw new UserInputError(
        name === pattern
          ? `pattern ${quoted(pattern)} matches no hosts in ${inv.file}`
          : `pattern ${quoted(pattern)}: ${quoted(name)} matches no host or group in ${inv.file}`,
      );
    }
    if (op === '&') selected = new Set([...selected].filter((h) => hosts.has(h)));
    else if (op === '!') selected = new Set([...selected].filter((h) => !hosts.has(h)));
    else for (const h of hosts) selected.add(h);
  }
  if (selected.size === 0) throw new UserInputError(`pattern ${quoted(pattern)} matches no hosts in ${inv.file}`);
  return inInventoryOrder(inventoryGraph(inv), selected);
}

/** `--limit`: the given hosts that the limit pattern also selects, in their given order. May be empty. */
export function limitHosts(inv: Inventory, hosts: string[], limitPattern: string): string[] {
  if (limitPattern.startsWith('@')) {
    throw new UserInputError(`--limit ${quoted(limitPattern)}: reading hosts from a file is not supported; give a pattern`);
  }
  const allowed = new Set(selectHosts(inv, limitPattern));
  return hosts.filter((h) => allowed.has(h));
}
