import ipaddr from 'ipaddr.js';

/**
 * What a value bound for a Linux host's network settings, or for its shell, may be: pure checks and
 * parsers with no I/O. The playbook's validation (config) and the modules that read and write those
 * settings both use them, so the two agree on one spelling of each value.
 */

export const DEFAULT_SYSCTL_FILE = '/etc/sysctl.conf';
const IFNAME_MAX = 15; // IFNAMSIZ - 1

/** Why `name` can't be a Linux interface name (or an address label), or undefined if it can. */
export function interfaceNameProblem(name: string, what: 'device name' | 'label'): string | undefined {
  const q = JSON.stringify(name);
  if (name === '') return `${what} must not be empty`;
  if (name === '.' || name === '..') return `${what} ${q} is not allowed`;
  if (what === 'device name' && name.includes(':')) {
    const [dev] = name.split(':');
    return `device name ${q} contains ":"; put the device in \`dev\` and the alias in \`label\` (dev: ${dev}, label: ${name})`;
  }
  const allowed = what === 'label' ? /^[A-Za-z0-9_.:-]$/ : /^[A-Za-z0-9_.-]$/;
  const bad = [...name].find((c) => !allowed.test(c));
  if (bad !== undefined) {
    const shown = /\s/.test(bad) ? 'whitespace' : JSON.stringify(bad);
    const chars = what === 'label' ? '"_.:-"' : '"_.-"';
    return `${what} ${q} contains ${shown}; a ${what} may contain only letters, digits and ${chars}`;
  }
  if (name.length > IFNAME_MAX) return `${what} ${q} is ${name.length} characters; Linux allows at most ${IFNAME_MAX}`;
  return undefined;
}

/** Why `file` can't hold our sysctl settings, or undefined if it can. */
export function sysctlFileProblem(file: string): string | undefined {
  if (file === DEFAULT_SYSCTL_FILE) return undefined;
  const q = JSON.stringify(file);
  const hint = `use ${DEFAULT_SYSCTL_FILE} or /etc/sysctl.d/NAME.conf`;
  if (/[\x00-\x1f\x7f]/.test(file)) return `sysctl file ${q} must be one line without control characters; ${hint}`;
  if (file.includes('..')) return `sysctl file ${q} contains ".."; ${hint}`;
  if (!file.startsWith('/')) return `sysctl file ${q} is not an absolute path; ${hint}`;
  const match = /^\/etc\/sysctl\.d\/([^/]*)$/.exec(file);
  if (!match) return `sysctl file ${q} is not read at boot; ${hint}`;
  if (!match[1].endsWith('.conf')) return `sysctl file ${q} does not end in ".conf", so it is not read at boot; ${hint}`;
  if (!/^[A-Za-z0-9_@+-][A-Za-z0-9_.@+-]*\.conf$/.test(match[1])) {
    return `sysctl file ${q}: NAME may contain only letters, digits and "_.@+-"; ${hint}`;
  }
  return undefined;
}

/** The character, if any, in `text` that `allowed` does not match, shown so that whitespace and control characters stay visible. */
export function firstBadCharacter(text: string, allowed: RegExp): string | undefined {
  const bad = [...text].find((c) => !allowed.test(c));
  if (bad === undefined) return undefined;
  return /\s/.test(bad) && bad !== '\n' ? 'whitespace' : JSON.stringify(bad);
}

/**
 * What a `creates`/`removes` path may hold. Such a path is quoted wherever it
 * is used, but no real marker file needs shell metacharacters, blanks or
 * globs, so a value holding them is refused rather than trusted to quoting.
 */
const PATH_CHARACTER = /^[A-Za-z0-9_.,:/@%+=~-]$/;

/** Why `path` can't be a `creates`/`removes` path, or undefined if it can. */
export function pathProblem(path: string): string | undefined {
  if (/[\x00-\x1f\x7f]/.test(path)) return 'must be one line without control characters';
  if (!path.startsWith('/')) return `must be an absolute path, got ${JSON.stringify(path)}`;
  const bad = firstBadCharacter(path, PATH_CHARACTER);
  if (bad) return `${JSON.stringify(path)} contains ${bad}; a path may contain only letters, digits and "/_.,:@%+=~-"`;
  if (path.split('/').includes('..')) return `${JSON.stringify(path)} contains ".."; write the path without it`;
  return undefined;
}

