import type { HostFacts } from '../../facts/types.js';

function arpValue(state: HostFacts, iface: string, name: 'arp_ignore' | 'arp_announce'): number {
  return Number(state.sysctls.get(`net.ipv4.conf.${iface}.${name}`) ?? 0);
}

export function effectiveArp(state: HostFacts, iface: string): { arpIgnore: number; arpAnnounce: number } {
  // The kernel uses max(conf/all, conf/IFACE) for both (ip-sysctl.rst).
  return {
    arpIgnore: Math.max(arpValue(state, 'all', 'arp_ignore'), arpValue(state, iface, 'arp_ignore')),
    arpAnnounce: Math.max(arpValue(state, 'all', 'arp_announce'), arpValue(state, iface, 'arp_announce')),
  };
}

/** Where ARP requests arrive: the interfaces with an IPv4 address other than lo, or conf/all when there are none. */
export function arpIfaces(state: HostFacts): string[] {
  return state.lanIfaces.length > 0 ? state.lanIfaces : ['all'];
}

/**
 * What the kernel's arp_ignore() does for an address on lo with this scope:
 * 1, 2 and 8 hide it, 3 hides it only with scope host, and every other value
 * (0, the reserved 4 to 7, anything above 8) answers.
 */
export function ignoreEffect(arpIgnore: number, scope: string): 'hidden' | 'answers' | 'scope' {
  if (arpIgnore === 1 || arpIgnore === 2 || arpIgnore === 8) return 'hidden';
  if (arpIgnore === 3) return scope === 'host' ? 'hidden' : 'scope';
  return 'answers';
}

/**
 * Would this host answer ARP for an IPv4 address held on lo with this scope?
 * Returns the reason it would, or undefined when it stays hidden on every
 * interface where ARP requests arrive.
 */
export function arpExposure(state: HostFacts, scope: string): string | undefined {
  for (const iface of arpIfaces(state)) {
    const { arpIgnore } = effectiveArp(state, iface);
    const where = iface === 'all' ? 'conf/all' : `max(conf/all, conf/${iface})`;
    const effect = ignoreEffect(arpIgnore, scope);
    if (effect === 'answers') return `arp_ignore is ${arpIgnore} (${where}), so ${iface} would answer ARP for it`;
    if (effect === 'scope') return `arp_ignore is 3 (${where}), which hides only scope-host addresses, and this one has scope ${scope}`;
  }
  return undefined;
}

/** Whether some interface hides only scope-host addresses (arp_ignore 3). */
export function hidesOnlyScopeHost(state: HostFacts): boolean {
  return arpIfaces(state).some((i) => effectiveArp(state, i).arpIgnore === 3);
}

export function weakAnnounce(state: HostFacts): string | undefined {
  for (const iface of state.lanIfaces) {
    const { arpAnnounce } = effectiveArp(state, iface);
    if (arpAnnounce < 2) return `arp_announce is ${arpAnnounce} on ${iface}; with less than 2 the host may use the VIP as the source of its own ARP requests`;
  }
  return undefined;
}
