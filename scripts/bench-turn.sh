#!/usr/bin/env bash
# Benchmarks the standalone relay (switchboard turn) against coturn's
# turnserver side by side on 127.0.0.1, in one run, on the same workloads:
#   relay   coturn's turnutils_uclient to turnutils_peer, per WORKLOADS
#   stun    STUN Binding flat out with cmd/stunload (the project's own)
#   alloc   allocations per second (Allocate + Refresh 0), cmd/stunload -mode alloc
# Both servers run for the whole script; each measurement alternates
# between them so machine noise hits both. Server CPU is read from
# /proc/PID/stat around each measurement. Prints medians and ratios
# (ours / coturn), and after each relay run the datagrams the kernel dropped
# at full socket buffers of the peer and of each server's port. Figures and logs go to OUT when set.
#
# Usage: scripts/bench-turn.sh [relay] [stun] [alloc]     (default: all)
# Environment (defaults in brackets):
#   RUNS [3]  STUN_DURATION [5s]  STUN_SOCKETS [8]  STUN_WINDOW [16]
#   ALLOC_DURATION [5s]  ALLOC_WORKERS [8]
#   WORKLOADS ["-m 50 -n 2000 -l 160 -z 0 -c|-m 200 -n 500 -l 160 -z 0 -c"]
#   SERVER_ENV [none]: extra environment for our server only, e.g. GOMAXPROCS=1
#   COTURN_PORT [3590]  OURS_PORT [3594]  PEER_PORT [3596]  OUT [none]
# coturn also binds COTURN_PORT+1 (RFC 5780) and turnutils_peer PEER_PORT+1:
# keep the ports two apart. SO_REUSEPORT would otherwise let them share one.
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS=${RUNS:-3}
STUN_DURATION=${STUN_DURATION:-5s}
STUN_SOCKETS=${STUN_SOCKETS:-8}
STUN_WINDOW=${STUN_WINDOW:-16}
ALLOC_DURATION=${ALLOC_DURATION:-5s}
ALLOC_WORKERS=${ALLOC_WORKERS:-8}
WORKLOADS=${WORKLOADS:-"-m 50 -n 2000 -l 160 -z 0 -c|-m 200 -n 500 -l 160 -z 0 -c"}
COTURN_PORT=${COTURN_PORT:-3590}
OURS_PORT=${OURS_PORT:-3594}
PEER_PORT=${PEER_PORT:-3596}
OUT=${OUT:-}
SERVER_ENV=${SERVER_ENV:-}
SECRET=bench-secret-0123456789

