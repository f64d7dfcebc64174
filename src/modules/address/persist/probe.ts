import type { FactProbe } from '../../../facts/types.js';
import { OS_RELEASE_FILES } from '../../../facts/gather.js';
import { shJoin, shQuote } from '../../../remote/quote.js';
import { SHELL_TEXT } from '../../../remote/shell-text.generated.js';
import { emptyStackFacts, PROBED_SERVICES, type ProbedService, type StackFacts } from './types.js';

/** Every file that may be one of vipush's persistence files, on any stack. The facts script reads them all. */
export const PERSIST_FILE_GLOBS = [
  '/etc/network/interfaces.d/vipush-*',
  '/etc/netplan/60-vipush-*.yaml',
  '/etc/systemd/network/05-vipush-*.network',
  '/etc/NetworkManager/system-connections/vipush-*.nmconnection',
  '/etc/sysconfig/network-scripts/ifcfg-*:*',
  '/etc/systemd/system/vipush-addresses-*.service',
  '/etc/systemd/system/multi-user.target.d/vipush-addresses-*.conf',
] as const;

/** The call of sh/persist-probe.sh's probe: the services it asks systemd about, and our files' globs. */
const PROBE_ARGV = ['vp_probe_persist', PROBED_SERVICES.map((u) => `${u}.service`).join(' '), ...PERSIST_FILE_GLOBS];

/** The probe the address module asks the facts for when a VIP is persisted (src/remote/sh/persist-probe.sh). */
export const PERSIST_PROBE: FactProbe = { name: 'persist', shell: SHELL_TEXT['persist-probe'], argv: PROBE_ARGV };

/** The same probe as a script of its own, under a root directory: tests run it against a fake tree ("" is the host). */
export function persistProbeScript(root: string): string {
  return `vpp_R=${shQuote(root)}\n${SHELL_TEXT['persist-probe']}${shJoin(PROBE_ARGV)} 2>/dev/null || true\n`;
}

function isOsRelease(path: string): boolean {
  return (OS_RELEASE_FILES as readonly string[]).includes(path);
}

/**
 * Files the probe needs the contents of: the facts read them with the managed files (one tar for
 * all), and probeLinesFromFiles reads them here, instead of a grep and a pipeline per host. The facts
 * always read os-release.
 */
export const PROBE_READ_GLOBS = [
  '/etc/network/interfaces',
  '/etc/network/interfaces.d/*',
  '/etc/systemd/network/*.network',
  '/run/systemd/network/*.network',
  '/usr/lib/systemd/network/*.network',
  '/lib/systemd/network/*.network',
] as const;

const IFUPDOWN_FILE = /^\/etc\/network\/(interfaces|interfaces\.d\/[^/]+)$/;
const NETWORKD_FILE = /^(\/etc|\/run|\/usr\/lib|\/lib)\/systemd\/network\/[^/]+\.network$/;
const IFUPDOWN_LINE = /^[ \t\v\f\r]*(source(-directory)?|iface)[ \t\v\f\r]/;
const NAME_LO = /^[ \t\v\f\r]*Name[ \t\v\f\r]*=(.*[ \t\v\f\r])?lo([ \t\v\f\r]|$)/m;

/**
 * The probe's lines that come from file contents: the OS's ID and ID_LIKE, ifupdown `iface` stanzas
 * and `source` lines (of our own files none), and the .network files that
 * match lo (ours excluded). `id` (device:inode) drops the second sight of one
 * file, as /lib/systemd/network when /lib links to /usr/lib.
 */
