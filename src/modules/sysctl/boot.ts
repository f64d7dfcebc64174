import { posix } from 'node:path';
import { SYSCTL_DIRS } from '../../facts/gather.js';
import type { HostFacts, SysctlDropIn } from '../../facts/types.js';
import { normaliseSysctlKey } from '../../net/values.js';
import { effectiveValue, parseSysctlConf } from './conf.js';

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
  for (const key of keys.map(normaliseSysctlKey)) {
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

export const SYSCTL_CONF = '/etc/sysctl.conf';

function isBootDropIn(path: string): boolean {
  return path.endsWith('.conf') && SYSCTL_DIRS.includes(posix.dirname(path));
}

/** The first file of each basename in directory order (one in /etc masks the rest), then sorted by basename. */
function inReadingOrder(files: SysctlDropIn[]): SysctlDropIn[] {
  const rank = (p: string) => SYSCTL_DIRS.indexOf(posix.dirname(p));
  const byBase = new Map<string, SysctlDropIn>();
  for (const f of [...files].sort((a, b) => rank(a.path) - rank(b.path))) {
    const base = posix.basename(f.path);
    if (!byBase.has(base)) byBase.set(base, f);
  }
  return [...byBase.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, f]) => f);
}

/** The sysctl files a boot would read, as the (simulated) state has them. */
export interface BootSysctlFiles {
  /** the sysctl.d files, masked and in reading order */
  dropIns: SysctlDropIn[];
  /** /etc/sysctl.conf's text, when the facts read it and it exists */
  sysctlConf?: string;
}

/**
 * The facts' sysctlDropIns are the host as read; the files vipush asked for
 * (its own, and what earlier tasks of the play wrote through simulate) are
 * current only in state.files. So a drop-in that is one of those, or a link
 * to one, takes its text from state.files, and a file there that the host
 * does not have yet joins the list.
 */
export function bootSysctlFiles(state: HostFacts): BootSysctlFiles {
  const files: SysctlDropIn[] = [];
  const listed = new Set<string>();
  for (const d of state.sysctlDropIns) {
    listed.add(d.path);
    const own = state.files.has(d.path) ? d.path : state.files.has(d.target) ? d.target : undefined;
    if (own === undefined) {
      files.push(d);
      continue;
    }
    const f = state.files.get(own);
    if (f) files.push({ ...d, text: f.content.toString('utf8') });
  }
  for (const [path, f] of state.files) {
    if (f && isBootDropIn(path) && !listed.has(path)) files.push({ path, target: path, text: f.content.toString('utf8') });
  }
  const conf = state.files.get(SYSCTL_CONF);
  return { dropIns: inReadingOrder(files), ...(conf ? { sysctlConf: conf.content.toString('utf8') } : {}) };
}

/**
 * Who applies the files at boot. `sysctl --system` (procps) reads the
 * drop-ins, then /etc/sysctl.conf, and applies every line in order.
 * systemd-sysctl reads /etc/sysctl.conf only through a link in sysctl.d
 * (Debian's 99-sysctl.conf), and a key set explicitly anywhere beats a glob
 * that matches it, whatever their order.
 */
export type BootReader = 'sysctl --system' | 'systemd-sysctl';

/** One file's text in the order a reader applies it. */
export function bootSequence(files: BootSysctlFiles, reader: BootReader): Array<{ path: string; text: string }> {
  if (reader === 'systemd-sysctl') return files.dropIns.map((d) => ({ path: d.path, text: d.text }));
  // procps reads sysctl.conf again at the end, so its link in sysctl.d changes nothing: name the file itself
  const dropIns = files.dropIns.filter((d) => d.target !== SYSCTL_CONF).map((d) => ({ path: d.path, text: d.text }));
  return files.sysctlConf === undefined ? dropIns : [...dropIns, { path: SYSCTL_CONF, text: files.sysctlConf }];
}

/** What a boot leaves a key at: the value, the file that set it last, and the earlier file it overrode with another value. */
export interface BootValue {
  value: string;
  path: string;
  overrides?: { path: string; value: string };
}

/** A glob line (net.ipv4.conf.*.arp_ignore) matches whole dot-separated parts, as systemd-sysctl's glob of /proc/sys does. */
function keyMatches(pattern: string, key: string): boolean {
  if (!/[*?]/.test(pattern)) return pattern === key;
  const re = pattern
    .replace(/[.+^${}()|[\]\\]/g, '\\$&')
    .replace(/\*/g, '[^.]*')
    .replace(/\?/g, '[^.]');
  return new RegExp(`^${re}$`).test(key);
}

export function bootValue(sequence: Array<{ path: string; text: string }>, key: string, reader: BootReader): BootValue | undefined {
  const k = normaliseSysctlKey(key);
  const sets: Array<{ path: string; value: string; glob: boolean }> = [];
  for (const f of sequence) {
    for (const l of parseSysctlConf(f.text)) if (keyMatches(l.key, k)) sets.push({ path: f.path, value: l.value, glob: l.key !== k });
  }
  const explicitWins = reader === 'systemd-sysctl' && sets.some((s) => !s.glob);
  let at = sets.length - 1;
  while (at >= 0 && explicitWins && sets[at].glob) at--;
  if (at < 0) return undefined;
  const win = sets[at];
  let before: (typeof sets)[number] | undefined;
  for (const s of sets.slice(0, at)) if (s.value !== win.value && s.path !== win.path) before = s;
  return { value: win.value, path: win.path, ...(before ? { overrides: { path: before.path, value: before.value } } : {}) };
}
