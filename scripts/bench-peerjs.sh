#!/usr/bin/env bash
# Server CPU per relayed offer, switchboard against the PeerJS server (npm
# package `peer`, on Node), in the burst workload of issue 9: PAIRS pairs
# of WebSocket clients, each pair relaying OFFERS offers of SIZE bytes
# (half each way), every client writing its share at once. sbload reads
# each server's CPU time from /proc/<pid>/stat from just before the first
# write to just after the last offer arrived.
#
# The servers run interleaved: each round starts a fresh server of each
# kind in turn (the order alternates between rounds), so a noisy neighbour
# on a shared machine hits both. Prints every run and the medians.
#
# Usage: scripts/bench-peerjs.sh
# Environment (defaults in brackets):
#   RUNS [3]  PAIRS [500]  OFFERS [300]  SIZE [1500]  BURSTS [1]
#   SERVER_ENV [none]: extra environment for switchboard, e.g. GOGC=100
#   SERVER_BIN [none]: run this switchboard binary instead of building one
#   BASE_BIN [none]: a second switchboard binary (e.g. main's) measured in
#   the same rounds, labelled "base"
#   PEERJS_VERSION [1.0.2]  PEERJS_DIR [~/.cache/switchboard-bench/peerjs]:
#   where `peer` is installed from npm, outside the repository
#   OUT [none]: keep every run's JSON and logs there
set -euo pipefail

RUNS=${RUNS:-3}
PAIRS=${PAIRS:-500}
OFFERS=${OFFERS:-300}
SIZE=${SIZE:-1500}
BURSTS=${BURSTS:-1}
SERVER_ENV=${SERVER_ENV:-}
PEERJS_VERSION=${PEERJS_VERSION:-1.0.2}
PEERJS_DIR=${PEERJS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/switchboard-bench/peerjs}
OUT=${OUT:-}
LIFTED_LIMITS="-rate-limit 1000000 -rate-burst 1000000 -byte-rate 1073741824 -byte-burst 1073741824
	-max-sessions-per-ip 10000000 -join-rate 1000000 -join-burst 1000000 -room-join-rate 1000000 -room-join-burst 1000000"

case ${1:-} in
-h | --help)
	sed -n '2,24s/^# \{0,1\}//p' "$0"
	exit 0
	;;
esac

die() {
	echo "bench-peerjs.sh: $*" >&2
	exit 1
}

command -v node >/dev/null || die "node not found (Node 18 or later)"
command -v npm >/dev/null || die "npm not found"
root=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d)
pid=""

stop() {
	[ -n "$pid" ] || return 0
	kill -TERM "$pid" 2>/dev/null || true
	for _ in $(seq 100); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
	pid=""
}
cleanup() {
	stop
	if [ -n "$OUT" ]; then
		mkdir -p "$OUT"
		cp "$tmp"/*.json "$tmp"/*.log "$OUT"/ 2>/dev/null || true
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [ ! -f "$PEERJS_DIR/node_modules/peer/package.json" ] ||
	[ "$(node -p "require('$PEERJS_DIR/node_modules/peer/package.json').version")" != "$PEERJS_VERSION" ]; then
	echo "installing peer@$PEERJS_VERSION into $PEERJS_DIR" >&2
	mkdir -p "$PEERJS_DIR"
	(cd "$PEERJS_DIR" && npm install --no-audit --no-fund --silent "peer@$PEERJS_VERSION" >&2)
fi

need=$((4 * PAIRS + 1000))
ulimit -Sn "$(ulimit -Hn)" 2>/dev/null || true
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt "$need" ]; then
	die "open-file limit $(ulimit -n) is below $need; raise it (ulimit -n)"
fi

echo "building into $tmp" >&2
(cd "$root" && go build -o "$tmp/switchboard" ./cmd/switchboard && go build -o "$tmp/sbload" ./cmd/sbload)
if [ -n "${SERVER_BIN:-}" ]; then
	cp "$SERVER_BIN" "$tmp/switchboard" || die "SERVER_BIN $SERVER_BIN: cannot copy"
fi
kinds=(switchboard peerjs)
if [ -n "${BASE_BIN:-}" ]; then
	cp "$BASE_BIN" "$tmp/base" || die "BASE_BIN $BASE_BIN: cannot copy"
	kinds=(switchboard base peerjs)
fi

# wait_addr LOG SED_EXPR waits for the server's startup line and prints
# the address it names.
wait_addr() {
	local a=""
	for _ in $(seq 100); do
		a=$(sed -n "$2" "$1")
		[ -n "$a" ] && break
		kill -0 "$pid" 2>/dev/null || die "server exited: $(cat "$1")"
		sleep 0.1
	done
	[ -n "$a" ] || die "server did not start within 10 s: $(cat "$1")"
	echo "$a"
}

# start KIND LOG starts a fresh server and sets pid and url.
start() {
	case $1 in
	switchboard | base)
		local bin=$tmp/switchboard
		[ "$1" = base ] && bin=$tmp/base
		# shellcheck disable=SC2086 # word lists
		env $SERVER_ENV "$bin" -http 127.0.0.1:0 -turn "" $LIFTED_LIMITS -log-level info >"$2" 2>&1 &
		pid=$!
		url="ws://$(wait_addr "$2" 's/.*msg="switchboard started".* http=\([0-9.]*:[0-9]*\).*/\1/p')/v1/ws"
		;;
	peerjs)
		# The library's PeerServer on a kernel-chosen port, with the
		# client limit above the run's; everything else at its defaults.
		node -e '
			const { PeerServer } = require(process.argv[1]);
			PeerServer({ host: "127.0.0.1", port: 0, concurrent_limit: 1000000 },
				(s) => console.log("peerjs listening on " + s.address().port));
		' "$PEERJS_DIR/node_modules/peer" >"$2" 2>&1 &
		pid=$!
		url="ws://127.0.0.1:$(wait_addr "$2" 's/^peerjs listening on \([0-9]*\)$/\1/p')/peerjs"
		;;
	esac
}

