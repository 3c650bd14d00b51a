#!/usr/bin/env bash
# The NAT lab (docs/nat.md): network namespaces joined by veth pairs, a
# "public" segment for switchboard and one router per client network, each
# router doing one behaviour of RFC 4787 with nftables. Every address is
# from 198.18.0.0/15 (RFC 2544, benchmarking) and lives only inside the
# namespaces made here: nothing is routed to or from the host's own
# interfaces. Needs root (CAP_NET_ADMIN), iproute2 and nftables.
#
#   natlab.sh up [LAB]     build lab LAB (default "sbnl"); namespaces LAB-pub,
#                          LAB-r-NET (router) and LAB-c-NET (client)
#   natlab.sh down [LAB]   stop the processes inside LAB's namespaces and
#                          remove them, with every link in them
#   natlab.sh sweep        down every lab whose owner process is gone
#                          (NATLAB_OWNER=PID on up names the owner)
#   natlab.sh nets         list the client networks, one a line
#
# Addresses: switchboard 198.18.0.1 (and 198.18.0.2, the RFC 5780 alternate)
# on the public segment; network number N (1..) has the router's WAN side at
# 198.18.N.2 (public side 198.18.N.1) and the client at 198.19.N.2 behind
# the router's LAN side 198.19.N.1.
set -euo pipefail

# NET:behaviour, in network number order (N = position, from 1).
NETS=(
  full:eim-eif   # endpoint-independent mapping and filtering ("full cone")
  addr:eim-adf   # EIM, address-dependent filtering ("restricted cone")
  port:eim-apdf  # EIM, address-and-port-dependent filtering (home router)
  sym:apdm       # address-and-port-dependent mapping ("symmetric")
  sym2:apdm      # a second symmetric network, for symmetric to symmetric
  noudp:tcp-only # UDP dropped; TCP to 3478 and 443 only
  tls:tcp443     # TCP to 443 only: TURN over TLS is the way out
)
RUN_DIR=/run/natlab

die() { echo "natlab.sh: $*" >&2; exit 1; }

lab_namespaces() { ip netns list | awk '{print $1}' | grep -E "^$1-(pub|r-[a-z0-9]+|c-[a-z0-9]+)\$" || true; }

down() {
  local lab=$1 ns pid
  for ns in $(lab_namespaces "$lab"); do
    # Processes started in the lab (switchboard, peers) keep a namespace
    # alive after its name is gone: end them first.
    # The owner is spared: its threads enter the namespaces too.
    for pid in $(ip netns pids "$ns" 2>/dev/null); do
      [ "$pid" = "${NATLAB_OWNER:-}" ] || kill -KILL "$pid" 2>/dev/null || true
    done
    ip netns del "$ns" 2>/dev/null || true
  done
  rm -f "$RUN_DIR/$lab.owner"
}

