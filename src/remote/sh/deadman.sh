# shellcheck shell=dash
# The dead-man switch (commit-confirm, like Junos `commit confirmed` or `netplan try`): before a change
# that can cut vipush off, the host arms a timer that runs the revert script unless vipush confirms
# over a NEW SSH connection in time. The timer and the confirmation each try to claim the armed script
# with an atomic rename, so exactly one of them wins. Ids are [a-z0-9-] only (checked by the caller).
vp_deadman_dir=/var/lib/vipush/deadman

# vp_deadman_arm id seconds revert-script-base64; exit 72 when it can't arm
vp_deadman_arm() {
  vp_dm=$vp_deadman_dir/$1
  mkdir -p "$vp_deadman_dir" && chmod 700 /var/lib/vipush "$vp_deadman_dir" || exit 72
  printf '%s' "$3" | base64 -d >"$vp_dm.sh" || exit 72
  vp_fire="sleep $2; mv -f $vp_dm.sh $vp_dm.run 2>/dev/null && exec /bin/sh $vp_dm.run > $vp_dm.log 2>&1"
  if [ -d /run/systemd/system ] && command -v systemd-run >/dev/null 2>&1; then
    systemd-run --quiet --collect --unit="vipush-deadman-$1" /bin/sh -c "$vp_fire" 9>&- || exit 72
    echo systemd >"$vp_dm.how"
  else
    setsid /bin/sh -c "$vp_fire" </dev/null >/dev/null 2>&1 9>&- &
    echo "pid $!" >"$vp_dm.how"
  fi
  vp_mark armed
}

# vp_deadman_confirm id: disarms the timer, or exits 3 if it already fired
vp_deadman_confirm() {
  vp_dm=$vp_deadman_dir/$1
  mv -f "$vp_dm.sh" "$vp_dm.confirmed" 2>/dev/null || {
    echo "the dead-man switch already fired: the host reverted by itself" >&2
    exit 3
  }
  how=$(cat "$vp_dm.how" 2>/dev/null)
  case "$how" in
    systemd) systemctl stop "vipush-deadman-$1.service" 2>/dev/null ;;
    pid*) kill "${how#pid }" 2>/dev/null ;;
  esac
  rm -f "$vp_dm.confirmed" "$vp_dm.how"
}
