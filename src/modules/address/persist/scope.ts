import type { StackBackend } from './types.js';

/**
 * Why a backend brings a VIP back with scope global after a reboot, for the
 * ones that do. arp_ignore=3 only hides scope-host addresses, so with these
 * the host would answer ARP for the VIP once it rebooted.
 */
const SCOPE_LOST: Readonly<Record<StackBackend, string | null>> = {
  ifupdown: null,
  networkd: null,
  netplan: 'netplan has no scope option',
  networkmanager: 'NetworkManager adds addresses outside 127.0.0.0/8 with scope global',
  ifcfg: 'network-scripts (ifup-aliases) adds aliases without a scope',
  systemd: null,
};

/** Why the backend brings a persisted VIP back with scope global, or null when it keeps scope host. */
export function scopeLostReason(backend: StackBackend): string | null {
  return SCOPE_LOST[backend];
}

/** Whether the persisted VIP comes back with `scope host` after a reboot (IPv4). */
export function keepsScopeHost(backend: StackBackend): boolean {
  return SCOPE_LOST[backend] === null;
}

/** The one-line refusal for arp_ignore=3 with a backend that does not keep scope host. */
export function scopeHostRefusal(backend: StackBackend, vip: string): string {
  const why = SCOPE_LOST[backend];
  if (why === null) throw new Error(`scopeHostRefusal: ${backend} keeps scope host; there is nothing to refuse`);
  return (
    `${vip}: arp_ignore=3 hides only scope-host addresses, but ${why}, so after a reboot the VIP comes back ` +
    `with scope global and this host answers ARP for it; set arp_ignore: 1, which hides the VIP whatever its scope`
  );
}
