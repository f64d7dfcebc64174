# shellcheck shell=dash
# vp_probe_persist units globs...: what the host's network stacks are, for the persistence backends.
# Reads only, under a root directory $vpp_R ("" on a host; tests point it at a fake tree), and prints
# only `persist.<key>=<value>` lines. Runs in the facts script's own shell (a subshell would cost every
# host a fork on every run): its variables are all named `vpp_*`. It never changes directory, works
# under `set -eu`, and the caller sends its stderr to /dev/null. File names that hold a newline are
# skipped so they cannot forge a line. Service states are asked only when systemd is PID 1 (systemctl
# answers nonsense otherwise). units: the services to ask about, blank-separated; globs: every file
# that may be one of vipush's persistence files.
vp_probe_persist() {
  vpp_R=${vpp_R:-}
  vpp_units=$1
  shift
  vpp_globs=$*
  vpp_nl='
'
  vpp_c=
  read -r vpp_c <"$vpp_R/proc/1/comm" || vpp_c=
  if [ "$vpp_c" = systemd ] && command -v systemctl >/dev/null 2>&1; then
    vpp_say systemd 1
    # one systemctl for every unit (not two per unit): blocks of Key=value lines, a blank line between units
    # shellcheck disable=SC2086 # one word per unit
    vpp_o=$(systemctl show -p Id,ActiveState,UnitFileState -- $vpp_units 2>/dev/null) || vpp_o=
    vpp_u='' vpp_a='' vpp_e=''
    while :; do
      vpp_l=
      IFS= read -r vpp_l || [ -n "$vpp_l" ] || vpp_l=@eof
      case $vpp_l in
        Id=*) vpp_u=${vpp_l#Id=} ;;
        ActiveState=*) vpp_a=${vpp_l#ActiveState=} ;;
        UnitFileState=*) vpp_e=${vpp_l#UnitFileState=} ;;
        '' | @eof)
          if [ -n "$vpp_u" ]; then
            vpp_say "svc.${vpp_u%.service}.active" "${vpp_a:-unknown}"
            vpp_say "svc.${vpp_u%.service}.enabled" "${vpp_e:-unknown}"
          fi
          vpp_u='' vpp_a='' vpp_e=''
          ;;
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
  for vpp_p in "$vpp_R"/etc/NetworkManager/system-connections/* "$vpp_R"/etc/NetworkManager/system-connections/.[!.]*; do
    [ ! -e "$vpp_p" ] || vpp_nmc=1
  done
  if [ -d "$vpp_R/run/NetworkManager" ] || [ -n "$vpp_nmc" ]; then
    vpp_v=$( (NetworkManager --version || nmcli --version) 2>/dev/null | head -n 1) || vpp_v=
    if [ -n "$vpp_v" ]; then vpp_say nm_version "${vpp_v##*version }"; fi
  fi
  # os-release, the ifupdown files and the .network files travel with the facts' files and are read
  # by probeLinesFromFiles (src/modules/address/persist/probe.ts)
  if [ -f "$vpp_R/etc/network/interfaces" ]; then vpp_say interfaces 1; else vpp_say interfaces 0; fi
  if [ -d "$vpp_R/etc/network/interfaces.d" ]; then vpp_say interfaces_d 1; fi
  for vpp_p in "$vpp_R"/etc/netplan/*.yaml; do
    if vpp_named "$vpp_p"; then vpp_say netplan_yaml "${vpp_p##*/}"; fi
  done
  set --
  for vpp_p in "$vpp_R"/etc/netplan/*.yaml "$vpp_R"/run/netplan/*.yaml "$vpp_R"/lib/netplan/*.yaml; do
    if vpp_named "$vpp_p"; then set -- "$@" "$vpp_p"; fi
  done
  if [ $# -gt 0 ] && grep -qsE '^[[:space:]]*renderer:[[:space:]]*["'"'"']?NetworkManager' "$@" 2>/dev/null; then
    vpp_say netplan_nm_renderer 1
  fi
  for vpp_p in "$vpp_R"/etc/systemd/network/*.network; do
    if vpp_named "$vpp_p"; then vpp_say networkd_network "${vpp_p##*/}"; fi
  done
  if [ -d "$vpp_R/etc/sysconfig/network-scripts" ]; then vpp_say ifcfg_dir 1; fi
  if [ -e "$vpp_R/etc/sysconfig/network-scripts/ifup-aliases" ]; then vpp_say ifcfg_aliases 1; fi
  if [ -d "$vpp_R/etc/NetworkManager" ]; then vpp_say nm_dir 1; fi
  for vpp_g in $vpp_globs; do
    for vpp_p in "$vpp_R"$vpp_g; do
      if vpp_named "$vpp_p" && [ -f "$vpp_p" ]; then vpp_say file "${vpp_p#"$vpp_R"}"; fi
    done
  done
  true
}
vpp_say() { printf 'persist.%s=%s\n' "$1" "$2"; }
vpp_named() {
  case $1 in *"$vpp_nl"*) return 1 ;; esac
  [ -e "$1" ]
}
