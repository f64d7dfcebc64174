import { shQuote } from '../../transport/quote.js';
import { emptyStackFacts, PROBED_SERVICES, type ProbedService, type StackFacts } from './types.js';

/**
 * The probe as a function of a root directory, so tests can run the very same
 * script against a fake tree. Targets run PERSIST_PROBE_SCRIPT (root "").
 *
 * It reads only, runs in a subshell (no variable, function or `cd` leaks into
 * the facts script around it), works under `set -eu`, sends stderr to
 * /dev/null, and prints only `persist.<key>=<value>` lines. File names that
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
  return `(
R=${shQuote(root)}
nl='
'
say() { printf 'persist.%s=%s\\n' "$1" "$2"; }
named() { case $1 in *"$nl"*) return 1 ;; esac; [ -e "$1" ]; }
c=; read -r c < "$R/proc/1/comm" || c=
if [ "$c" = systemd ] && command -v systemctl >/dev/null 2>&1; then
  say systemd 1
  # one systemctl for every unit (not two per unit): blocks of Key=value lines, a blank line between units
  o=$(systemctl show -p Id,ActiveState,UnitFileState -- ${PROBED_SERVICES.map((u) => `${u}.service`).join(' ')} 2>/dev/null) || o=
  u= a= e=
  while :; do
    l=; IFS= read -r l || [ -n "$l" ] || l=@eof
    case $l in
      Id=*) u=\${l#Id=} ;;
      ActiveState=*) a=\${l#ActiveState=} ;;
      UnitFileState=*) e=\${l#UnitFileState=} ;;
      ''|@eof)
        if [ -n "$u" ]; then say "svc.\${u%.service}.active" "\${a:-unknown}"; say "svc.\${u%.service}.enabled" "\${e:-unknown}"; fi
        u= a= e= ;;
    esac
    [ "$l" != @eof ] || break
  done <<VIPUSH_UNITS
$o
VIPUSH_UNITS
else
  say systemd 0
fi
# Starting NetworkManager's binary costs a process on every host of every run: ask only where it is in use.
nmc=
for p in "$R"/etc/NetworkManager/system-connections/* "$R"/etc/NetworkManager/system-connections/.[!.]*; do [ ! -e "$p" ] || nmc=1; done
if [ -d "$R/run/NetworkManager" ] || [ -n "$nmc" ]; then
  v=$( (NetworkManager --version || nmcli --version) 2>/dev/null | head -n 1) || v=
  if [ -n "$v" ]; then say nm_version "\${v##*version }"; fi
fi
for o in "$R/etc/os-release" "$R/usr/lib/os-release"; do
  if [ -f "$o" ]; then
    while IFS= read -r l || [ -n "$l" ]; do
      case $l in ID=*) say os_id "\${l#ID=}" ;; ID_LIKE=*) say os_id_like "\${l#ID_LIKE=}" ;; esac
    done < "$o"
    break
  fi
done
if [ -f "$R/etc/network/interfaces" ]; then say interfaces 1; else say interfaces 0; fi
if [ -d "$R/etc/network/interfaces.d" ]; then say interfaces_d 1; fi
# one grep over every ifupdown file (a process per file costs every host of every run)
set --
for p in "$R/etc/network/interfaces" "$R"/etc/network/interfaces.d/*; do
  named "$p" && [ -f "$p" ] || continue
  case \${p##*/} in vipush-*) continue ;; esac
  set -- "$@" "$p"
done
if [ $# -gt 0 ]; then
  grep -HE '^[[:space:]]*(source(-directory)?|iface)[[:space:]]' /dev/null "$@" 2>/dev/null | while IFS= read -r l; do
    f=\${l%%:*}; t=\${l#*:}
    set -f; set -- $t; set +f
    case $1 in
      iface) say ifupdown_iface "$2 $3" ;;
      source|source-directory) if [ "$f" = "$R/etc/network/interfaces" ]; then say ifupdown_source "$*"; fi ;;
    esac
  done
fi
for p in "$R"/etc/netplan/*.yaml; do
  if named "$p"; then say netplan_yaml "\${p##*/}"; fi
done
set --
for p in "$R"/etc/netplan/*.yaml "$R"/run/netplan/*.yaml "$R"/lib/netplan/*.yaml; do
  if named "$p"; then set -- "$@" "$p"; fi
done
if [ $# -gt 0 ] && grep -qsE '^[[:space:]]*renderer:[[:space:]]*["'"'"']?NetworkManager' "$@" 2>/dev/null; then say netplan_nm_renderer 1; fi
for p in "$R"/etc/systemd/network/*.network; do
  if named "$p"; then say networkd_network "\${p##*/}"; fi
done
set --
for p in "$R"/etc/systemd/network/*.network "$R"/run/systemd/network/*.network "$R"/usr/lib/systemd/network/*.network "$R"/lib/systemd/network/*.network; do
  named "$p" && [ -f "$p" ] || continue
  case $p in "$R"/lib/*) if [ -L "$R/lib" ]; then continue; fi ;; esac
  case \${p##*/} in 05-vipush-*) continue ;; esac
  set -- "$@" "$p"
done
if [ $# -gt 0 ]; then
  grep -lsE '^[[:space:]]*Name[[:space:]]*=(.*[[:space:]])?lo([[:space:]]|$)' "$@" | while IFS= read -r p; do say networkd_lo "\${p#"$R"}"; done
fi
if [ -d "$R/etc/sysconfig/network-scripts" ]; then say ifcfg_dir 1; fi
if [ -e "$R/etc/sysconfig/network-scripts/ifup-aliases" ]; then say ifcfg_aliases 1; fi
if [ -d "$R/etc/NetworkManager" ]; then say nm_dir 1; fi
for p in ${PERSIST_FILE_GLOBS.map((g) => `"$R"${g}`).join(' ')}; do
  named "$p" && [ -f "$p" ] || continue
  say file "\${p#"$R"}"
done
true
) 2>/dev/null || true
`;
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
