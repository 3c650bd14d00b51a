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
#   CLIENTS [sbload]: client kinds, each a case of every round: sbload
#   (batched raw writes, prefix-only reads) and/or gorilla (a message per
#   write, ReadMessage and two JSON decodes per message, like a page)
#   DIRECTIONS [both]: both (half the offers each way) and/or one-way
#   PIN [0]: 1 runs the server on core 0 and sbload on core 1 (taskset)
#   PERF [0]: 1 runs `perf stat` on the server during the bursts only and
#   reports system calls, context switches and page faults per offer
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
CLIENTS=${CLIENTS:-sbload}
DIRECTIONS=${DIRECTIONS:-both}
PIN=${PIN:-0}
PERF=${PERF:-0}
SERVER_ENV=${SERVER_ENV:-}
PEERJS_VERSION=${PEERJS_VERSION:-1.0.2}
PEERJS_DIR=${PEERJS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/switchboard-bench/peerjs}
OUT=${OUT:-}
LIFTED_LIMITS="-rate-limit 1000000 -rate-burst 1000000 -byte-rate 1073741824 -byte-burst 1073741824
	-max-sessions-per-ip 10000000 -join-rate 1000000 -join-burst 1000000 -room-join-rate 1000000 -room-join-burst 1000000"

case ${1:-} in
-h | --help)
	sed -n '2,31s/^# \{0,1\}//p' "$0"
	exit 0
	;;
esac

die() {
	echo "bench-peerjs.sh: $*" >&2
	exit 1
}

command -v node >/dev/null || die "node not found (Node 18 or later)"
command -v npm >/dev/null || die "npm not found"
server_cpu=() load_cpu=()
if [ "$PIN" = 1 ]; then
	command -v taskset >/dev/null || die "PIN=1 needs taskset (util-linux)"
	[ "$(nproc)" -ge 2 ] || die "PIN=1 needs two cores"
	server_cpu=(taskset -c 0) load_cpu=(taskset -c 1)
fi
if [ "$PERF" = 1 ]; then
	command -v perf >/dev/null || die "PERF=1 needs perf (apt-get install linux-perf)"
	perf stat -e raw_syscalls:sys_enter -- true 2>/dev/null || die "perf stat cannot count raw_syscalls:sys_enter here (perf_event_paranoid, or run as root)"
fi
for c in $CLIENTS; do case $c in sbload | gorilla) ;; *) die "CLIENTS: unknown client $c" ;; esac; done
for d in $DIRECTIONS; do case $d in both | one-way) ;; *) die "DIRECTIONS: unknown direction $d" ;; esac; done
root=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d)
pid=""

perfpid=""
stop_perf() {
	[ -n "$perfpid" ] || return 0
	kill -INT "$perfpid" 2>/dev/null || true
	wait "$perfpid" 2>/dev/null || true
	perfpid=""
}
stop() {
	stop_perf
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
		cp "$tmp"/*.json "$tmp"/*.log "$tmp"/*.perf "$tmp"/*.perfmsg "$OUT"/ 2>/dev/null || true
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
		"${server_cpu[@]}" env $SERVER_ENV "$bin" -http 127.0.0.1:0 -turn "" $LIFTED_LIMITS -log-level info >"$2" 2>&1 &
		pid=$!
		url="ws://$(wait_addr "$2" 's/.*msg="switchboard started".* http=\([0-9.]*:[0-9]*\).*/\1/p')/v1/ws"
		;;
	peerjs)
		# The library's PeerServer on a kernel-chosen port, with the
		# client limit above the run's; everything else at its defaults.
		"${server_cpu[@]}" node -e '
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

# perf_per_msg FILE N turns perf's CSV counts into per-offer figures,
# one "name value" a line.
perf_per_msg() {
	awk -F, -v n="$2" '
		n > 0 && $1 ~ /^[0-9.]+$/ {
			name = ""
			if ($3 == "task-clock") { name = "task_us"; $1 = $1 * 1000 } # msec
			else if ($3 == "context-switches") name = "cs"
			else if ($3 == "cpu-migrations") name = "migrations"
			else if ($3 == "page-faults") name = "faults"
			else if ($3 == "raw_syscalls:sys_enter") name = "syscalls"
			if (name != "") printf "%s %.4f\n", name, $1 / n
		}' "$1"
}
pmed() { for f in "$tmp/$2".*.perfmsg; do sed -n "s/^$1 //p" "$f"; done | median; }

# perf_start FILE attaches perf stat to the server, counting only while
# sbload enables it (during the bursts).
perf_start() {
	rm -f "$tmp/ctl" "$tmp/ack"
	mkfifo "$tmp/ctl" "$tmp/ack"
	"${load_cpu[@]}" perf stat -x, -o "$1" -e task-clock,context-switches,cpu-migrations,page-faults,raw_syscalls:sys_enter \
		--control "fifo:$tmp/ctl,$tmp/ack" -D -1 -p "$pid" 2>"$1.log" &
	perfpid=$!
}

