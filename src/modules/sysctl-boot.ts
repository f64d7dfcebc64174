import { posix } from 'node:path';
import type { SysctlDropIn } from '../facts/types.js';
import { normaliseSysctlKey as normaliseKey } from '../net/values.js';
import { effectiveValue } from './sysctl-conf.js';

/**
 * Which files would override our keys at boot.
 *
 * systemd-sysctl and `sysctl --system` read *.conf from the sysctl.d
 * directories sorted by basename (a file in /etc masks one with the same name
 * in /run or /usr/lib), and the last value wins. procps then reads
 * /etc/sysctl.conf last; systemd reaches it through Debian's
 * /etc/sysctl.d/99-sysctl.conf link, so for ordering we treat
 * /etc/sysctl.conf as if its basename were 99-sysctl.conf.
 */
export interface BootOverride {
  key: string;
  value: string;
  path: string;
}

export function bootOverrides(ourFile: string, keys: string[], dropIns: SysctlDropIn[]): BootOverride[] {
  const ourBase = ourFile === '/etc/sysctl.conf' ? '99-sysctl.conf' : posix.basename(ourFile);
  // First file per basename wins (directory order /etc, /run, /usr/local/lib, /usr/lib, /lib).
  const byBase = new Map<string, SysctlDropIn>();
  for (const d of dropIns) {
    const base = posix.basename(d.path);
    if (!byBase.has(base)) byBase.set(base, d);
  }
  const out: BootOverride[] = [];
  const later = [...byBase.entries()].filter(([base]) => base > ourBase).sort(([a], [b]) => (a < b ? -1 : 1));
  for (const key of keys.map(normaliseKey)) {
    let winner: BootOverride | undefined;
    for (const [, d] of later) {
      if (d.path === ourFile || d.target === ourFile) continue;
      const v = effectiveValue(d.text, key);
      if (v !== undefined) winner = { key, value: v, path: d.path };
    }
    if (winner) out.push(winner);
  }
  return out;
}