field() { sed -n "s/.*\"$1\":\([-0-9.e+]*\).*/\1/p" "$2"; }
median() { sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) print "nan"; else if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
med() { for f in "$tmp/$2".*.json; do field "$1" "$f"; done | median; }

failed=0
for run in $(seq "$RUNS"); do
	order=("${kinds[@]}")
	if [ $((run % 2)) -eq 0 ]; then # reverse: each kind goes first in turn
		order=()
		for ((i = ${#kinds[@]} - 1; i >= 0; i--)); do order+=("${kinds[$i]}"); done
	fi
	for kind in "${order[@]}"; do
		start "$kind" "$tmp/server-$kind.$run.log"
		proto=switchboard
		[ "$kind" = peerjs ] && proto=peerjs
		rc=0
		"$tmp/sbload" -scenario burst -protocol "$proto" -url "$url" -server-pid "$pid" -pairs "$PAIRS" \
			-offers "$OFFERS" -size "$SIZE" -bursts "$BURSTS" -json -progress off \
			>"$tmp/$kind.$run.json" 2>"$tmp/sbload-$kind.$run.log" || rc=$?
		stop
		if [ $rc -ne 0 ]; then
			failed=$((failed + 1))
			echo "  run $run $kind: sbload exited $rc:" >&2
			sed 's/^/    /' "$tmp/sbload-$kind.$run.log" >&2
		fi
		[ -s "$tmp/$kind.$run.json" ] || die "$kind run $run printed no summary"
		echo "  run $run $kind (loadavg $(cut -d' ' -f1 /proc/loadavg)): $(cat "$tmp/$kind.$run.json")" >&2
	done
done

echo
echo "bench-peerjs: $(nproc) cores, $(go version | cut -d' ' -f3), node $(node --version), peer@$PEERJS_VERSION; $PAIRS pairs, $OFFERS offers of $SIZE B per pair, $BURSTS burst(s); medians of $RUNS interleaved runs${SERVER_ENV:+; switchboard env: $SERVER_ENV}"
[ "$failed" -eq 0 ] || echo "WARNING: sbload reported errors in $failed runs (see above)"
for kind in "${kinds[@]}"; do
	printf '%-11s server CPU %.2f µs/offer (runs: %s); %.0f offers/s; server %.2f cores, sbload %.2f µs/offer, other %.2f cores\n' \
		"$kind" "$(med server_us_per_msg "$kind")" \
		"$(for f in "$tmp/$kind".*.json; do printf '%.2f ' "$(field server_us_per_msg "$f")"; done)" \
		"$(med msgs_per_s "$kind")" "$(med server_cores "$kind")" "$(med client_us_per_msg "$kind")" "$(med other_cores "$kind")"
done
awk -v s="$(med server_us_per_msg switchboard)" -v p="$(med server_us_per_msg peerjs)" \
	'BEGIN { if (s > 0) printf "switchboard / peerjs CPU per offer: %.2f (peerjs spends %.2fx)\n", s / p, p / s }'
