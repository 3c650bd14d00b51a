#!/usr/bin/env bash
# Benchmarks the signaling path on this machine, server and load tool side
# by side on 127.0.0.1, over each of TRANSPORTS (ws, sse, poll), and
# prints medians against the targets and the transports side by side:
#   idle     CONNS idle sessions: server RSS per session
#   relay    PAIRS pairs relaying SIZE-byte offers flat out: offers/s
#   latency  the same pairs paced at each of RATES offers/s: p50/p99
#   resume   ROUNDS times: a peer's channel is cut, EVENTS offers are sent
#            to it, it resumes: time from reconnect to the last one
# Each run gets a fresh server. Figures and logs go to OUT when set.
#
# Usage: scripts/bench.sh [idle] [relay] [latency] [resume]  (default: all)
# Environment (defaults in brackets):
#   TRANSPORTS ["ws sse poll"]  RUNS [3]  CONNS [10000]  HOLD [15s]
#   PAIRS [50]  WINDOW [8]  SIZE [1500]  DURATION [10s]  WARMUP [2s]
#   ROUNDS [20]  EVENTS [100]  OUT [none]
#   RATES ["5000 half 30000"]: latency rates, for every transport; half is
#   half that transport's relay median, 30000 half the 60,000/s target;
#   a rate above 90 % of a transport's relay median is skipped for it
#   SERVER_ENV [none]: extra environment for the server only, e.g. GOGC=400
#   SERVER_BIN [none]: run this switchboard binary instead of building one,
#   e.g. an older commit's, to compare in one session (same sbload)
#   SERVER_ARGS [the byte, session and join limits lifted]: server flags
#   besides -http, -turn and -rate-limit/-burst; "" for a build older than
#   those flags
#   QUIET_WAIT [120]: before each run, wait up to this many seconds for the
#   machine to be idle (under QUIET_CORES [0.3] cores busy); 0 skips it.
set -euo pipefail

RUNS=${RUNS:-3}
CONNS=${CONNS:-10000}
HOLD=${HOLD:-15s}
PAIRS=${PAIRS:-50}
WINDOW=${WINDOW:-8}
SIZE=${SIZE:-1500}
DURATION=${DURATION:-10s}
WARMUP=${WARMUP:-2s}
RATES=${RATES:-5000 half 30000}
TRANSPORTS=${TRANSPORTS:-ws sse poll}
ROUNDS=${ROUNDS:-20}
EVENTS=${EVENTS:-100}
OUT=${OUT:-}
SERVER_ENV=${SERVER_ENV:-}
LIFTED_LIMITS="-byte-rate 1073741824 -byte-burst 1073741824 -max-sessions-per-ip 10000000
	-join-rate 1000000 -join-burst 1000000 -room-join-rate 1000000 -room-join-burst 1000000"
SERVER_ARGS=${SERVER_ARGS-$LIFTED_LIMITS}
QUIET_WAIT=${QUIET_WAIT:-120}
QUIET_CORES=${QUIET_CORES:-0.3}

# Targets from the issues: 9 (WebSocket: 5 KB; SSE, polling: 8 KB).
TARGET_BYTES_PER_CONN=5120
TARGET_BYTES_PER_CONN_HTTP=8192
TARGET_MSGS=60000
TARGET_P99_MS=5
TARGET_SSE_P50_GAP_MS=2

scenarios=("$@")
if [ ${#scenarios[@]} -eq 0 ]; then
	scenarios=(idle relay latency resume)
fi
for s in "${scenarios[@]}"; do
	case $s in
	idle | relay | latency | resume) ;;
	-h | --help)
		sed -n '2,28s/^# \{0,1\}//p' "$0"
		exit 0
		;;
	*)
		echo "bench.sh: unknown scenario $s (idle, relay, latency, resume)" >&2
		exit 2
		;;
	esac
done