sweep() {
  local f lab owner
  [ -d "$RUN_DIR" ] || return 0
  for f in "$RUN_DIR"/*.owner; do
    [ -e "$f" ] || continue
    lab=$(basename "$f" .owner)
    owner=$(cat "$f" 2>/dev/null || true)
    if [ -z "$owner" ] || ! kill -0 "$owner" 2>/dev/null; then
      echo "natlab.sh: removing lab $lab (owner ${owner:-unknown} is gone)" >&2
      down "$lab"
    fi
  done
}

# nft_rules NET BEHAVIOUR N: the router's ruleset.
nft_rules() {
  local behaviour=$2 n=$3 client="198.19.$3.2"
  echo "table ip natlab {"
  case $behaviour in
  eim-eif)
    # Port-preserving SNAT maps each client port to the same public port
    # for every destination; any datagram to a public port goes in.
    cat <<EOF
  chain nat_in { type nat hook prerouting priority dstnat; iifname "wan" meta l4proto udp dnat to $client; }
  chain nat_out { type nat hook postrouting priority srcnat; oifname "wan" snat to 198.18.$n.2; }
EOF
    ;;
  eim-adf)
    # As above, but a datagram goes in only from an address the client has
    # sent to from that port (any of its ports).
    cat <<EOF
  set sent { type ipv4_addr . inet_service; flags dynamic, timeout; timeout 5m; }
  chain forward_check { type filter hook forward priority filter; iifname "lan" meta l4proto udp update @sent { ip daddr . udp sport }; }
  chain nat_in { type nat hook prerouting priority dstnat; iifname "wan" meta l4proto udp ip saddr . udp dport @sent dnat to $client; }
  chain nat_out { type nat hook postrouting priority srcnat; oifname "wan" snat to 198.18.$n.2; }
EOF
    ;;
  eim-apdf)
    # Conntrack lets in only replies from the exact address and port.
    echo "  chain nat_out { type nat hook postrouting priority srcnat; oifname \"wan\" snat to 198.18.$n.2; }"
    ;;
  apdm)
    # A random public port for every new destination.
    echo "  chain nat_out { type nat hook postrouting priority srcnat; oifname \"wan\" snat to 198.18.$n.2 random; }"
    ;;
  tcp-only | tcp443)
    local ports="{ 3478, 443 }"
    [ "$behaviour" = tcp443 ] && ports=443
    cat <<EOF
  chain forward_check { type filter hook forward priority filter; policy drop;
    ct state established,related accept
    iifname "lan" tcp dport $ports accept
  }
  chain nat_out { type nat hook postrouting priority srcnat; oifname "wan" snat to 198.18.$n.2; }
EOF
    ;;
  *) die "unknown behaviour $behaviour" ;;
  esac
  # What no rule let in stops at the router, as at a home router, instead
  # of drawing ICMP port-unreachable answers.
  echo "  chain drop_unasked { type filter hook input priority filter; iifname \"wan\" meta l4proto udp drop; }"
  echo "}"
}

up() {
  local lab=$1 n=0 entry net behaviour pub=$1-pub r c
  [ -z "$(lab_namespaces "$lab")" ] || die "lab $lab exists: natlab.sh down $lab first"
  command -v nft >/dev/null || die "nft not found (apt-get install nftables)"
  # A failure or an interrupt half-way leaves nothing behind.
  trap 'down "$lab"' ERR
  trap 'down "$lab"; exit 130' INT TERM
  mkdir -p "$RUN_DIR"
  echo "${NATLAB_OWNER:-$$}" >"$RUN_DIR/$lab.owner"
  ip netns add "$pub"
  ip -n "$pub" link set lo up
  ip netns exec "$pub" sysctl -qw net.ipv4.ip_forward=1
  # On loopback: local, and reached through every link into the namespace.
  ip -n "$pub" addr add 198.18.0.1/32 dev lo
  ip -n "$pub" addr add 198.18.0.2/32 dev lo
  for entry in "${NETS[@]}"; do
    n=$((n + 1))
    net=${entry%%:*} behaviour=${entry#*:}
    r=$lab-r-$net c=$lab-c-$net
    ip netns add "$r"
    ip netns add "$c"
    ip -n "$r" link set lo up
    ip -n "$c" link set lo up
    ip netns exec "$r" sysctl -qw net.ipv4.ip_forward=1
    # Made inside their namespaces: the host never sees these links.
    ip -n "$pub" link add "to-$net" type veth peer name wan netns "$r"
    ip -n "$r" link add lan type veth peer name eth0 netns "$c"
    ip -n "$pub" addr add "198.18.$n.1/24" dev "to-$net"
    ip -n "$r" addr add "198.18.$n.2/24" dev wan
    ip -n "$r" addr add "198.19.$n.1/24" dev lan
    ip -n "$c" addr add "198.19.$n.2/24" dev eth0
    ip -n "$pub" link set "to-$net" up
    ip -n "$r" link set wan up
    ip -n "$r" link set lan up
    ip -n "$c" link set eth0 up
    ip -n "$r" route add default via "198.18.$n.1"
    ip -n "$c" route add default via "198.19.$n.1"
    nft_rules "$net" "$behaviour" "$n" | ip netns exec "$r" nft -f -
  done
  trap - ERR INT TERM
  echo "lab $lab up: switchboard's namespace $pub (198.18.0.1, 198.18.0.2); client namespaces $lab-c-NET for NET in: $(nets | cut -d" " -f1 | tr "\n" " ")"
}

nets() {
  local entry n=0
  for entry in "${NETS[@]}"; do
    n=$((n + 1))
    echo "${entry%%:*} ${entry#*:} 198.19.$n.2 198.18.$n.2"
  done
}

[ "$(id -u)" = 0 ] || [ "${1:-}" = nets ] || die "needs root (network namespaces)"
lab=${2:-sbnl}
[[ $lab =~ ^[a-z][a-z0-9]{0,15}$ ]] || die "lab name $lab: lower-case letters and digits, 16 at most"
case ${1:-} in
up) up "$lab" ;;
down) down "$lab" ;;
sweep) sweep ;;
nets) nets ;;
*) die "usage: natlab.sh up|down [LAB] | sweep | nets" ;;
esac
