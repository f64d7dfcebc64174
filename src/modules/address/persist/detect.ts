import type { PersistBackend } from '../resolve.js';
import { serviceActive, serviceEnabled } from './format.js';
import { nmLoopbackSupported } from './networkmanager.js';
import type { StackBackend, StackDetection, StackFacts } from './types.js';

/**
 * Which stack will bring lo's addresses up at boot, in this order:
 *  1. netplan YAML present: netplan, unless netplan renders for NetworkManager
 *     and networkd is not running (netplan cannot describe lo for
 *     NetworkManager): then NetworkManager.
 *  2. /etc/network/interfaces and networking.service active or enabled: ifupdown
 *     (Debian desktops run NetworkManager too, but ifupdown brings up lo).
 *  3. NetworkManager active: NetworkManager, except an older one than 1.42
 *     (which cannot manage lo) next to working network-scripts: ifcfg, which
 *     keeps the VIP on lo.
 *  4. systemd-networkd active: networkd.
 *  5. network-scripts with ifup-aliases and no NetworkManager: ifcfg.
 *  6. /etc/network/interfaces exists: ifupdown.
 *  7. NetworkManager or networkd merely enabled (or, without systemd, installed).
 * Otherwise null: the user must set `persist:`.
 */
export function detectStack(f: StackFacts): StackDetection {
  const nmActive = serviceActive(f, 'NetworkManager');
  const networkdActive = serviceActive(f, 'systemd-networkd');
  const networkingOn = serviceActive(f, 'networking') || serviceEnabled(f, 'networking');
  const nm = f.nmVersion ? `NetworkManager ${f.nmVersion}` : 'NetworkManager';
  const scriptsUsable = f.ifcfgDir && f.ifcfgAliases && (!f.systemd || serviceEnabled(f, 'network') || serviceActive(f, 'network'));

  if (f.netplanFiles.length > 0) {
    if (f.netplanNmRenderer && nmActive && !networkdActive) {
      return {
        backend: 'networkmanager',
        reason:
          `netplan renders for ${nm} here and systemd-networkd is not active, ` +
          `and netplan cannot describe lo for NetworkManager, so vipush writes a NetworkManager profile`,
      };
    }
    return {
      backend: 'netplan',
      reason: `/etc/netplan holds ${f.netplanFiles.length} YAML file${f.netplanFiles.length === 1 ? '' : 's'}${networkdActive ? ' and systemd-networkd is active' : ''}`,
    };
  }
  if (f.interfacesFile && networkingOn) {
    return { backend: 'ifupdown', reason: 'networking.service runs ifupdown, which brings up lo from /etc/network/interfaces' };
  }
  if (nmActive) {
    if (!nmLoopbackSupported(f) && f.nmVersion !== null && scriptsUsable) {
      return {
        backend: 'ifcfg',
        reason: `${nm} is active but cannot manage lo (that needs 1.42), and network-scripts bring up lo's aliases at boot`,
      };
    }
    return { backend: 'networkmanager', reason: `${nm} is active and /etc/netplan is empty` };
  }
  if (networkdActive) {
    return { backend: 'networkd', reason: 'systemd-networkd is active and there is neither netplan nor NetworkManager' };
  }
  if (scriptsUsable) {
    return { backend: 'ifcfg', reason: '/etc/sysconfig/network-scripts has ifup-aliases and NetworkManager is not active' };
  }
  if (f.interfacesFile) {
    return { backend: 'ifupdown', reason: '/etc/network/interfaces exists and no other network stack is active' };
  }
  if (serviceEnabled(f, 'NetworkManager') || (!f.systemd && f.nmDir && f.nmVersion !== null)) {
    return { backend: 'networkmanager', reason: `${nm} is installed and nothing else manages the network` };
  }
  if (serviceEnabled(f, 'systemd-networkd') || (!f.systemd && f.networkdFiles.length > 0)) {
    return { backend: 'networkd', reason: 'systemd-networkd is set up and nothing else manages the network' };
  }
  return {
    backend: null,
    reason:
      'no known network stack found: no netplan YAML, no /etc/network/interfaces, no network-scripts, ' +
      'and neither NetworkManager nor systemd-networkd is running; set persist: to one of ifupdown, netplan, networkd, networkmanager, ifcfg, systemd',
  };
}

/**
 * What a stack loses of a VIP on lo when it brings it back at boot, for the stacks that can't keep it
 * as declared. A boot of real hosts showed NetworkManager 1.42 re-adding it with scope global and no
 * label; ifup-aliases adds no scope; netplan rendered for NetworkManager is NetworkManager; netplan
 * rendered for networkd kept the label but not the scope (netplan has no scope option: a real boot in
 * the systemd lab brought it back scope global). ifupdown and networkd brought it back with scope host
 * and its label.
 */
function lostAtBoot(backend: StackBackend | null, f: StackFacts): { stack: string; scope: boolean; label: boolean } | null {
  if (backend === 'networkmanager') return { stack: 'NetworkManager', scope: true, label: true };
  if (backend === 'ifcfg') return { stack: 'network-scripts (ifup-aliases)', scope: true, label: false };
  if (backend === 'netplan' && f.netplanNmRenderer && !serviceActive(f, 'systemd-networkd')) {
    return { stack: 'netplan (rendering for NetworkManager)', scope: true, label: true };
  }
  // netplan has no scope option: networkd, rendering its YAML, brings the VIP back scope global (label kept)
  if (backend === 'netplan') return { stack: 'netplan', scope: true, label: false };
  return null;
}

/** What a task declares about its VIP, as far as the choice of a backend goes. */
export interface DeclaredVip {
  address: string;
  family: 4 | 6;
  scope: string;
  label?: string;
  dev: string;
}

/**
 * The backend for a task's `persist:` value: `auto` detects, `none` persists nothing. Where the
 * detected stack would bring the VIP back without `scope host` or its label, `auto` picks vipush's
 * systemd unit when PID 1 is systemd, and otherwise keeps the stack only for a VIP it brings back
 * as declared (IPv6, or IPv4 with scope global and no label): for any other, nothing can keep the
 * declared state across a reboot, and the backend is null with the reason.
 */
export function chooseBackend(persist: PersistBackend, f: StackFacts, vip?: DeclaredVip): StackDetection {
  if (persist === 'auto') {
    const found = detectStack(f);
    // the unit carries VIPs on lo only; elsewhere the stack's own files stay the choice
    const lost = vip === undefined || vip.dev === 'lo' ? lostAtBoot(found.backend, f) : null;
    if (!lost) return found;
    const what = [lost.scope ? 'scope global' : '', lost.label ? 'without its label' : ''].filter(Boolean).join(' and ');
    if (f.systemd) {
      return {
        backend: 'systemd',
        reason: `${found.reason}; ${lost.stack} would bring the VIP back with ${what}, so a unit of vipush's adds it at boot as declared`,
      };
    }
    const label = vip?.family === 4 && vip.label !== undefined && vip.label !== vip.dev;
    const loses = vip === undefined || (vip.family === 4 && ((lost.scope && vip.scope !== 'global') || (lost.label && label)));
    if (!loses) return found;
    return {
      backend: null,
      reason:
        `${found.reason}, but ${lost.stack} would bring the VIP back with ${what}, and PID 1 is not systemd, ` +
        `so no vipush unit can add it at boot as declared: it would drift after every reboot`,
    };
  }
  if (persist === 'none') return { backend: null, reason: 'persist: none, so the VIP is not kept across reboots' };
  return { backend: persist, reason: `persist: ${persist} is set in the playbook` };
}