/**
 * What a sysctl value may hold: numbers, words and lists of them, as the
 * kernel prints them. It is quoted on its way to the host and written to a
 * sysctl file, where a value holding `;`, `$(` or a quote would be
 * ambiguous at best; no network setting needs those.
 */
export const SYSCTL_VALUE_CHARACTER = /^[A-Za-z0-9 _.,:/@%+=-]$/;

export interface InterfaceAddress {
  /** normalised: 192.168.0.181/32, 2001:db8::1/128 */
  cidr: string;
  family: 4 | 6;
  prefix: number;
}

/** Parses "address/prefix" as `ip addr add` takes it, strictly (no octal, no zone ids). */
export function parseInterfaceAddress(text: string): InterfaceAddress | { error: string } {
  const q = JSON.stringify(text);
  const family: 4 | 6 = text.includes(':') ? 6 : 4;
  const slash = text.indexOf('/');
  const ip = slash < 0 ? text : text.slice(0, slash);
  const valid = family === 4 ? ipaddr.IPv4.isValidFourPartDecimal(ip) : ipaddr.IPv6.isValid(ip) && !ip.includes('%');
  if (!valid) return { error: `address ${q} is not a valid IPv${family} network` };
  const max = family === 4 ? 32 : 128;
  if (slash < 0) return { error: `address ${q} has no prefix length; add one, such as "${text}/${max}"` };
  const prefixText = text.slice(slash + 1);
  if (!/^(0|[1-9][0-9]{0,2})$/.test(prefixText) || Number(prefixText) > max) {
    return { error: `address ${q} has an invalid prefix length "${prefixText}"; IPv${family} prefixes are 0..${max}` };
  }
  const prefix = Number(prefixText);
  const normalised = family === 4 ? ipaddr.IPv4.parse(ip).toString() : ipaddr.IPv6.parse(ip).toString();
  return { cidr: `${normalised}/${prefix}`, family, prefix };
}

/**
 * `net/ipv4/conf/all/arp_ignore` -> `net.ipv4.conf.all.arp_ignore`, as sysctl -a prints it: a key may be
 * written either way, in a playbook or a sysctl.conf line, and both spellings name one setting.
 */
export function normaliseSysctlKey(key: string): string {
  return key.trim().replace(/\//g, '.');
}

/**
 * A MAC address as `ip` and arping print it: six pairs of hex digits joined by ":". No g flag, ever:
 * test() on a global regex keeps lastIndex from one call to the next.
 */
export const MAC_ADDRESS = /^([0-9a-f]{2}:){5}[0-9a-f]{2}$/i;

/** The scope of an address as `ip addr` shows it. */
export type AddressScope = 'host' | 'link' | 'global';

/**
 * The scope the kernel gives an IPv6 address: it takes it from the address itself and ignores the one
 * `ip` passes (an address asked for with `scope host` reads back `scope global`).
 */
export function ipv6KernelScope(cidr: string): { scope: AddressScope } | { error: string } {
  const ip = cidr.slice(0, cidr.indexOf('/'));
  const range: string = ipaddr.IPv6.parse(ip).range(); // ipaddr.js's types lack 'deprecatedSiteLocal'
  switch (range) {
    case 'unspecified':
      return { error: `the unspecified address ${ip} can't be assigned to an interface` };
    case 'multicast':
      return { error: `${ip} is a multicast address, which can't be assigned to an interface` };
    case 'deprecatedSiteLocal':
      return { error: `${ip} is site-local (fec0::/10), deprecated since RFC 3879; use a global or unique-local (fd00::/8) address` };
    case 'loopback':
      return { scope: 'host' };
    case 'linkLocal':
      return { scope: 'link' };
    default:
      return { scope: 'global' };
  }
}
