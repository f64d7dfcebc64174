import { shQuote } from '../../transport/quote.js';
import { emptyStackFacts, PROBED_SERVICES, type ProbedService, type StackFacts } from './types.js';

/**
 * The probe as a function of a root directory, so tests can run the very same
 * script against a fake tree. Targets run PERSIST_PROBE_SCRIPT (root "").
 *
 * It reads only and runs as a brace group in the facts script's own shell (a
 * subshell would cost every host a fork on every run): its variables and
 * functions are all named `vpp_*`, so it changes none of the script around it,
 * but it does reset the positional parameters. It never changes directory,
 * works under `set -eu`, sends stderr to /dev/null, and prints only
 * `persist.<key>=<value>` lines. File names that
 * hold a newline are skipped so they cannot forge a line. Service states are
 * asked only when systemd is PID 1 (systemctl answers nonsense otherwise).
 */
/** Every file that may be one of vipush's persistence files, on any stack. The facts script reads them all. */
export const PERSIST_FILE_GLOBS = [
  '/etc/network/interfaces.d/vipush-*',
  '/etc/netplan/60-vipush-*.yaml',
  '/etc/systemd/network/05-vipush-*.network',
  '/etc/NetworkManager/system-connections/vipush-*.nmconnection',
  '/etc/sysconfig/network-scripts/ifcfg-*:*',
] as const;

export function persistProbeScript(root: string): string {
  return `{
vpp_R=${shQuote(root)}
vpp_nl='
'
vpp_say() { printf 'persist.%s=%s\\n' "$1" "$2"; }
vpp_named() { case $1 in *"$vpp_nl"*) return 1 ;; esac; [ -e "$1" ]; }
vpp_c=; read -r vpp_c < "$vpp_R/proc/1/comm" || vpp_c=
if [ "$vpp_c" = systemd ] && command -v systemctl >/dev/null 2>&1; then
  vpp_say systemd 1
  # one systemctl for every unit (not two per unit): blocks of Key=value lines, a blank line between units
  vpp_o=$(systemctl show -p Id,ActiveState,UnitFileState -- ${PROBED_SERVICES.map((u) => `${u}.service`).join(' ')} 2>/dev/null) || vpp_o=
  vpp_u= vpp_a= vpp_e=
  while :; do
    vpp_l=; IFS= read -r vpp_l || [ -n "$vpp_l" ] || vpp_l=@eof
    case $vpp_l in
      Id=*) vpp_u=\${vpp_l#Id=} ;;
      ActiveState=*) vpp_a=\${vpp_l#ActiveState=} ;;
      UnitFileState=*) vpp_e=\${vpp_l#UnitFileState=} ;;
      ''|@eof)
        if [ -n "$vpp_u" ]; then vpp_say "svc.\${vpp_u%.service}.active" "\${vpp_a:-unknown}"; vpp_say "svc.\${vpp_u%.service}.enabled" "\${vpp_e:-unknown}"; fi
        vpp_u= vpp_a= vpp_e= ;;
    esac
    [ "$vpp_l" != @eof ] || break
  done <<VIPUSH_UNITS
$vpp_o
VIPUSH_UNITS
else
  vpp_say systemd 0
fi
# Starting NetworkManager's binary costs a process on every host of every run: ask only where it is in use.
vpp_nmc=
for vpp_p in "$vpp_R"/etc/NetworkManager/system-connections/* "$vpp_R"/etc/NetworkManager/system-connections/.[!.]*; do [ ! -e "$vpp_p" ] || vpp_nmc=1; done
if [ -d "$vpp_R/run/NetworkManager" ] || [ -n "$vpp_nmc" ]; then
  vpp_v=$( (NetworkManager --version || nmcli --version) 2>/dev/null | head -n 1) || vpp_v=
  if [ -n "$vpp_v" ]; then vpp_say nm_version "\${vpp_v##*version }"; fi
fi
# os-release travels with the facts' files (PROBE_READ_GLOBS) and is read by probeLinesFromFiles
if [ -f "$vpp_R/etc/network/interfaces" ]; then vpp_say interfaces 1; else vpp_say interfaces 0; fi
if [ -d "$vpp_R/etc/network/interfaces.d" ]; then vpp_say interfaces_d 1; fi
# the ifupdown files themselves travel with the facts' files (PROBE_READ_GLOBS) and are read by probeLinesFromFiles
for vpp_p in "$vpp_R"/etc/netplan/*.yaml; do
  if vpp_named "$vpp_p"; then vpp_say netplan_yaml "\${vpp_p##*/}"; fi
done
set --
for vpp_p in "$vpp_R"/etc/netplan/*.yaml "$vpp_R"/run/netplan/*.yaml "$vpp_R"/lib/netplan/*.yaml; do
  if vpp_named "$vpp_p"; then set -- "$@" "$vpp_p"; fi
done
if [ $# -gt 0 ] && grep -qsE '^[[:space:]]*renderer:[[:space:]]*["'"'"']?NetworkManager' "$@" 2>/dev/null; then vpp_say netplan_nm_renderer 1; fi
for vpp_p in "$vpp_R"/etc/systemd/network/*.network; do
  if vpp_named "$vpp_p"; then vpp_say networkd_network "\${vpp_p##*/}"; fi
done
# so do the .network files (which of them match lo)
if [ -d "$vpp_R/etc/sysconfig/network-scripts" ]; then vpp_say ifcfg_dir 1; fi
if [ -e "$vpp_R/etc/sysconfig/network-scripts/ifup-aliases" ]; then vpp_say ifcfg_aliases 1; fi
if [ -d "$vpp_R/etc/NetworkManager" ]; then vpp_say nm_dir 1; fi
for vpp_p in ${PERSIST_FILE_GLOBS.map((g) => `"$vpp_R"${g}`).join(' ')}; do
  vpp_named "$vpp_p" && [ -f "$vpp_p" ] || continue
  vpp_say file "\${vpp_p#"$vpp_R"}"
done
true
} 2>/dev/null || true
`;
}

/**
 * Files the probe needs the contents of: the facts script reads them with the
 * managed files (one `cat` for all), and probeLinesFromFiles reads them here,
 * instead of a grep and a pipeline per host.
 */
/** os-release(5): the first of the two that exists says which OS this is. */
export const OS_RELEASE_FILES = ['/etc/os-release', '/usr/lib/os-release'] as const;

export function isOsRelease(path: string): boolean {
  return (OS_RELEASE_FILES as readonly string[]).includes(path);
}

export const PROBE_READ_GLOBS = [
  ...OS_RELEASE_FILES,
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

/** A file read only for probeLinesFromFiles: not one of ours, so not part of the host's file facts. */
export function readForProbeOnly(path: string): boolean {
  if (isOsRelease(path)) return true;
  const base = path.slice(path.lastIndexOf('/') + 1);
  if (IFUPDOWN_FILE.test(path)) return !(path.startsWith('/etc/network/interfaces.d/') && base.startsWith('vipush-'));
  if (NETWORKD_FILE.test(path)) return !(path.startsWith('/etc/systemd/network/') && base.startsWith('05-vipush-'));
  return false;
}

/** Runs on the target as root inside the larger facts script. */
export const PERSIST_PROBE_SCRIPT: string = persistProbeScript('');

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
      const state = (f.services[unit] ??= { active: 'unknown', enabled: 'unknown' });
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
