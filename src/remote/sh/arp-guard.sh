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
