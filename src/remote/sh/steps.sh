# shellcheck shell=dash
# The steps vipush runs on a host, one shell function each. Each prints why it failed on stderr.
# Written for the host's CPU: shell builtins wherever they do the job (a fleet pays for every program
# a step starts), so a file write runs sha256sum (only to check an existing file), sync and mv, a
# sysctl write none, an address change one `ip`. Steps run in the script's own shell (no subshell
# each): what a function changes, it puts back.

# One step: its output, between a begin marker and its outcome. A step that found its effect already
# there sets vp_same: its outcome says so ("done N same"), and it is neither a change nor undone.
vp_step() { # index function-or-program args...
  vp_i=$1 vp_same=
  shift
  # a marker that can't be written (the controller is gone; the apply traps SIGPIPE): the step does not run
  vp_mark "begin $vp_i" || {
    vp_lost=1
    return 1
  }
  if "$@" </dev/null 2>&1; then
    vp_mark "done $vp_i${vp_same:+ same}" || vp_lost=1
  else
    vp_mark "failed $vp_i" || vp_lost=1
    return 1
  fi
}

# A user's command, in a subshell: an argv naming a shell builtin (exit, cd, set...) must not act on
# the script itself.
vp_sub() { ("$@"); }

# h: the sha256 of file $1, read back through the scratch file (a $(...) would fork a subshell)
vp_sha() {
  h=
  sha256sum <"$1" >"$vp_out" && read -r h vp_l <"$vp_out"
}

