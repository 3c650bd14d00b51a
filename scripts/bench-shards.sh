#!/usr/bin/env bash
# Shards that add up: for 1, 2 and 3 independent redis-servers (SHARDS
# lists the counts [1 2 3]), three -redis nodes on 127.0.0.1 take the
# shard list, and sbload relays flat out with each pair split across two
# nodes (PAIRS two-peer rooms [240], 2 offers in flight each). From each
# Redis's INFO before and after: the scripts each shard ran (its share of
# the commands, and the largest deviation from the mean share) and the
# CPU of all shards together per relayed offer. RUNS rounds [3]. On a
# 2-core machine the shards share the cores with the nodes and sbload, so
# this shows the split and the cost per relay, not wall-clock scaling.
set -u
cd "$(dirname "$0")/.."
dir=$(mktemp -d)
pids=()
trap 'kill "${pids[@]}" 2>/dev/null; wait 2>/dev/null; rm -rf "$dir"' EXIT
if [ -n "${SERVER_BIN:-}" ]; then cp "$SERVER_BIN" "$dir/switchboard"; else go build -o "$dir/switchboard" ./cmd/switchboard || exit 1; fi
go build -o "$dir/sbload" ./cmd/sbload || exit 1
cd "$dir"
free() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
LIM="-rate-limit 1000000 -rate-burst 1000000 -byte-rate 1073741824 -byte-burst 1073741824 -max-sessions-per-ip 10000000 -join-rate 1000000 -join-burst 1000000 -room-join-rate 1000000 -room-join-burst 1000000 -turn= -log-level warn"
PAIRS=${PAIRS:-240}
cpu() { redis-cli -p "$1" info cpu | awk -F: '/^used_cpu_(sys|user):/{s+=$2} END{printf "%.6f", s}'; }
calls() { redis-cli -p "$1" info commandstats | awk -F'[=,:]' '/^cmdstat_(evalsha|eval):/{s+=$3} END{print s+0}'; }
for run in $(seq "${RUNS:-3}"); do
  for n in ${SHARDS:-1 2 3}; do
    ports=(); urls=()
    for i in $(seq "$n"); do
      p=$(free); ports+=("$p"); urls+=("redis://127.0.0.1:$p")
      redis-server --port "$p" --bind 127.0.0.1 --save '' --appendonly no >"redis-$p.log" 2>&1 & pids+=($!)
      for _ in $(seq 50); do redis-cli -p "$p" ping >/dev/null 2>&1 && break; sleep 0.1; done
    done
    list=$(IFS=,; echo "${urls[*]}")
    nodes=(); node_pids=()
    for i in 1 2 3; do
      p=$(free); nodes+=("$p")
      ./switchboard -http 127.0.0.1:$p $LIM -redis "$list" 2>"node-$n-$i.log" & node_pids+=($!); pids+=($!)
    done
    for p in "${nodes[@]}"; do for _ in $(seq 100); do curl -fs http://127.0.0.1:$p/readyz >/dev/null && break; sleep 0.1; done; done
    before_cpu=(); before_calls=()
    for p in "${ports[@]}"; do before_cpu+=("$(cpu "$p")"); before_calls+=("$(calls "$p")"); done
    out=$(./sbload -url ws://127.0.0.1:${nodes[0]}/v1/ws -peer-url ws://127.0.0.1:${nodes[1]}/v1/ws \
      -pairs "$PAIRS" -window 2 -duration 5s -warmup 1s -json -progress off 2>/dev/null)
    after=()
    for i in "${!ports[@]}"; do
      p=${ports[$i]}
      after+=("$(python3 -c "print($(cpu "$p") - ${before_cpu[$i]}, $(calls "$p") - ${before_calls[$i]})")")
    done
    printf '%s\n' "${after[@]}" | python3 -c '
import json, sys
d = json.loads(sys.argv[1])
rows = [tuple(map(float, l.split())) for l in sys.stdin if l.strip()]
n = max(d["received"], 1)
cpu = sum(r[0] for r in rows)
calls = [r[1] for r in rows]
mean = sum(calls) / len(calls)
shares = " ".join("%.1f%%" % (100 * c / sum(calls)) for c in calls)
dev = max(abs(c - mean) / mean for c in calls) * 100
print("  run %s  %d shard(s)  %8.0f offers/s  p50 %6.2f ms  redis %5.1f us/offer (all shards)  %4.2f scripts/offer  shares %s  max dev %4.1f%%" % (
    sys.argv[2], len(rows), d["msgs_per_s"], d["p50_ms"], cpu / n * 1e6, sum(calls) / n, shares, dev))
' "$out" "$run"
    kill "${node_pids[@]}"; wait "${node_pids[@]}" 2>/dev/null
    for p in "${ports[@]}"; do redis-cli -p "$p" shutdown nosave >/dev/null 2>&1; done
  done
done