read -r -a transports <<<"$TRANSPORTS"
for t in "${transports[@]}"; do
	[[ $t == ws || $t == sse || $t == poll ]] || {
		echo "bench.sh: TRANSPORTS holds $t: want ws, sse or poll" >&2
		exit 2
	}
done
read -r -a rates <<<"$RATES"
for r in "${rates[@]}"; do
	[[ $r == half || $r =~ ^[0-9]+$ ]] || {
		echo "bench.sh: RATES holds $r: want half or a number" >&2
		exit 2
	}
done
if [[ " ${scenarios[*]} " == *" latency "* && " ${scenarios[*]} " != *" relay "* && " ${rates[*]} " == *" half "* ]]; then
	echo "bench.sh: RATES=half needs the relay scenario too; set RATES to numbers" >&2
	exit 2
fi

root=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d)
server_pid=""
addr=""

stop_server() {
	[ -n "$server_pid" ] || return 0
	kill -TERM "$server_pid" 2>/dev/null || true
	for _ in $(seq 150); do # graceful shutdown gets 15 s
		kill -0 "$server_pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$server_pid" 2>/dev/null || true
	wait "$server_pid" 2>/dev/null || true
	server_pid=""
}

cleanup() {
	stop_server
	if [ -n "$OUT" ]; then
		mkdir -p "$OUT"
		cp "$tmp"/*.json "$tmp"/*.log "$OUT"/ 2>/dev/null || true
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

die() {
	echo "bench.sh: $*" >&2
	exit 1
}

# The server and sbload each need a descriptor per session, and sbload a
# second one per SSE or poll session while it joins (at most
# -dial-concurrency at once). Raise the soft limit to the hard one; root
# with CAP_SYS_RESOURCE may also raise the hard limit, up to the kernel's
# fs.nr_open.
need=$((CONNS + 1000))
nr_open=$(cat /proc/sys/fs/nr_open 2>/dev/null || echo unknown)
if [ "$(ulimit -Hn)" != unlimited ] && [ "$(ulimit -Hn)" -lt "$need" ]; then
	ulimit -Hn "$need" 2>/dev/null || true
fi
ulimit -Sn "$(ulimit -Hn)" 2>/dev/null || true
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt "$need" ]; then
	die "open-file limit $(ulimit -n) is below CONNS+1000 = $need and could not be raised (the kernel allows $nr_open, fs.nr_open; the hard limit needs root with CAP_SYS_RESOURCE)"
fi
echo "open-file limit $(ulimit -n) (kernel: fs.nr_open $nr_open)" >&2
# One source address reaches the server's port from about 28,000
# ephemeral ports: spread idle WebSockets over one per 20,000.
sources=$(((CONNS + 19999) / 20000))

echo "building into $tmp" >&2
(cd "$root" && go build -o "$tmp/switchboard" ./cmd/switchboard && go build -o "$tmp/sbload" ./cmd/sbload)
if [ -n "${SERVER_BIN:-}" ]; then
	cp "$SERVER_BIN" "$tmp/switchboard" || die "SERVER_BIN $SERVER_BIN: cannot copy"
fi

# start_server runs a fresh server on a kernel-chosen port and reads the
# address back from its startup log line.
start_server() {
	local log=$1
	# shellcheck disable=SC2086 # SERVER_ENV is a list of NAME=value words
	# Every load client comes from 127.0.0.1 and sends flat out: lift the
	# per-session and per-address limits, which are for the open internet.
	# shellcheck disable=SC2086 # SERVER_ARGS is a list of flags
	env $SERVER_ENV "$tmp/switchboard" -http 127.0.0.1:0 -turn "" -rate-limit 1000000 -rate-burst 1000000 \
		$SERVER_ARGS -log-level info >"$log" 2>&1 &
	server_pid=$!
	addr=""
	for _ in $(seq 100); do
		addr=$(sed -n 's/.*msg="switchboard started".* http=\([0-9.]*:[0-9]*\).*/\1/p' "$log")
		[ -n "$addr" ] && break
		kill -0 "$server_pid" 2>/dev/null || die "server exited: $(cat "$log")"
		sleep 0.1
	done
	[ -n "$addr" ] || die "server did not start within 10 s: $(cat "$log")"
}

