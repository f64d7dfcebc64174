import { ipOf, ipv4Netmask, isManaged, prefixOf } from './managed.js';
import { basename, dirname, type PersistFormat } from './format.js';

const DIR = '/etc/sysconfig/network-scripts';
/** ifup-aliases refuses an alias whose part after ':' is anything else */
const ALIAS_SUFFIX = /^[0-9A-Za-z_]+$/;

/**
 * RHEL network-scripts: one alias file per VIP, `ifcfg-lo:N`, which
 * ifup-aliases brings up with lo. The file name must be the alias, so a VIP
 * needs a label. ifup-aliases adds no scope (the VIP comes back with scope
 * global) and handles IPv4 only.
 */
export const ifcfgFormat: PersistFormat = {
  backend: 'ifcfg',
  layout: 'per-vip',
  mode: 0o644,
  pathFor(vip) {
    return `${DIR}/ifcfg-${vip.label ?? `${vip.dev}:vipush`}`;
  },
  mayBeOurs: isAliasFile,
  refuse(vip, f) {
    if (vip.family === 6) return `network-scripts alias files carry IPv4 only; persist ${vip.address} another way`;
    if (!vip.label) return `network-scripts keeps a VIP on ${vip.dev} only as an alias; give it a label such as "${vip.dev}:1"`;
    const suffix = vip.label.slice(vip.dev.length + 1);
    if (!ALIAS_SUFFIX.test(suffix)) {
      return `label "${vip.label}": network-scripts accepts only letters, digits and "_" after "${vip.dev}:"`;
    }
    const clash = Object.entries(f.existing).find(([path, content]) => isAliasFile(path) && !isManaged(content) && aliasAddress(content) === ipOf(vip));
    return clash ? `${clash[0]} already configures ${ipOf(vip)}; remove it or manage the VIP there by hand` : null;
  },
  fileProblems() {
    return [];
  },
  render(vips) {
    const vip = vips[0];
    return (
      [
        `DEVICE=${vip.label}`,
        `IPADDR=${ipOf(vip)}`,
        // PREFIX too: ifup-aliases takes PREFIX from ifcfg-lo when the alias has none, and PREFIX wins over NETMASK.
        `PREFIX=${prefixOf(vip)}`,
        `NETMASK=${ipv4Netmask(prefixOf(vip))}`,
        'ONBOOT=yes',
        'ONPARENT=yes',
        'NM_CONTROLLED=no',
        // no duplicate-address probe and no gratuitous ARP: the balancer owns the VIP on the LAN
        'ARPCHECK=no',
        'ARPUPDATE=no',
      ].join('\n') + '\n'
    );
  },
  // Bringing an alias up again means `ifup lo`; the live `ip addr add` already gives the same address.
  applyNow() {
    return [];
  },
};

function isAliasFile(path: string): boolean {
  return dirname(path) === DIR && /^ifcfg-[^:]+:.+$/.test(basename(path));
}

function aliasAddress(content: string): string | null {
  const m = /^\s*IPADDR=["']?([0-9.]+)/m.exec(content);
  return m ? m[1] : null;
}
