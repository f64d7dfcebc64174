import type { HostFacts } from '../../facts/types.js';
import { type BootReader, type BootValue, bootSequence, bootSysctlFiles, bootValue, SYSCTL_CONF } from '../sysctl/boot.js';
import { arpIfaces, ignoreEffect } from './arp.js';

/** How the persisted VIP comes back at boot: its scope, and why it is global when the stack drops scope host. */
export interface BootScope {
  scope: string;
  lostBecause?: string;
}

function asNumber(v: BootValue | undefined): number {
  // no file sets it: the kernel's 0; a value the kernel refuses to write leaves 0 too
  return v && /^-?\d+$/.test(v.value) ? Number(v.value) : 0;
}

function setting(name: string, v: BootValue | undefined): string {
  if (!v) return `conf/${name} unset`;
  const over = v.overrides ? ` (read after ${v.overrides.path}, which sets ${v.overrides.value})` : '';
  return `conf/${name} = ${v.value} from ${v.path}${over}`;
}

function fileList(paths: string[]): string {
  if (paths.length === 0) return 'there is no boot sysctl file';
  const shown = paths.length > 3 ? [...paths.slice(0, 3), `${paths.length - 3} more`] : paths;
  return `${shown.join(', ')} ${paths.length === 1 ? 'sets' : 'set'} none`;
}

/**
 * Would this host answer ARP for a persisted VIP on lo after a reboot? At
 * boot the sysctl files are applied before the network stacks bring
 * addresses up, and live values that no file holds are gone, so only the
 * boot files count. They are read as `sysctl --system` reads them and, when
 * systemd is PID 1, as systemd-sysctl does; the VIP must stay hidden under
 * both. Returns why it would answer, or undefined.
 */
export function bootArpExposure(state: HostFacts, atBoot: BootScope, systemd: boolean): string | undefined {
  const files = bootSysctlFiles(state);
  const readers: BootReader[] = systemd ? ['sysctl --system', 'systemd-sysctl'] : ['sysctl --system'];
  for (const reader of readers) {
    const sequence = bootSequence(files, reader);
    for (const iface of arpIfaces(state)) {
      const names = iface === 'all' ? ['all'] : ['all', iface];
      const values = names.map((n) => bootValue(sequence, `net.ipv4.conf.${n}.arp_ignore`, reader));
      const arpIgnore = Math.max(...values.map(asNumber));
      const effect = ignoreEffect(arpIgnore, atBoot.scope);
      if (effect === 'hidden') continue;
      const where = iface === 'all' ? 'conf/all' : `max of conf/all and conf/${iface}`;
      const how = reader === 'systemd-sysctl' ? ' as systemd-sysctl reads them' : '';
      let detail = values.every((v) => v === undefined) ? fileList(sequence.map((f) => f.path)) : names.map((n, i) => setting(n, values[i])).join(', ');
      if (reader === 'systemd-sysctl' && files.sysctlConf !== undefined && !files.dropIns.some((d) => d.target === SYSCTL_CONF))
        detail += `; systemd-sysctl does not read ${SYSCTL_CONF} here, as nothing in /etc/sysctl.d links to it`;
      const head = `after a reboot arp_ignore would be ${arpIgnore} (${where} in the boot files${how}: ${detail})`;
      if (effect === 'answers') return `${head}, so ${iface} would answer ARP for it`;
      const scope = atBoot.lostBecause ? `${atBoot.lostBecause}, so the VIP comes back with scope global` : `the VIP is persisted with scope ${atBoot.scope}`;
      return `${head}, which hides only scope-host addresses, and ${scope}: ${iface} would answer ARP for it`;
    }
  }
  return undefined;
}
