import ipaddr from 'ipaddr.js';

/**
 * Checks for names and connection values that come from an inventory (or -e).
 * Each returns an error message, or undefined when the value is acceptable.
 * Host names, group names and addresses end up in SSH connections, sudo
 * arguments and reports, so anything outside a small alphabet is refused
 * instead of being quoted and hoped for.
 */

const SAFE_NAME = /^[A-Za-z0-9_.:-]+$/;
const MAX_NAME_LENGTH = 255;
const VARIABLE_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
/** RFC 1123 labels; underscores are refused so that a name is valid for DNS. */
const HOSTNAME_LABEL = /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;
const USER_NAME = /^[A-Za-z0-9_][A-Za-z0-9_.@-]*$/;

/** For messages: a quoted, escaped rendering so newlines and control characters stay visible. */
export function show(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (value === null || value === undefined) return 'nothing';
  if (typeof value === 'object') return Array.isArray(value) ? 'a list' : 'a mapping';
  return String(value);
}

export function isIPv6Literal(name: string): boolean {
  return name.includes(':') && ipaddr.IPv6.isValid(name);
}

export function checkHostName(name: string): string | undefined {
  if (name === '') return 'host name is empty';
  if (isIPv6Literal(name)) return undefined;
  if (name.length > MAX_NAME_LENGTH || !SAFE_NAME.test(name)) {
    return `host name ${show(name)} is not safe: use only letters, digits and _ . : - (or an IPv6 address)`;
  }
  if (name.startsWith('-')) return `host name ${show(name)} must not start with "-"`;
  return undefined;
}

export function checkGroupName(name: string): string | undefined {
  if (name === '') return 'group name is empty';
  if (name.length > MAX_NAME_LENGTH || !SAFE_NAME.test(name)) {
    return `group name ${show(name)} is not safe: use only letters, digits and _ . : -`;
  }
  if (name.startsWith('-')) return `group name ${show(name)} must not start with "-"`;
  return undefined;
}

export function checkVariableName(name: string): string | undefined {
  if (VARIABLE_NAME.test(name)) return undefined;
  return `variable name ${show(name)} is not valid: use letters, digits and _, not starting with a digit`;
}

/** A DNS hostname, a dotted-quad IPv4 address or an IPv6 address. */
export function isHostAddress(value: string): boolean {
  if (isIPv6Literal(value)) return true;
  if (/^[0-9.]+$/.test(value)) return ipaddr.IPv4.isValidFourPartDecimal(value);
  const name = value.endsWith('.') ? value.slice(0, -1) : value;
  if (name.length === 0 || name.length > 253) return false;
  const labels = name.split('.');
  // An all-numeric last label would be read as an IPv4 shorthand by some resolvers.
  if (/^[0-9]+$/.test(labels[labels.length - 1])) return false;
  return labels.every((label) => HOSTNAME_LABEL.test(label));
}

export function checkAnsibleHost(value: unknown): string | undefined {
  if (typeof value === 'string' && isHostAddress(value)) return undefined;
  return `ansible_host ${show(value)} is not a hostname or IP address`;
}

/** An integer port, or a string of digits (Ansible accepts "2222" too). */
export function parsePort(value: unknown): number | undefined {
  let n: number | undefined;
  if (typeof value === 'number') n = value;
  else if (typeof value === 'string' && /^[0-9]{1,5}$/.test(value)) n = Number(value);
  if (n === undefined || !Number.isInteger(n) || n < 1 || n > 65535) return undefined;
  return n;
}

export function checkAnsiblePort(value: unknown): string | undefined {
  if (parsePort(value) !== undefined) return undefined;
  return `ansible_port must be an integer from 1 to 65535, got ${show(value)}`;
}

/** Ansible's boolean(): what an INI inventory gives as text (`yes`, `true`, `on`, `1`...) counts too. */
export function checkAnsibleBecome(value: unknown): string | undefined {
  if (typeof value === 'boolean' || value === 0 || value === 1) return undefined;
  if (typeof value === 'string' && /^(?:true|yes|on|y|1|t|false|no|off|n|0|f)$/i.test(value)) return undefined;
  return `ansible_become must be true or false, got ${show(value)}`;
}

export function checkUserName(key: string, value: unknown): string | undefined {
  if (typeof value === 'string' && value.length <= 64 && USER_NAME.test(value)) return undefined;
  return `${key} ${show(value)} is not a valid user name`;
}

export function checkKeyFile(key: string, value: unknown): string | undefined {
  // A path with a newline or NUL in it is never what the user meant.
  if (typeof value === 'string' && value !== '' && !/[\u0000-\u001f\u007f]/.test(value)) return undefined;
  return `${key} must be a file path, got ${show(value)}`;
}

/** Ansible takes int(value): an integer, or text that is one. */
export function groupPriority(value: unknown): number | undefined {
  if (typeof value === 'number' && Number.isInteger(value)) return value;
  if (typeof value === 'string' && /^\s*[-+]?[0-9]+\s*$/.test(value)) return Number(value);
  return undefined;
}

export function checkGroupPriority(value: unknown): string | undefined {
  if (groupPriority(value) !== undefined) return undefined;
  return `ansible_group_priority must be an integer, got ${show(value)}`;
}

/**
 * The inventory variables whose values vipush itself uses; they are checked
 * where they are defined, so the error points at the inventory line.
 */
export function checkKnownVariable(key: string, value: unknown): string | undefined {
  switch (key) {
    case 'ansible_host':
      return checkAnsibleHost(value);
    case 'ansible_port':
      return checkAnsiblePort(value);
    case 'ansible_become':
      return checkAnsibleBecome(value);
    case 'ansible_user':
    case 'ansible_become_user':
      return checkUserName(key, value);
    case 'ansible_ssh_private_key_file':
    case 'ansible_private_key_file':
      return checkKeyFile(key, value);
    case 'ansible_group_priority':
      return checkGroupPriority(value);
    default:
      return undefined;
  }
}

/** Levenshtein distance, for "did you mean" suggestions. */
export function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      cur[j] = Math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = cur;
  }
  return prev[b.length];
}

export function nearest(word: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const c of candidates) {
    const d = editDistance(word.toLowerCase(), c);
    if (d < bestDistance) {
      best = c;
      bestDistance = d;
    }
  }
  return bestDistance <= Math.min(3, Math.ceil(word.length / 2)) ? best : undefined;
}
