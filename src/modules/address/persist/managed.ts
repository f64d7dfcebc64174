import ipaddr from 'ipaddr.js';
import type { AddressArgs } from '../resolve.js';
import type { PersistedVip } from './types.js';

/**
 * Every file vipush writes starts with HEADER, then one MARKER line per VIP it
 * holds. The markers let a later run read back which VIPs a file carries in
 * one way for all five formats ('#' starts a comment in each of them), so a
 * shared file can be updated without losing VIPs that other tasks put there.
 */
export const HEADER = '# Managed by vipush (hidden-ARP VIPs). Edits here are overwritten on the next run.';
const MARKER = '# vipush-vip';

/** Only these characters may reach a file: no newline, quote, space, '=' or shell syntax. */
const SAFE = /^[A-Za-z0-9_.:/-]+$/;
const IFNAME = /^[A-Za-z0-9_.-]{1,15}$/;
const LABEL = /^[A-Za-z0-9_.:-]{1,15}$/;
const SCOPES = new Set(['host', 'link', 'global']);

export function isManaged(content: string): boolean {
  return content.startsWith(HEADER);
}

/** The comment lines every file starts with. */
export function managedPreamble(vips: readonly PersistedVip[]): string {
  return [HEADER, ...vips.map(markerLine)].join('\n') + '\n';
}

function markerLine(v: PersistedVip): string {
  const label = v.label ? ` label=${v.label}` : '';
  return `${MARKER} address=${v.address} dev=${v.dev} scope=${v.scope}${label}`;
}

/** The VIPs a vipush file says it holds. Lines that do not parse are ignored: the file is rewritten whole. */
export function readMarkers(content: string): PersistedVip[] {
  const vips: PersistedVip[] = [];
  for (const line of content.split('\n')) {
    if (!line.startsWith(MARKER + ' ')) continue;
    const fields = new Map<string, string>();
    for (const token of line
      .slice(MARKER.length + 1)
      .trim()
      .split(/\s+/)) {
      const eq = token.indexOf('=');
      if (eq > 0) fields.set(token.slice(0, eq), token.slice(eq + 1));
    }
    const address = fields.get('address');
    const dev = fields.get('dev');
    const scope = fields.get('scope');
    if (!address || !dev || !scope) continue;
    const family = address.includes(':') ? 6 : 4;
    const vip: PersistedVip = { address, family, dev, scope: scope as PersistedVip['scope'] };
    const label = fields.get('label');
    if (label) vip.label = label;
    if (vipProblem(vip) === null) vips.push(vip);
  }
  return vips;
}

/**
 * ipaddr.parseCIDR tries IPv6 first and throws for every IPv4 address (an exception with a stack trace, per
 * VIP, per host, per run): pick the family by the colon instead. Throws on a malformed address.
 */
function parseCidr(text: string): [ipaddr.IPv4 | ipaddr.IPv6, number] {
  return text.includes(':') ? ipaddr.IPv6.parseCIDR(text) : ipaddr.IPv4.parseCIDR(text);
}

/**
 * The config layer has already validated these values; this is a second,
 * independent check so that nothing unexpected is ever written into a file.
 */
export function vipProblem(v: PersistedVip): string | null {
  for (const [name, value] of [
    ['address', v.address],
    ['dev', v.dev],
    ['scope', v.scope],
    ['label', v.label ?? 'x'],
  ] as const) {
    if (!SAFE.test(value)) return `${name} ${JSON.stringify(value)} holds characters vipush will not write into a network file`;
  }
  if (!IFNAME.test(v.dev)) return `device name "${v.dev}" is not a valid interface name`;
  if (!SCOPES.has(v.scope)) return `scope "${v.scope}" is not host, link or global`;
  let parsed: [ipaddr.IPv4 | ipaddr.IPv6, number];
  try {
    parsed = parseCidr(v.address);
  } catch {
    return `address "${v.address}" is not an address/prefix`;
  }
  const family = parsed[0].kind() === 'ipv4' ? 4 : 6;
  if (family !== v.family) return `address "${v.address}" is not IPv${v.family}`;
  if (v.label !== undefined) {
    if (!LABEL.test(v.label)) return `label "${v.label}" is not a valid address label (at most 15 characters)`;
    if (v.label !== v.dev && !v.label.startsWith(`${v.dev}:`)) return `label "${v.label}" must start with "${v.dev}:"`;
  }
  return null;
}

/** A task's VIP as files record it: IPv6 has no labels, and a label equal to the device is no label. */
export function toPersistedVip(a: AddressArgs): PersistedVip {
  const vip: PersistedVip = { address: a.address, family: a.family, dev: a.dev, scope: a.scope };
  if (a.label !== undefined && a.label !== a.dev && a.family === 4) vip.label = a.label;
  return vip;
}

/** Identity of a VIP inside a file: the same address on the same device. */
export function vipKey(v: PersistedVip): string {
  return `${v.dev} ${v.address}`;
}

/**
 * A file-name fragment made of [A-Za-z0-9_-] only: ifupdown's
 * `source-directory` skips names with any other character.
 */
export function nameSlug(text: string): string {
  return text.replace(/[^A-Za-z0-9_-]/g, '-');
}

/** The address without its prefix, as a file-name fragment: 198.18.1.250/32 -> 198-18-1-250. */
export function addressSlug(v: PersistedVip): string {
  return nameSlug(v.address.split('/')[0]);
}

/** IPv4 first, then by address bytes, then prefix: files list VIPs in one order whatever the task order. */
export function compareVips(a: PersistedVip, b: PersistedVip): number {
  if (a.family !== b.family) return a.family - b.family;
  if (a.dev !== b.dev) return a.dev < b.dev ? -1 : 1;
  const [aAddr, aLen] = parseCidr(a.address);
  const [bAddr, bLen] = parseCidr(b.address);
  const aBytes = aAddr.toByteArray();
  const bBytes = bAddr.toByteArray();
  for (let i = 0; i < aBytes.length; i++) {
    if (aBytes[i] !== bBytes[i]) return aBytes[i] - bBytes[i];
  }
  return aLen - bLen;
}

export function ipOf(v: PersistedVip): string {
  return v.address.split('/')[0];
}

export function prefixOf(v: PersistedVip): number {
  return Number(v.address.split('/')[1]);
}

export function ipv4Netmask(prefix: number): string {
  const mask = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
  return [24, 16, 8, 0].map((shift) => (mask >>> shift) & 0xff).join('.');
}
