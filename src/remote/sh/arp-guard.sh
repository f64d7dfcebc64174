# shellcheck shell=dash
# The ARP invariant, checked on the host itself right before a step that could break it, whatever the
# controller planned: no IPv4 address (outside 127/8) goes on lo unless ARP for it stays unanswered.
# The kernel takes max(conf/all, conf/IFACE) of arp_ignore on the interface a request arrives on;
# 1, 2 and 8 hide an address on lo whatever its scope, 3 only one with scope host.

# vp_ignore_hides value scope
vp_ignore_hides() {
  case $1 in
    1 | 2 | 8) return 0 ;;
    3) [ "$2" = host ] ;;
    *) return 1 ;;
  esac
}

# vp_hidden_then scope cidr command...: runs the command (an address step) only if ARP for an address
# of this scope on lo would go unanswered on every interface that holds an IPv4 address
vp_hidden_then() {
  vp_s=$1 vp_c=$2
  shift 2
  # dash's read returns 1 on /proc files even when it read the value: the value decides
  vp_a=
  read -r vp_a </proc/sys/net/ipv4/conf/all/arp_ignore
  [ -n "$vp_a" ] || vp_a=0
  if ! vp_ignore_hides "$vp_a" "$vp_s"; then
    # conf/all alone does not hide it: every interface where requests arrive must (one `ip`, only here)
    ip -o -4 addr show >"$vp_out" 2>/dev/null || { echo "cannot list this host's IPv4 addresses to check ARP for $vp_c" >&2; return 1; }
    vp_f=
    while read -r vp_n vp_d vp_l; do
      vp_d=${vp_d%@*}
      [ "$vp_d" != lo ] || continue
      vp_v=
      read -r vp_v <"/proc/sys/net/ipv4/conf/$vp_d/arp_ignore"
      [ -n "$vp_v" ] || vp_v=0
      [ "$vp_v" -gt "$vp_a" ] || vp_v=$vp_a
      vp_f=1
      vp_ignore_hides "$vp_v" "$vp_s" && continue
      echo "refusing to add $vp_c to lo: arp_ignore is $vp_v on $vp_d (max of conf/all and conf/$vp_d), so $vp_d would answer ARP for it" >&2
      return 1
    done <"$vp_out"
    # no interface holds an IPv4 address yet: conf/all decides for the ones that will
    [ -n "$vp_f" ] || { echo "refusing to add $vp_c to lo: arp_ignore is $vp_a in conf/all, so the host would answer ARP for it" >&2; return 1; }
  fi
  "$@"
}

# vp_arp_read file: v, an arp_ignore or arp_announce value of the kernel (0 when unreadable: the
# kernel's default)
vp_arp_read() {
  v=
  read -r v <"$1" 2>/dev/null
  case $v in '' | *[!0-9]*) v=0 ;; esac
}

# vp_arp_eff iface procdir-of-the-write name new: e, max(conf/all, conf/IFACE) of arp_NAME, and f,
# the same once the write of new to conf/procdir took effect
vp_arp_eff() {
  vp_arp_read "/proc/sys/net/ipv4/conf/all/$3"
  vp_x=$v vp_y=$v
  [ "$2" != all ] || vp_y=$4
  if [ "$1" != all ]; then
    vp_arp_read "/proc/sys/net/ipv4/conf/$1/$3"
    [ "$v" -le "$vp_x" ] || vp_x=$v
    [ "$2" = "$1" ] || [ "$v" -le "$vp_y" ] || vp_y=$v
    [ "$2" != "$1" ] || [ "$4" -le "$vp_y" ] || vp_y=$4
  fi
  e=$vp_x f=$vp_y
}

# vp_arp_keeps_hidden procpath key new: the write of new to this arp_ignore or arp_announce (conf/all,
# conf/lo or an interface's) must not make the host answer ARP for an IPv4 address on lo (outside
# 127/8) that it hides now, nor let it use one as the source of its ARP requests, on any interface
# that holds an IPv4 address (conf/all alone when none does). The kernel takes max(conf/all,
# conf/IFACE); a value on lo acts on requests that arrive on lo only. One `ip`, for a lowering only.
vp_arp_keeps_hidden() {
  vp_d=${1#/proc/sys/net/ipv4/conf/}
  vp_k=${vp_d##*/} vp_d=${vp_d%/*}
  case $3 in '' | *[!0-9]*) return 0 ;; esac # not a number: the kernel refuses it
  ip -o -4 addr show >"$vp_out" 2>/dev/null || {
    echo "cannot list this host's IPv4 addresses to check ARP before setting $2 to $3; changed nothing" >&2
    return 1
  }
  vp_vips="" vp_jfs=""
  while read -r vp_n vp_j vp_f vp_a vp_l; do
    vp_j=${vp_j%@*}
    if [ "$vp_j" = lo ]; then
      case $vp_a in 127.*) continue ;; esac
      vp_s=${vp_l#*scope }
      vp_vips="$vp_vips ${vp_a}@${vp_s%% *}"
    else
      case " $vp_jfs " in *" $vp_j "*) ;; *) vp_jfs="$vp_jfs $vp_j" ;; esac
    fi
  done <"$vp_out"
  [ -n "$vp_vips" ] || return 0
  [ -n "$vp_jfs" ] || vp_jfs=all
  set -f
  for vp_j in $vp_jfs; do
    vp_arp_eff "$vp_j" "$vp_d" "$vp_k" "$3"
    for vp_a in $vp_vips; do
      if [ "$vp_k" = arp_ignore ]; then
        vp_ignore_hides "$e" "${vp_a#*@}" || continue
        vp_ignore_hides "$f" "${vp_a#*@}" && continue
        set +f
        echo "refusing to set $2 to $3: ${vp_a%@*} is on lo (scope ${vp_a#*@}), and $vp_j would answer ARP for it (arp_ignore max(conf/all, conf/$vp_j) would be $f); changed nothing (remove the address first, or set allow_arp: true)" >&2
        return 1
      fi
      if [ "$e" -lt 2 ] || [ "$f" -ge 2 ]; then continue; fi
      set +f
      echo "refusing to set $2 to $3: ${vp_a%@*} is on lo, and $vp_j could use it as the source of its ARP requests (arp_announce max(conf/all, conf/$vp_j) would be $f); changed nothing (remove the address first, or set allow_arp: true)" >&2
      return 1
    done
  done
  set +f
}
