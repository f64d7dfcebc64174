import type { PersistBackend } from '../resolve.js';
import { serviceActive, serviceEnabled } from './format.js';
import { nmLoopbackSupported } from './networkmanager.js';
import type { StackDetection, StackFacts } from './types.js';

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
      'and neither NetworkManager nor systemd-networkd is running; set persist: to one of ifupdown, netplan, networkd, networkmanager, ifcfg',
  };
}

/** The backend for a task's `persist:` value: `auto` detects, `none` persists nothing. */
export function chooseBackend(persist: PersistBackend, f: StackFacts): StackDetection {
  if (persist === 'auto') return detectStack(f);
  if (persist === 'none') return { backend: null, reason: 'persist: none, so the VIP is not kept across reboots' };
  return { backend: persist, reason: `persist: ${persist} is set in the playbook` };
}