scenarios=("$@")
[ ${#scenarios[@]} -gt 0 ] || scenarios=(relay stun alloc)
for tool in turnserver turnutils_uclient turnutils_peer; do
	command -v "$tool" >/dev/null || { echo "bench-turn: $tool missing (apt-get install coturn)" >&2; exit 1; }
done

work=$(mktemp -d)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	if [ -n "$OUT" ]; then mkdir -p "$OUT"; cp "$work"/*.log "$OUT"/ 2>/dev/null || true; fi
	rm -rf "$work"
}
trap cleanup EXIT

go build -o "$work/switchboard" ./cmd/switchboard
go build -o "$work/stunload" ./cmd/stunload

turnutils_peer -L 127.0.0.1 -p "$PEER_PORT" >"$work/peer.log" 2>&1 &
pids+=($!)
turnserver -n --listening-ip=127.0.0.1 --listening-port="$COTURN_PORT" --relay-ip=127.0.0.1 \
	--min-port=50000 --max-port=55000 --use-auth-secret --static-auth-secret="$SECRET" --realm=bench \
	--allow-loopback-peers --no-tls --no-dtls --no-cli --log-file=stdout >"$work/coturn.log" 2>&1 &
coturn_pid=$!
pids+=($coturn_pid)
cat >"$work/turnserver.conf" <<CONF
listening-ip=127.0.0.1
listening-port=$OURS_PORT
min-port=56000
max-port=61000
use-auth-secret
static-auth-secret=$SECRET
realm=bench
allow-loopback-peers
# coturn has no quota by default; the load below is 200 allocations of one user
user-quota=-1
# one load generator on 127.0.0.1 draws every 401 challenge: lift the
# per-source budget (10/s by default) as coturn has none
auth-rate=1000000
auth-burst=1000000
no-tls
shutdown-timeout=1s
CONF
# shellcheck disable=SC2086 # SERVER_ENV is a list of assignments
env $SERVER_ENV "$work/switchboard" turn -c "$work/turnserver.conf" >"$work/ours.log" 2>&1 &
ours_pid=$!
pids+=($ours_pid)

# Wait until both answer STUN.
for port in "$COTURN_PORT" "$OURS_PORT"; do
	for _ in $(seq 50); do
		"$work/stunload" -server 127.0.0.1:"$port" -sockets 1 -window 1 -duration 100ms 2>/dev/null | grep -q 'answered=[1-9]' && break
		sleep 0.1
	done
done

for p in "$coturn_pid" "$ours_pid"; do
	if ! kill -0 "$p" 2>/dev/null; then
		echo "bench-turn: a server did not start (port in use?); logs:" >&2
		cat "$work/coturn.log" "$work/ours.log" >&2
		exit 1
	fi
done

ticks_per_s=$(getconf CLK_TCK)
# Datagrams the kernel dropped at full receive buffers (ss's skmem d), summed
# over the UDP sockets whose port is in [lo, hi]: where a run's loss happened.
kernel_drops() {
	ss -uanm "( sport >= :$1 and sport <= :$2 )" 2>/dev/null |
		grep -oE '[(,]d[0-9]+' | tr -d '(,d' | awk '{s += $1} END {print s + 0}'
}
# The peer's and each server's listening sockets only: relay sockets and
# the client's close when the run ends, taking their counts with them.
drop_ranges() {
	echo "$(kernel_drops "$PEER_PORT" "$PEER_PORT") $(kernel_drops "$COTURN_PORT" "$COTURN_PORT") $(kernel_drops "$OURS_PORT" "$OURS_PORT")"
}
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
median() { sort -g | awk '{a[NR]=$1} END {if (NR==0) print "nan"; else if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {if (b==0) print "n/a"; else printf "%.2f", a/b}'; }

echo "cores: $(nproc); $(turnserver --version 2>/dev/null | head -1 | sed 's/^/coturn /'); $(go version | cut -d' ' -f3)"

declare -A results
if [[ " ${scenarios[*]} " == *" relay "* ]]; then
	IFS='|' read -ra loads <<<"$WORKLOADS"
	for load in "${loads[@]}"; do
		for run in $(seq "$RUNS"); do
			order=(coturn ours)
			((run % 2 == 0)) && order=(ours coturn)
			for who in "${order[@]}"; do
				if [ "$who" = coturn ]; then pid=$coturn_pid port=$COTURN_PORT; else pid=$ours_pid port=$OURS_PORT; fi
				before=$(cpu_ticks "$pid")
				read -r p0 c0 o0 <<<"$(drop_ranges)"
				# shellcheck disable=SC2086 # the workload is a word list
				out=$(timeout 300 turnutils_uclient -W "$SECRET" -e 127.0.0.1 -r "$PEER_PORT" -p "$port" $load -X 127.0.0.1 2>&1 || true)
				after=$(cpu_ticks "$pid")
				read -r p1 c1 o1 <<<"$(drop_ranges)"
				echo "$out" >>"$work/uclient-$who.log"
				cpu=$(awk -v t=$((after - before)) -v hz="$ticks_per_s" 'BEGIN {printf "%.2f", t/hz}')
				sent=$(grep -o 'tot_send_msgs=[0-9]*, tot_recv_msgs=[0-9]*$' <<<"$out" | tail -1)
				lost=$(grep -o 'Total lost packets [0-9]* ([0-9.]*%)' <<<"$out" | tail -1 | grep -o '([0-9.]*' | tr -d '(')
				rtt=$(grep -o 'Average round trip delay [0-9.]*' <<<"$out" | tail -1 | awk '{print $5}')
				printf '%-6s %-32s run %d: cpu %5ss  lost %s%%  rtt %s ms  %s\n' "$who" "$load" "$run" "$cpu" "${lost:-?}" "${rtt:-?}" "$sent"
				printf '       kernel drops: at the peer %d, at coturn'"'"'s port %d, at ours %d\n' $((p1 - p0)) $((c1 - c0)) $((o1 - o0))
				results["$load|$who|cpu"]+="$cpu "
				results["$load|$who|lost"]+="${lost:-100} "
				results["$load|$who|rtt"]+="${rtt:-nan} "
			done
		done
	done
	echo
	for load in "${loads[@]}"; do
		for m in cpu lost rtt; do
			c=$(tr ' ' '\n' <<<"${results["$load|coturn|$m"]}" | grep . | median)
			o=$(tr ' ' '\n' <<<"${results["$load|ours|$m"]}" | grep . | median)
			printf 'relay %-32s %-4s median: coturn %s, ours %s, ours/coturn %s\n' "$load" "$m" "$c" "$o" "$(ratio "$o" "$c")"
		done
	done
fi

if [[ " ${scenarios[*]} " == *" stun "* ]]; then
	for run in $(seq "$RUNS"); do
		order=(coturn ours)
		((run % 2 == 0)) && order=(ours coturn)
		for who in "${order[@]}"; do
			if [ "$who" = coturn ]; then pid=$coturn_pid port=$COTURN_PORT; else pid=$ours_pid port=$OURS_PORT; fi
			before=$(cpu_ticks "$pid")
			out=$("$work/stunload" -server 127.0.0.1:"$port" -sockets "$STUN_SOCKETS" -window "$STUN_WINDOW" -duration "$STUN_DURATION")
			after=$(cpu_ticks "$pid")
			answered=$(grep -o 'answered=[0-9]*' <<<"$out" | cut -d= -f2)
			rate=$(grep -o 'rate=[0-9]*' <<<"$out" | cut -d= -f2)
			us=$(awk -v t=$((after - before)) -v hz="$ticks_per_s" -v n="$answered" 'BEGIN {printf "%.2f", t/hz*1e6/n}')
			printf '%-6s stun run %d: %s/s, %s us server CPU per request\n' "$who" "$run" "$rate" "$us"
			results["stun|$who|rate"]+="$rate "
			results["stun|$who|us"]+="$us "
		done
	done
	echo
	for m in rate us; do
		c=$(tr ' ' '\n' <<<"${results["stun|coturn|$m"]}" | grep . | median)
		o=$(tr ' ' '\n' <<<"${results["stun|ours|$m"]}" | grep . | median)
		printf 'stun  %-4s median: coturn %s, ours %s, ours/coturn %s\n' "$m" "$c" "$o" "$(ratio "$o" "$c")"
	done
fi

if [[ " ${scenarios[*]} " == *" alloc "* ]]; then
	for run in $(seq "$RUNS"); do
		order=(coturn ours)
		((run % 2 == 0)) && order=(ours coturn)
		for who in "${order[@]}"; do
			if [ "$who" = coturn ]; then pid=$coturn_pid port=$COTURN_PORT; else pid=$ours_pid port=$OURS_PORT; fi
			before=$(cpu_ticks "$pid")
			out=$("$work/stunload" -mode alloc -secret "$SECRET" -server 127.0.0.1:"$port" -sockets "$ALLOC_WORKERS" -duration "$ALLOC_DURATION")
			after=$(cpu_ticks "$pid")
			n=$(grep -o 'allocations=[0-9]*' <<<"$out" | cut -d= -f2)
			failed=$(grep -o 'failed=[0-9]*' <<<"$out" | cut -d= -f2)
			rate=$(grep -o 'rate=[0-9]*' <<<"$out" | cut -d= -f2)
			us=$(awk -v t=$((after - before)) -v hz="$ticks_per_s" -v n="$n" 'BEGIN {if (n==0) print "nan"; else printf "%.1f", t/hz*1e6/n}')
			printf '%-6s alloc run %d: %s/s (%s failed), %s us server CPU per allocation\n' "$who" "$run" "$rate" "$failed" "$us"
			results["alloc|$who|rate"]+="$rate "
			results["alloc|$who|us"]+="$us "
		done
	done
	echo
	for m in rate us; do
		c=$(tr ' ' '\n' <<<"${results["alloc|coturn|$m"]}" | grep . | median)
		o=$(tr ' ' '\n' <<<"${results["alloc|ours|$m"]}" | grep . | median)
		printf 'alloc %-4s median: coturn %s, ours %s, ours/coturn %s\n' "$m" "$c" "$o" "$(ratio "$o" "$c")"
	done
fi