# busy_cores prints how many cores the whole machine kept busy over one
# second, from /proc/stat (user nice system irq softirq, in USER_HZ=100).
busy_cores() {
	local a b
	a=$(head -1 /proc/stat)
	sleep 1
	b=$(head -1 /proc/stat)
	awk -v a="$a" -v b="$b" 'BEGIN {
		split(a, x); split(b, y)
		printf "%.2f", ((y[2]+y[3]+y[4]+y[7]+y[8]) - (x[2]+x[3]+x[4]+x[7]+x[8])) / 100
	}'
}

# wait_quiet waits, a bounded time, for other work on a shared machine to
# stop, so that it does not eat into a run's cores.
wait_quiet() {
	[ "$QUIET_WAIT" -gt 0 ] || return 0
	local busy waited=0
	while :; do
		busy=$(busy_cores)
		waited=$((waited + 1))
		awk -v b="$busy" -v q="$QUIET_CORES" 'BEGIN { exit !(b < q) }' && return 0
		if [ "$waited" -ge "$QUIET_WAIT" ]; then
			echo "  machine still busy ($busy cores) after ${QUIET_WAIT}s; running anyway" >&2
			return 0
		fi
	done
}

# field NAME FILE prints a number from a one-line JSON summary.
field() {
	sed -n "s/.*\"$1\":\([-0-9.e+]*\).*/\1/p" "$2"
}

# median reads numbers, one per line, and prints their median.
median() {
	sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) print "nan"; else if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# med NAME PREFIX prints the median of a field over the runs' summaries.
med() {
	for f in "$tmp/$2".*.json; do field "$1" "$f"; done | median
}

# sbload_run NAME RUN ARGS... runs the load tool against a fresh server
# and keeps its JSON summary; a failed run is reported and kept.
sbload_run() {
	local name=$1 run=$2
	shift 2
	wait_quiet
	start_server "$tmp/server-$name.$run.log"
	# Other tenants of a shared machine show up here: keep it with the run.
	local load
	load=$(cut -d' ' -f1 /proc/loadavg)
	echo "$load" >>"$tmp/loadavg"
	local rc=0
	"$tmp/sbload" -url "ws://$addr/v1/ws" -server-pid "$server_pid" -metrics-url "http://$addr/metrics" \
		-json -progress off "$@" \
		>"$tmp/$name.$run.json" 2>"$tmp/sbload-$name.$run.log" || rc=$?
	local hwm
	hwm=$(sed -n 's/^VmHWM:[[:space:]]*\([0-9]*\) kB/\1/p' "/proc/$server_pid/status" 2>/dev/null || true)
	stop_server
	if [ $rc -ne 0 ]; then
		runs_failed=$((runs_failed + 1))
		echo "  run $run: sbload exited $rc:" >&2
		sed 's/^/    /' "$tmp/sbload-$name.$run.log" >&2
	fi
	[ -s "$tmp/$name.$run.json" ] || die "$name run $run printed no summary"
	echo "  run $run (loadavg $load): $(cat "$tmp/$name.$run.json")  server_vmhwm_kb=$hwm" >&2
	local other
	other=$(field other_cores "$tmp/$name.$run.json")
	runs_total=$((runs_total + 1))
	if awk -v o="${other:-0}" 'BEGIN { exit !(o > 0.2) }'; then
		runs_disturbed=$((runs_disturbed + 1))
		echo "  run $run: $other cores of other work ran alongside; its figures are suspect" >&2
	fi
}
runs_total=0
runs_disturbed=0
runs_failed=0