export function probeLinesFromFiles(files: ReadonlyArray<{ path: string; content: Buffer; id?: string }>): string[] {
  const out: string[] = [];
  const seen = new Set<string>();
  let osRelease = false;
  for (const f of files) {
    if (f.id !== undefined) {
      if (seen.has(f.id)) continue;
      seen.add(f.id);
    }
    const base = f.path.slice(f.path.lastIndexOf('/') + 1);
    if (isOsRelease(f.path)) {
      // the first of the two that exists, as os-release(5) says; values as written (quotes are removed later)
      if (osRelease) continue;
      osRelease = true;
      for (const line of f.content.toString('utf8').split('\n')) {
        if (line.startsWith('ID=')) out.push(`persist.os_id=${line.slice(3)}`);
        else if (line.startsWith('ID_LIKE=')) out.push(`persist.os_id_like=${line.slice(8)}`);
      }
    } else if (IFUPDOWN_FILE.test(f.path) && !base.startsWith('vipush-')) {
      for (const line of f.content.toString('utf8').split('\n')) {
        if (!IFUPDOWN_LINE.test(line)) continue;
        const words = line.trim().split(/\s+/);
        if (words[0] === 'iface') out.push(`persist.ifupdown_iface=${words[1] ?? ''} ${words[2] ?? ''}`);
        else if (f.path === '/etc/network/interfaces') out.push(`persist.ifupdown_source=${words.join(' ')}`);
      }
    } else if (NETWORKD_FILE.test(f.path) && !base.startsWith('05-vipush-') && NAME_LO.test(f.content.toString('utf8'))) {
      out.push(`persist.networkd_lo=${f.path}`);
    }
  }
  return out;
}

/** Every file a persisted VIP needs read: those that may be ours, and those that tell the stack. */
export const PERSIST_READ_GLOBS = [...PERSIST_FILE_GLOBS, ...PROBE_READ_GLOBS] as const;

/** Reads the probe's lines (other lines of a larger facts output are ignored). */
export function parsePersistProbe(lines: readonly string[]): StackFacts {
  const f = emptyStackFacts();
  const flag = (v: string) => v === '1';
  for (const line of lines) {
    if (!line.startsWith('persist.')) continue;
    const eq = line.indexOf('=');
    if (eq < 0) continue;
    const key = line.slice('persist.'.length, eq);
    const value = line.slice(eq + 1).replace(/\r$/, '');
    const svc = /^svc\.(.+)\.(active|enabled)$/.exec(key);
    if (svc) {
      const unit = svc[1] as ProbedService;
      if (!PROBED_SERVICES.includes(unit)) continue;
      f.services[unit] ??= { active: 'unknown', enabled: 'unknown' };
      const state = f.services[unit];
      state[svc[2] as 'active' | 'enabled'] = value.trim() || 'unknown';
      continue;
    }
    switch (key) {
      case 'systemd':
        f.systemd = flag(value);
        break;
      case 'nm_version':
        f.nmVersion = value.trim() || null;
        break;
      case 'os_id':
        f.osId = unquote(value);
        break;
      case 'os_id_like':
        f.osIdLike = unquote(value).split(/\s+/).filter(Boolean);
        break;
      case 'interfaces':
        f.interfacesFile = flag(value);
        break;
      case 'interfaces_d':
        f.interfacesDir = flag(value);
        break;
      case 'ifupdown_source':
        f.ifupdownSources.push(value.trim());
        break;
      case 'ifupdown_iface': {
        const [name, family] = value.trim().split(/\s+/);
        if (name && family) f.ifupdownIfaces.push({ name, family });
        break;
      }
      case 'netplan_yaml':
        f.netplanFiles.push(value);
        break;
      case 'netplan_nm_renderer':
        f.netplanNmRenderer = flag(value);
        break;
      case 'networkd_network':
        f.networkdFiles.push(value);
        break;
      case 'networkd_lo':
        if (!f.networkdLoFiles.includes(value)) f.networkdLoFiles.push(value);
        break;
      case 'ifcfg_dir':
        f.ifcfgDir = flag(value);
        break;
      case 'ifcfg_aliases':
        f.ifcfgAliases = flag(value);
        break;
      case 'nm_dir':
        f.nmDir = flag(value);
        break;
      case 'file':
        if (!f.presentFiles.includes(value)) f.presentFiles.push(value);
        break;
    }
  }
  return f;
}

function unquote(value: string): string {
  const v = value.trim();
  return /^(["']).*\1$/.test(v) ? v.slice(1, -1) : v;
}
