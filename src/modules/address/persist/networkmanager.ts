import { createHash } from 'node:crypto';
import { basename, dirname, serviceActive, type PersistFormat } from './format.js';
import type { PersistedVip, StackFacts } from './types.js';

const DIR = '/etc/NetworkManager/system-connections';
/** the device that carries the VIPs where NetworkManager cannot manage lo */
export const NM_DUMMY_DEVICE = 'vipush0';

/**
 * A NetworkManager keyfile. From 1.42 NetworkManager can activate a
 * `loopback` profile on lo; before that it leaves lo alone, so the VIPs go
 * on a dummy device of vipush's own (dummy profiles exist since 1.8). One
 * profile per device holds all the VIPs: NetworkManager activates one
 * profile per device. NetworkManager adds these addresses with scope global
 * and has no labels.
 *
 * The loopback text is byte for byte what `nmcli --offline connection add`
 * (1.42) writes. The dummy text leaves out what older versions would not
 * read (`addr-gen-mode=default` is 1.40+, ipv6 `disabled` is 1.20+).
 */
export const networkManagerFormat: PersistFormat = {
  backend: 'networkmanager',
  layout: 'per-dev',
  // NetworkManager ignores keyfiles that others can read
  mode: 0o600,
  pathFor(vip) {
    return `${DIR}/${connectionId(vip.dev)}.nmconnection`;
  },
  mayBeOurs(path) {
    return dirname(path) === DIR && /^vipush-.*\.nmconnection$/.test(basename(path));
  },
  refuse(vip, f) {
    if (vip.dev !== 'lo') return `vipush persists VIPs with NetworkManager only on lo, not on ${vip.dev}`;
    const version = parseNmVersion(f.nmVersion);
    if (!version) return `NetworkManager's version is unknown (neither "NetworkManager --version" nor "nmcli --version" answered)`;
    if (compareVersion(version, [1, 8]) < 0) return `NetworkManager ${f.nmVersion} is older than 1.8 and has no dummy devices to carry the VIP`;
    return null;
  },
  fileProblems() {
    return [];
  },
  render(vips, f) {
    return nmLoopbackSupported(f) ? renderLoopback(vips) : renderDummy(vips);
  },
  // Makes NetworkManager forget a deleted profile or read a new one; it does not touch other devices.
  applyNow(changed, f) {
    return serviceActive(f, 'NetworkManager') ? changed.map((path) => ['nmcli', 'connection', 'load', path]) : [];
  },
};

export function connectionId(dev: string): string {
  return `vipush-${dev}`;
}

export function nmLoopbackSupported(f: StackFacts): boolean {
  const version = parseNmVersion(f.nmVersion);
  return version !== null && compareVersion(version, [1, 42]) >= 0;
}

/** "1.42.4", "1.18.8-1.el7" -> [1, 42, 4]; null when it does not start with a version */
export function parseNmVersion(text: string | null): number[] | null {
  const m = /^(\d+)\.(\d+)(?:\.(\d+))?/.exec(text?.trim() ?? '');
  return m ? [Number(m[1]), Number(m[2]), Number(m[3] ?? 0)] : null;
}

function compareVersion(a: readonly number[], b: readonly number[]): number {
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const d = (a[i] ?? 0) - (b[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

/** A UUID derived from the profile's id, so that the same input gives the same file. */
export function deterministicUuid(seed: string): string {
  const h = createHash('sha1').update(`vipush:${seed}`).digest();
  h[6] = (h[6] & 0x0f) | 0x50; // version 5 (name-based, SHA-1)
  h[8] = (h[8] & 0x3f) | 0x80; // RFC 4122 variant
  const hex = h.subarray(0, 16).toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`;
}

function addressLines(vips: readonly PersistedVip[], family: 4 | 6): string[] {
  return vips.filter((v) => v.family === family).map((v, i) => `address${i + 1}=${v.address}`);
}

function renderLoopback(vips: readonly PersistedVip[]): string {
  const id = connectionId(vips[0].dev);
  const v4 = addressLines(vips, 4);
  const v6 = addressLines(vips, 6);
  // A loopback profile accepts only `manual` (with addresses) or `auto`.
  return [
    '[connection]',
    `id=${id}`,
    `uuid=${deterministicUuid(id)}`,
    'type=loopback',
    `interface-name=${vips[0].dev}`,
    '',
    '[loopback]',
    '',
    '[ipv4]',
    ...v4,
    `method=${v4.length ? 'manual' : 'auto'}`,
    '',
    '[ipv6]',
    'addr-gen-mode=default',
    ...v6,
    `method=${v6.length ? 'manual' : 'auto'}`,
    '',
    '[proxy]',
    '',
  ].join('\n');
}

function renderDummy(vips: readonly PersistedVip[]): string {
  const id = connectionId(vips[0].dev);
  const v4 = addressLines(vips, 4);
  const v6 = addressLines(vips, 6);
  return [
    '[connection]',
    `id=${id}`,
    `uuid=${deterministicUuid(id)}`,
    'type=dummy',
    `interface-name=${NM_DUMMY_DEVICE}`,
    '',
    '[dummy]',
    '',
    '[ipv4]',
    ...v4,
    `method=${v4.length ? 'manual' : 'disabled'}`,
    '',
    '[ipv6]',
    ...v6,
    `method=${v6.length ? 'manual' : 'ignore'}`,
    '',
  ].join('\n');
}