# ratio A B prints A/B to two decimals.
ratio() {
	awk -v a="$1" -v b="$2" 'BEGIN { if (b == 0 || a == "nan") print "nan"; else printf "%.2f", a / b }'
}

results=()

# relay_median TRANSPORT prints the transport's flat-out median, if run.
relay_median() {
	if ls "$tmp/relay-$1".*.json >/dev/null 2>&1; then med msgs_per_s "relay-$1"; else echo ""; fi
}

for s in "${scenarios[@]}"; do
	case $s in
	idle)
		for t in "${transports[@]}"; do
			echo "idle over $t: $CONNS sessions held $HOLD, $RUNS runs" >&2
			for run in $(seq "$RUNS"); do
				src=()
				[ "$t" != ws ] || src=(-sources "$sources")
				sbload_run "idle-$t" "$run" -scenario idle -transport "$t" -conns "$CONNS" -duration "$HOLD" "${src[@]}"
			done
			target=$TARGET_BYTES_PER_CONN
			[ "$t" = ws ] || target=$TARGET_BYTES_PER_CONN_HTTP
			per_conn=$(med rss_per_conn "idle-$t")
			results+=("$(printf 'idle     %-4s %d sessions: server RSS %.0f B/session (peak %.0f); Go heap %.0f B, stacks %.0f B; %.0f goroutines; connect %.0f/s, %.0f dropped; target <= %d B: %s x' \
				"$t" "$CONNS" "$per_conn" "$(med rss_peak_per_conn "idle-$t")" "$(med heap_inuse_per_conn "idle-$t")" \
				"$(med stack_inuse_per_conn "idle-$t")" "$(med goroutines_end "idle-$t")" "$(med connect_per_s "idle-$t")" \
				"$(med dropped "idle-$t")" "$target" "$(ratio "$per_conn" "$target")")")
		done
		;;
	relay)
		for t in "${transports[@]}"; do
			echo "relay over $t: $PAIRS pairs, window $WINDOW, $SIZE B offers, $DURATION after $WARMUP warm-up, $RUNS runs" >&2
			for run in $(seq "$RUNS"); do
				sbload_run "relay-$t" "$run" -scenario relay -transport "$t" -pairs "$PAIRS" -window "$WINDOW" -size "$SIZE" \
					-duration "$DURATION" -warmup "$WARMUP"
			done
			msgs=$(med msgs_per_s "relay-$t")
			line=$(printf 'relay    %-4s flat out: %.0f offers/s; p50 %.2f ms, p99 %.2f ms (queueing in the window); CPU: server %.2f, sbload %.2f, rest %.2f cores' \
				"$t" "$msgs" "$(med p50_ms "relay-$t")" "$(med p99_ms "relay-$t")" "$(med server_cores "relay-$t")" \
				"$(med client_cores "relay-$t")" "$(med other_cores "relay-$t")")
			if [ "$t" = ws ]; then
				line+="; target >= $TARGET_MSGS: $(ratio "$msgs" "$TARGET_MSGS") x"
			elif [ -n "$(relay_median ws)" ]; then
				line+="; $(ratio "$msgs" "$(relay_median ws)") x ws"
			fi
			results+=("$line")
		done
		;;
	latency)
		for rate0 in "${rates[@]}"; do
			for t in "${transports[@]}"; do
				rate=$rate0
				label=$rate
				max=$(relay_median "$t")
				if [ "$rate0" = half ]; then
					[ -n "$max" ] || die "RATES=half needs the relay scenario in the same invocation"
					rate=$(awk -v m="$max" 'BEGIN { printf "%.0f", m / 2 }')
					label="$rate (half its relay median)"
				elif [ -n "$max" ] && awk -v r="$rate" -v m="$max" 'BEGIN { exit !(r > 0.9 * m) }'; then
					results+=("$(printf 'latency  %-4s at %s offers/s: skipped, above 90 %% of its flat-out median %.0f/s' "$t" "$rate" "$max")")
					continue
				fi
				echo "latency over $t: $PAIRS pairs paced at $rate offers/s, $DURATION after $WARMUP warm-up, $RUNS runs" >&2
				p="latency-$t-$rate"
				for run in $(seq "$RUNS"); do
					sbload_run "$p" "$run" -scenario relay -transport "$t" -pairs "$PAIRS" -rate "$rate" -size "$SIZE" \
						-duration "$DURATION" -warmup "$WARMUP"
				done
				p99=$(med p99_ms "$p")
				p50=$(med p50_ms "$p")
				line=$(printf 'latency  %-4s at %s offers/s: %.0f relayed/s; p50 %.3f ms, p90 %.3f ms, p99 %.3f ms, max %.2f ms; sender lag max %.2f ms; CPU: server %.2f, sbload %.2f, rest %.2f cores' \
					"$t" "$label" "$(med msgs_per_s "$p")" "$p50" "$(med p90_ms "$p")" "$p99" \
					"$(med max_ms "$p")" "$(med max_lag_ms "$p")" "$(med server_cores "$p")" \
					"$(med client_cores "$p")" "$(med other_cores "$p")")
				if [ "$t" = ws ]; then
					line+="; target p99 <= $TARGET_P99_MS ms: $(ratio "$p99" "$TARGET_P99_MS") x"
					# Send to arrival at sbload's socket: its own read delay left out.
					line+=$(printf '; to arrival: p50 %.3f ms, p99 %.3f ms, max %.2f ms' \
						"$(med arrival_p50_ms "$p")" "$(med arrival_p99_ms "$p")" "$(med arrival_max_ms "$p")")
				elif ls "$tmp/latency-ws-$rate".*.json >/dev/null 2>&1; then
					gap=$(awk -v a="$p50" -v b="$(med p50_ms "latency-ws-$rate")" 'BEGIN { printf "%.3f", a - b }')
					line+="; p50 $gap ms above ws"
					[ "$t" = sse ] && line+=" (target <= $TARGET_SSE_P50_GAP_MS ms)"
				fi
				results+=("$line")
			done
		done
		;;
	resume)
		for t in "${transports[@]}"; do
			echo "resume over $t: $ROUNDS rounds of $EVENTS offers of $SIZE B, $RUNS runs" >&2
			for run in $(seq "$RUNS"); do
				sbload_run "resume-$t" "$run" -scenario resume -transport "$t" -rounds "$ROUNDS" -events "$EVENTS" -size "$SIZE"
			done
			results+=("$(printf 'resume   %-4s %d offers replayed: reconnect to last p50 %.3f ms, p99 %.3f ms, max %.3f ms; to first p50 %.3f ms; %.0f of %d rounds' \
				"$t" "$EVENTS" "$(med p50_ms "resume-$t")" "$(med p99_ms "resume-$t")" "$(med max_ms "resume-$t")" \
				"$(med first_p50_ms "resume-$t")" "$(med completed "resume-$t")" "$ROUNDS")")
		done
		;;
	esac
done

echo
echo "switchboard bench: $(nproc) cores, $(go version | cut -d' ' -f3), $(uname -sr); medians of $RUNS runs${SERVER_ENV:+; server env: $SERVER_ENV}${SERVER_BIN:+; server binary: $SERVER_BIN}"
echo "1-min load average at run starts (includes the previous run): median $(median <"$tmp/loadavg"), max $(sort -g "$tmp/loadavg" | tail -1)"
if [ "$runs_failed" -gt 0 ]; then
	echo "WARNING: sbload reported errors in $runs_failed of $runs_total runs (see above); their figures are included"
fi
if [ "$runs_disturbed" -gt 0 ]; then
	echo "WARNING: $runs_disturbed of $runs_total runs shared the cores with over 0.2 cores of other work; re-run when the machine is quiet"
fi
printf '%s\n' "${results[@]}"
