# shellcheck shell=dash
# Root, then the host's run lock, before anything is read. The controller sets vp_lock_wait (seconds).
# Exit codes: 77 (sysexits' EX_NOPERM) not root; 75 another run holds the lock.
# A test builtin, no program: root may write /etc whatever its mode.
[ -w /etc ] || {
  echo "vipush needs root on this host, and /etc is not writable for ${USER:-this user}: set ansible_become: true (sudo) or connect as root" >&2
  exit 77
}
# shellcheck disable=SC2174 # only the last one is new: /run is there
[ -d "$vp_run" ] || mkdir -p -m 700 "$vp_run" </dev/null || exit 1
exec 9>>"$vp_run/lock" || exit 1
# -E: a wait that timed out exits 75; anything else (no flock, BusyBox's without -w) does not
flock -E 75 -w "$vp_lock_wait" 9 </dev/null || {
  vp_l=$?
  if [ $vp_l -eq 75 ]; then
    echo "another vipush run holds $vp_run/lock on this host" >&2
  else
    echo "vipush needs util-linux's flock (2.26 or later) on this host for its run lock; flock exited $vp_l" >&2
  fi
  exit $vp_l
}
