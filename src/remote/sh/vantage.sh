# shellcheck shell=dash
# Health gates, run on a vantage host on the same L2 as the real servers (the client, say).

# the interface towards $1
vp_dev_towards() { ip -o route get "$1" 2>/dev/null | sed -n 's/.* dev \([^ ]*\).*/\1/p'; }

# vp_arping vip: flush the neighbour cache, then arping; prints what answered
vp_arping() {
  dev=$(vp_dev_towards "$1")
  [ -n "$dev" ] || { echo "no route to $1 from this host" >&2; exit 2; }
  ip neigh flush dev "$dev" 2>/dev/null
  # -b keeps every request broadcast (else arping goes unicast after the first reply and misses other
  # owners); 3 requests, so several answering MACs are all seen.
  arping -b -c3 -I "$dev" "$1" 2>&1
  true
}

# vp_mac_towards address: the MAC this host uses towards it
vp_mac_towards() {
  dev=$(vp_dev_towards "$1")
  cat "/sys/class/net/$dev/address"
}

# vp_source_towards address: the source address this host uses towards it
vp_source_towards() { ip -o route get "$1" | sed -n 's/.* src \([^ ]*\).*/\1/p'; }