# The cases of a round: every client kind in every direction.
cases=()
for c in $CLIENTS; do for d in $DIRECTIONS; do cases+=("$c.$d"); done; done

failed=0
for run in $(seq "$RUNS"); do
	ci=0
	for case in "${cases[@]}"; do
		client=${case%%.*} direction=${case#*.}
		ci=$((ci + 1))
		order=("${kinds[@]}")
		if [ $(((run + ci) % 2)) -eq 1 ]; then # reverse: each kind goes first in turn
			order=()
			for ((i = ${#kinds[@]} - 1; i >= 0; i--)); do order+=("${kinds[$i]}"); done
		fi
		for kind in "${order[@]}"; do
			label=$kind.$case
			start "$kind" "$tmp/server-$label.$run.log"
			proto=switchboard
			[ "$kind" = peerjs ] && proto=peerjs
			perfflag=()
			if [ "$PERF" = 1 ]; then
				perf_start "$tmp/$label.$run.perf"
				perfflag=(-perf-control "$tmp/ctl,$tmp/ack")
			fi
			rc=0
			"${load_cpu[@]}" "$tmp/sbload" -scenario burst -protocol "$proto" -client "$client" -direction "$direction" \
				-url "$url" -server-pid "$pid" -pairs "$PAIRS" -offers "$OFFERS" -size "$SIZE" -bursts "$BURSTS" \
				"${perfflag[@]}" -json -progress off >"$tmp/$label.$run.json" 2>"$tmp/sbload-$label.$run.log" || rc=$?
			stop
			if [ $rc -ne 0 ]; then
				failed=$((failed + 1))
				echo "  run $run $label: sbload exited $rc:" >&2
				sed 's/^/    /' "$tmp/sbload-$label.$run.log" >&2
			fi
			[ -s "$tmp/$label.$run.json" ] || die "$label run $run printed no summary"
			if [ "$PERF" = 1 ]; then
				perf_per_msg "$tmp/$label.$run.perf" "$(field received "$tmp/$label.$run.json")" >"$tmp/$label.$run.perfmsg"
			fi
			echo "  run $run $label (loadavg $(cut -d' ' -f1 /proc/loadavg)): $(cat "$tmp/$label.$run.json")" >&2
		done
	done
done

echo
pinned="sharing the cores"
[ "$PIN" = 1 ] && pinned="server pinned to core 0, sbload to core 1"
echo "bench-peerjs: $(nproc) cores, $(go version | cut -d' ' -f3), node $(node --version), peer@$PEERJS_VERSION; $PAIRS pairs, $OFFERS offers of $SIZE B per pair, $BURSTS burst(s); $pinned; medians of $RUNS interleaved runs${SERVER_ENV:+; switchboard env: $SERVER_ENV}"
[ "$failed" -eq 0 ] || echo "WARNING: sbload reported errors in $failed runs (see above)"
for case in "${cases[@]}"; do
	echo "${case%%.*} clients, ${case#*.}:"
	for kind in "${kinds[@]}"; do
		label=$kind.$case
		printf '  %-11s server CPU %.2f µs/offer (runs: %s); %.0f offers/s; server %.2f cores, sbload %.2f µs/offer, other %.2f cores\n' \
			"$kind" "$(med server_us_per_msg "$label")" \
			"$(for f in "$tmp/$label".*.json; do printf '%.2f ' "$(field server_us_per_msg "$f")"; done)" \
			"$(med msgs_per_s "$label")" "$(med server_cores "$label")" "$(med client_us_per_msg "$label")" "$(med other_cores "$label")"
		printf '  %-11s per offer: %.3f page faults, %.3f voluntary + %.3f involuntary context switches (/proc)' \
			"" "$(med server_minflt_per_msg "$label")" "$(med server_vcsw_per_msg "$label")" "$(med server_ivcsw_per_msg "$label")"
		if [ "$PERF" = 1 ]; then
			printf '; perf: %.3f syscalls, %.3f context switches, %.3f migrations, %.3f page faults, %.2f µs task-clock' \
				"$(pmed syscalls "$label")" "$(pmed cs "$label")" "$(pmed migrations "$label")" "$(pmed faults "$label")" "$(pmed task_us "$label")"
		fi
		echo
	done
	for kind in "${kinds[@]}"; do
		[ "$kind" = peerjs ] && continue
		awk -v k="$kind" -v s="$(med server_us_per_msg "$kind.$case")" -v p="$(med server_us_per_msg "peerjs.$case")" \
			'BEGIN { if (s > 0) printf "  %s / peerjs CPU per offer: %.2f (peerjs spends %.2fx)\n", k, s / p, p / s }'
	done
done