# vp_write path printf-format mode umask expect newsha [uid gid]
# The bytes come as a printf format (printfFormat in TypeScript), written by the shell itself into a
# new temp file in the target's directory (noclobber: O_EXCL, never through a planted link), created
# with the wanted mode by the umask ('-': chmod). expect is '-', 'absent' or a sha256: a file that
# does not hold it is not overwritten. newsha ('-' or a sha256) marks an undo: a file that already
# holds the bytes it restores is left alone (an undo on a full disk must not fail for nothing), and
# expect is what the run wrote (only what the run wrote and still finds there is restored; '-':
# --force). Symlinks are followed. uid gid: chown to them (the plan gives an existing file's owner
# when it is not root's).
vp_write() {
  p=$1
  [ ! -L "$p" ] || p=$(readlink -f -- "$1") || return 1
  h=
  if [ -f "$p" ] && { [ "$6" != - ] || [ ${#5} -eq 64 ]; }; then vp_sha "$p" || return 1; fi
  if [ "$6" != - ] && [ "$h" = "$6" ]; then
    vp_same=1
    chmod "$3" "$p"
    return
  fi
  case $5 in
    -) ;;
    absent) [ ! -e "$p" ] || { vp_changed "$1" "$6" appeared; return 1; } ;;
    *) [ "$h" = "$5" ] || { vp_changed "$1" "$6" changed; return 1; } ;;
  esac
  # a new temp name in the target's directory (never ending in .conf: a drop-in directory would read
  # it), in the journal first, so a crash leaves nothing the next run does not remove
  t="${p%/*}/.vipush-$vp_r-${p##*/}.tmp"
  if [ -e "$t" ] || [ -L "$t" ]; then rm -f -- "$t"; fi
  vp_jtemp "$t"
  [ "$4" = - ] || umask "$4"
  set -C
  { : >"$t"; } 2>/dev/null
  r=$?
  set +C
  umask 022
  [ $r -eq 0 ] || { echo "cannot create $t" >&2; return 1; }
  # shellcheck disable=SC2059 # the format is the point: printfFormat made it
  printf -- "$2" >"$t" || { rm -f -- "$t"; echo "cannot write $1" >&2; return 1; }
  [ "$4" != - ] || chmod "$3" "$t" || { rm -f -- "$t"; return 1; }
  if [ -n "${7:-}" ]; then chown "$7:$8" "$t" || { rm -f -- "$t"; return 1; }; fi
  # one sync: the temp file's bytes, the journal, and the directory of the rename before this one
  # (so renames reach the disk in the order they ran); the last directory at the end (vp_dflush)
  # shellcheck disable=SC2086 # vp_dsync: none, or one quoted word
  if sync -- "$t" ${vp_jon:+"$vp_jf"} ${vp_dsync:+"$vp_dsync"} </dev/null; then
    vp_dsync=''
    # a file that was absent must still be: a rename replaces whatever is there
    if [ "$5" = absent ] && { [ -e "$p" ] || [ -L "$p" ]; }; then
      rm -f -- "$t"
      vp_changed "$1" "$6" appeared
      return 1
    fi
    if mv -f -- "$t" "$p"; then
      vp_dsync=${p%/*}
      return 0
    fi
  fi
  rm -f -- "$t"
  echo "cannot replace $1" >&2
  return 1
}

# vp_dflush: the directory of the last rename, to the disk
vp_dflush() {
  [ -z "$vp_dsync" ] || sync -- "$vp_dsync" </dev/null
  vp_dsync=''
}

# vp_changed path newsha appeared|changed: why vp_write refused, for a run's write or an undo
vp_changed() {
  if [ "$2" = - ]; then
    echo "$1 $3 since vipush read it; run again" >&2
  elif [ "$3" = appeared ]; then
    echo "$1 appeared since vipush removed it; not restored (vipush rollback --force restores it anyway)" >&2
  else
    echo "$1 changed since vipush wrote it; not restored (vipush rollback --force restores it anyway)" >&2
  fi
}

# vp_rm path [sha]: an undo's sha is of what the run wrote; a file that holds other bytes now stays
vp_rm() {
  [ -e "$1" ] || return 0
  if [ $# -gt 1 ]; then
    vp_sha "$1" || return 1
    [ "$h" = "$2" ] || { echo "$1 changed since vipush wrote it; not removed (vipush rollback --force removes it anyway)" >&2; return 1; }
  fi
  rm -f -- "$1"
}

# v: $1 with its whitespace folded, as the kernel prints tabs (ip_local_port_range)
vp_fold() {
  set -f
  # shellcheck disable=SC2086 # splitting is the point
  set -- $1
  set +f
  v="$*"
}

# v: the value in the kernel's file $1, folded. dash's read takes one byte at a time, and the kernel
# answers a read of /proc/sys past offset 0 with nothing: a read that saw no newline got the first
# byte only, which is the whole value only when no value compared ($2: the longest) is longer.
vp_sysread() {
  v=
  if ! read -r v <"$1" 2>/dev/null && [ "$2" -gt 1 ]; then v=$(cat -- "$1" 2>/dev/null); fi
  vp_fold "$v"
}

# vp_sysctl key value procpath arp how [expect]: the kernel's file, written and read back by the shell
# (what `sysctl -w` does, without the program). A kernel that already has the value needs nothing
# (vp_same). how: 'read' (a run's step: expect is the value the plan read) or 'wrote' (an undo:
# expect is what the run wrote): a kernel that has another value keeps it; '-': no expectation.
# arp 'guard' (an arp_ignore or arp_announce without allow_arp): a lowering that would make the host
# answer ARP for an address on lo is refused (vp_arp_keeps_hidden).
vp_sysctl() {
  k=$1 e=
  vp_fold "$2"
  w=$v n=${#v} x=
  if [ $# -gt 5 ]; then
    vp_fold "$6"
    x=$v
    [ ${#x} -le "$n" ] || n=${#x}
  fi
  vp_sysread "$3" "$n"
  if [ "$v" = "$w" ]; then
    vp_same=1
    return 0
  fi
  if [ $# -gt 5 ] && [ "$v" != "$x" ]; then
    if [ "$5" = read ]; then
      echo "sysctl $k changed since it was read (the kernel has ${v:-nothing}, vipush read $x); changed nothing: run again" >&2
    else
      echo "sysctl $k changed since vipush wrote it (the kernel has ${v:-nothing}, vipush wrote $x); not restored (vipush rollback --force restores it anyway)" >&2
    fi
    return 1
  fi
  if [ "$4" = guard ] && [ -n "$v" ] && [ "$w" -lt "$v" ] 2>/dev/null; then vp_arp_keeps_hidden "$3" "$k" "$w" || return 1; fi
  printf '%s\n' "$2" 2>/dev/null >"$3" || e='the kernel refused the value'
  vp_sysread "$3" "$n"
  [ "$v" = "$w" ] || { echo "sysctl $k: wanted $w, the kernel has ${v:-nothing}${e:+ ($e)}" >&2; return 1; }
}

# ip's answer, read back from the scratch file, its lines joined by blanks
vp_ipout() {
  o=
  while IFS= read -r vp_l || [ -n "$vp_l" ]; do o="$o$vp_l "; done <"$vp_out"
}

# vp_addr_add family cidr dev scope [label]: one `ip` reads the address (only this IP: a /32 or /128
# of it), adds it and reads it back (a batch; the values are validated: no blanks). -force: every line
# runs even when the add fails. The kernel refuses to add an address that is there (its
# compare-and-swap): one already there with the scope needs nothing (vp_same); one with another scope
# is left as it is and refused.
vp_addr_add() {
  if [ "$1" = 4 ]; then q=${2%/*}/32; else q=${2%/*}/128; fi
  ip -o -"$1" -force -batch - >"$vp_out" 2>&1 <<VIPUSH_IP
addr show dev $3 to $q
addr add $2 dev $3 scope $4${5:+ label $5}
addr show dev $3 to $q
VIPUSH_IP
  # the inet lines: the first read's (what was there), then the read-back's
  c=0 s='' o=''
  while IFS= read -r vp_l || [ -n "$vp_l" ]; do
    o="$o$vp_l "
    case $vp_l in
      *" inet"*)
        c=$((c + 1))
        case "$vp_l " in *" scope $4 "*) ;; *)
            s=${vp_l#* scope }
            s=${s%% *}
            ;; esac
        ;;
    esac
  done <"$vp_out"
  [ $c -ne 0 ] || { echo "$2 is not on $3 after adding it${o:+: $o}" >&2; return 1; }
  if [ -n "$s" ]; then
    if [ $c -gt 1 ]; then
      echo "$2 is already on $3 with scope $s (vipush wants scope $4): it changed since it was read; changed nothing: run again" >&2
    else
      echo "$2 is not on $3 with scope $4 after adding it: $o" >&2
    fi
    return 1
  fi
  [ $c -eq 1 ] || vp_same=1
}

# vp_addr_del family cidr dev [scope how]: an address already gone needs nothing (vp_same); one still
# there after the removal fails. scope: the scope the plan read ('read') or the run gave it ('wrote',
# an undo): an address that has another scope now stays. Only this IP is looked at (a /32 or /128 of
# it), not its whole subnet.
vp_addr_del() {
  if [ "$1" = 4 ]; then q=${2%/*}/32; else q=${2%/*}/128; fi
  if [ $# -gt 3 ]; then
    ip -o -"$1" addr show dev "$3" to "$q" >"$vp_out" 2>&1
    vp_ipout
    case "$o" in
      *inet*) ;;
      *)
        vp_same=1
        return 0
        ;;
    esac
    case " $o" in
      *" scope $4 "*) ;;
      *)
        s=${o#* scope }
        if [ "${5:-wrote}" = read ]; then
          echo "$2 on $3 changed since it was read (scope ${s%% *} now, vipush read scope $4); changed nothing: run again" >&2
        else
          echo "$2 on $3 changed since vipush added it (scope ${s%% *} now, vipush gave it scope $4); not removed (vipush rollback --force removes it anyway)" >&2
        fi
        return 1
        ;;
    esac
  fi
  ip -o -"$1" -force -batch - >"$vp_out" 2>&1 <<VIPUSH_IP
addr del $2 dev $3
addr show dev $3 to $q
VIPUSH_IP
  vp_ipout
  case "$o" in
    *inet*) echo "$2 is still on $3 after removing it: $o" >&2; return 1 ;;
  esac
}
