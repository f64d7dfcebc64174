import { addressSlug } from './managed.js';
import { basename, dirname, type PersistFormat } from './format.js';

const DIR = '/etc/netplan';

/**
 * One YAML file per VIP: netplan merges the `addresses` of every file that
 * defines `lo` (checked with netplan.io 0.106's generator). The device pins
 * `renderer: networkd`, because netplan cannot render `lo` for NetworkManager
 * (it makes an ethernet profile, and refuses address labels). Netplan has no
 * scope option: the VIP comes back with scope global.
 */
export const netplanFormat: PersistFormat = {
  backend: 'netplan',
  layout: 'per-vip',
  // netplan warns about YAML that others can read
  mode: 0o600,
  pathFor(vip) {
    return `${DIR}/60-vipush-${vip.dev}-${addressSlug(vip)}.yaml`;
  },
  mayBeOurs(path) {
    return dirname(path) === DIR && /^60-vipush-.*\.yaml$/.test(basename(path));
  },
  refuse(vip) {
    return vip.dev === 'lo' ? null : `vipush persists VIPs with netplan only on lo, not on ${vip.dev}`;
  },
  fileProblems() {
    return [];
  },
  render(vips) {
    const dev = vips[0].dev;
    const lines = ['network:', '  version: 2', '  ethernets:', `    ${dev}:`, '      renderer: networkd', '      addresses:'];
    for (const vip of vips) {
      if (vip.label) lines.push(`        - "${vip.address}":`, `            label: "${vip.label}"`);
      else lines.push(`        - "${vip.address}"`);
    }
    return lines.join('\n') + '\n';
  },
  // `netplan apply` reconfigures every interface, and `netplan generate` may
  // start units; the live `ip addr add` already gives the state the file describes.
  applyNow() {
    return [];
  },
};
