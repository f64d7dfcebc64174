import { isIPv6Literal } from './validate.js';

/**
 * A host entry as written in an inventory: `web1`, `web1:2222`, `[2001:db8::1]:2222`,
 * `web[01:10].example.com`, `db-[a:c]`, `node[0:20:5]`.
 */
export interface HostEntry {
  names: string[];
  port?: number;
}

/** Refuse `web[0:99999999]` instead of filling memory with host names. */
export const MAX_HOSTS_PER_ENTRY = 10_000;

const LETTERS = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ';

export function parseHostEntry(entry: string): HostEntry | { error: string } {
  const bracketedV6 = /^\[([^\]]+)\]:([0-9]+)$/.exec(entry);
  if (bracketedV6 && isIPv6Literal(bracketedV6[1])) {
    return withPort([bracketedV6[1]], bracketedV6[2], entry);
  }
  if (isIPv6Literal(entry)) return { names: [entry] };
  if (entry.endsWith(':') && !entry.includes('[')) {
    return { error: `host ${JSON.stringify(entry)} ends in ":"; write the port after it, as in "web1:2222"` };
  }
  // `name:port` where the name part has no colon outside its [a:b] ranges.
  const withPortMatch = /^(.+):([0-9]+)$/.exec(entry);
  if (withPortMatch && !withPortMatch[1].replace(/\[[^\]]*\]/g, '').includes(':')) {
    const names = expandHostRanges(withPortMatch[1]);
    if ('error' in names) return names;
    return withPort(names, withPortMatch[2], entry);
  }
  const names = expandHostRanges(entry);
  if ('error' in names) return names;
  return { names };
}

function withPort(names: string[], port: string, entry: string): HostEntry | { error: string } {
  const n = Number(port);
  if (!Number.isInteger(n) || n < 1 || n > 65535) {
    return { error: `port in ${JSON.stringify(entry)} must be an integer from 1 to 65535` };
  }
  return { names, port: n };
}

/**
 * Expands `[begin:end]` and `[begin:end:step]` ranges, numeric (with zero
 * padding when begin has leading zeros) or alphabetic, as Ansible does.
 * A name without ranges comes back unchanged.
 */
export function expandHostRanges(pattern: string): string[] | { error: string } {
  const m = /^(.*?)\[([^\]]*)\](.*)$/s.exec(pattern);
  if (!m) return [pattern];
  const [, head, range, tail] = m;
  const parts = range.split(':');
  if (parts.length < 2 || parts.length > 3) {
    return { error: `host range [${range}] in ${JSON.stringify(pattern)} must be [begin:end] or [begin:end:step]` };
  }
  const begin = parts[0] === '' ? '0' : parts[0];
  const end = parts[1];
  const step = parts.length === 3 ? Number(parts[2]) : 1;
  if (end === '') return { error: `host range [${range}] in ${JSON.stringify(pattern)} has no end value` };
  if (!Number.isInteger(step) || step < 1) {
    return { error: `host range [${range}] in ${JSON.stringify(pattern)} has a bad step` };
  }
  let items: string[];
  if (/^[0-9]+$/.test(begin) && /^[0-9]+$/.test(end)) {
    const width = begin.length > 1 && begin.startsWith('0') ? begin.length : 0;
    if (width && end.length !== width) {
      return { error: `host range [${range}] in ${JSON.stringify(pattern)} must have begin and end of equal length` };
    }
    const from = Number(begin);
    const to = Number(end);
    if (from > to) return { error: `host range [${range}] in ${JSON.stringify(pattern)} must have begin <= end` };
    if ((to - from) / step + 1 > MAX_HOSTS_PER_ENTRY) {
      return { error: `host range [${range}] in ${JSON.stringify(pattern)} expands to more than ${MAX_HOSTS_PER_ENTRY} hosts` };
    }
    items = [];
    for (let i = from; i <= to; i += step) items.push(width ? String(i).padStart(width, '0') : String(i));
  } else if (/^[A-Za-z]$/.test(begin) && /^[A-Za-z]$/.test(end)) {
    const from = LETTERS.indexOf(begin);
    const to = LETTERS.indexOf(end);
    if (from > to) return { error: `host range [${range}] in ${JSON.stringify(pattern)} must have begin <= end` };
    items = [];
    for (let i = from; i <= to; i += step) items.push(LETTERS[i]);
  } else {
    return { error: `host range [${range}] in ${JSON.stringify(pattern)} must be numeric or single letters` };
  }
  const rest = expandHostRanges(tail);
  if ('error' in rest) return rest;
  if (items.length * rest.length > MAX_HOSTS_PER_ENTRY) {
    return { error: `${JSON.stringify(pattern)} expands to more than ${MAX_HOSTS_PER_ENTRY} hosts` };
  }
  return items.flatMap((item) => rest.map((r) => `${head}${item}${r}`));
}
