#!/usr/bin/env bash
# Relay throughput and latency across processes, memory against Redis:
# a redis-server, an in-memory node and three -redis nodes on 127.0.0.1,
# and sbload relaying flat out (16 pairs, 8 offers in flight) to the
# memory node, to one Redis-backed node, and with each pair split across
# two of them (-peer-url). For the Redis runs it also reads Redis's own
# INFO before and after: its CPU (user + sys) and the scripts it ran per
# relayed offer. RUNS rounds [3]; figures in docs/benchmarks.md.
set -u
cd "$(dirname "$0")/.."
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
# SERVER_BIN: a switchboard binary to measure instead of this tree's.
if [ -n "${SERVER_BIN:-}" ]; then cp "$SERVER_BIN" "$dir/switchboard"; else go build -o "$dir/switchboard" ./cmd/switchboard || exit 1; fi
go build -o "$dir/sbload" ./cmd/sbload || exit 1
cd "$dir"
free() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
R=$(free); M=$(free); A=$(free); B=$(free); C=$(free)
redis-server --port $R --bind 127.0.0.1 --save '' --appendonly no >redis.log 2>&1 & RP=$!
for i in $(seq 50); do redis-cli -p $R ping >/dev/null 2>&1 && break; sleep 0.1; done
LIM="-rate-limit 1000000 -rate-burst 1000000 -byte-rate 1073741824 -byte-burst 1073741824 -max-sessions-per-ip 10000000 -join-rate 1000000 -join-burst 1000000 -room-join-rate 1000000 -room-join-burst 1000000 -turn= -log-level warn"
./switchboard -http 127.0.0.1:$M -state-file off $LIM 2>m.log & MP=$!
./switchboard -http 127.0.0.1:$A $LIM -redis redis://127.0.0.1:$R 2>a.log & AP=$!
./switchboard -http 127.0.0.1:$B $LIM -redis redis://127.0.0.1:$R 2>b.log & BP=$!
./switchboard -http 127.0.0.1:$C $LIM -redis redis://127.0.0.1:$R 2>c.log & CP=$!
for p in $M $A $B $C; do for i in $(seq 100); do curl -fs http://127.0.0.1:$p/healthz >/dev/null && break; sleep 0.1; done; done
redis_cpu() { redis-cli -p $R info cpu | awk -F: '/^used_cpu_(sys|user):/{s+=$2} END{printf "%.6f", s}'; }
redis_calls() { redis-cli -p $R info commandstats | awk -F'[=,:]' '/^cmdstat_(evalsha|eval):/{s+=$3} END{print s+0}'; }
# redis_run LABEL SBLOAD-ARGS...: one sbload run with Redis's CPU and
# script calls per relayed offer.
redis_run() {
  local label=$1; shift
  local cpu0 calls0 out
  cpu0=$(redis_cpu); calls0=$(redis_calls)
  out=$(./sbload "$@" -json -progress off 2>/dev/null)
  echo "$out" | python3 -c '
import json, sys
d = json.loads(sys.stdin.read())
cpu, calls = float(sys.argv[2]) - float(sys.argv[1]), int(sys.argv[4]) - int(sys.argv[3])
n = max(d["received"], 1)
print("  %-10s %8.0f offers/s  p50 %6.2f ms  p99 %6.2f ms  redis %5.1f us/offer  %4.2f scripts/offer" % (
    sys.argv[5], d["msgs_per_s"], d["p50_ms"], d["p99_ms"], cpu / n * 1e6, calls / n))
' "$cpu0" "$(redis_cpu)" "$calls0" "$(redis_calls)" "$label"
}
for run in $(seq "${RUNS:-3}"); do
  echo "run $run load $(cut -d' ' -f1 /proc/loadavg)"
  redis_run memory -url ws://127.0.0.1:$M/v1/ws -pairs 16 -window 8 -duration 5s -warmup 1s
  redis_run memory-5k/s -url ws://127.0.0.1:$M/v1/ws -pairs 16 -rate 5000 -duration 5s -warmup 1s
  redis_run same-node -url ws://127.0.0.1:$A/v1/ws -pairs 16 -window 8 -duration 5s -warmup 1s
  redis_run cross-node -url ws://127.0.0.1:$A/v1/ws -peer-url ws://127.0.0.1:$B/v1/ws -pairs 16 -window 8 -duration 5s -warmup 1s
  redis_run cross-5k/s -url ws://127.0.0.1:$A/v1/ws -peer-url ws://127.0.0.1:$B/v1/ws -pairs 16 -rate 5000 -duration 5s -warmup 1s
done
kill $MP $AP $BP $CP; wait $MP $AP $BP $CP 2>/dev/null; kill $RP; wait $RP 2>/dev/null
