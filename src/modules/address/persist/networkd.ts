import { basename, dirname, serviceActive, type PersistFormat } from './format.js';

const DIR = '/etc/systemd/network';

/**
 * systemd-networkd applies only the first .network file (in name order, over
 * /etc, /run and /usr/lib) that matches a device. So all of vipush's VIPs on
 * lo share one file, sorted early (05-), and vipush refuses when another
 * file names lo: one of the two would be ignored.
 */
export const networkdFormat: PersistFormat = {
  backend: 'networkd',
  layout: 'per-dev',
  mode: 0o644,
  pathFor(vip) {
    return `${DIR}/05-vipush-${vip.dev}.network`;
  },
  mayBeOurs(path) {
    return dirname(path) === DIR && /^05-vipush-.*\.network$/.test(basename(path));
  },
  refuse(vip) {
    return vip.dev === 'lo' ? null : `vipush persists VIPs with systemd-networkd only on lo, not on ${vip.dev}`;
  },
  fileProblems(path, _vips, f) {
    const others = [...new Set(f.networkdLoFiles)].filter((p) => p !== path);
    if (others.length === 0) return [];
    return [
      `${others.join(', ')} already match${others.length === 1 ? 'es' : ''} lo, and systemd-networkd applies only the first ` +
        `.network file that matches a device, so either it or ${path} would be ignored; ` +
        `add the VIPs there by hand or remove lo from it`,
    ];
  },
  render(vips) {
    const lines = ['[Match]', `Name=${vips[0].dev}`, '', '[Network]'];
    // Leave addresses that other tools put on the device where they are.
    lines.push('KeepConfiguration=static');
    for (const vip of vips) {
      lines.push('', '[Address]', `Address=${vip.address}`);
      // The kernel sets IPv6 scopes itself; ARP (and so arp_ignore=3) is IPv4 only.
      if (vip.family === 4) lines.push(`Scope=${vip.scope}`);
      if (vip.label) lines.push(`Label=${vip.label}`);
    }
    return lines.join('\n') + '\n';
  },
  applyNow(_changed, f) {
    return serviceActive(f, 'systemd-networkd') ? [['networkctl', 'reload']] : [];
  },
};
