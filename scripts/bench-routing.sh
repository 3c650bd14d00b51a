#!/usr/bin/env bash
# Round robin against hashing in front of a cluster: a redis-server, two
# -redis nodes and two HAProxys on 127.0.0.1 (scripts/haproxy.cfg, one in
# `balance roundrobin`, one hashing), and sbload relaying over SSE and
# long-polling through each at RATE [1000] offers/s (16 pairs). sbload
# sends no room= parameter, so the hashing HAProxy keeps all of its
# requests on one node: the best case of hashing, against every request
# anywhere. RUNS rounds [3]; figures in docs/benchmarks.md.
set -u
cd "$(dirname "$0")/.."
for cmd in redis-server haproxy; do
  command -v "$cmd" >/dev/null || { echo "bench-routing.sh: $cmd is not installed" >&2; exit 1; }
done
dir=$(mktemp -d)
pids=()
stop() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
  wait 2>/dev/null
  rm -rf "$dir"
}
trap stop EXIT
if [ -n "${SERVER_BIN:-}" ]; then cp "$SERVER_BIN" "$dir/switchboard"; else go build -o "$dir/switchboard" ./cmd/switchboard || exit 1; fi
go build -o "$dir/sbload" ./cmd/sbload || exit 1
cfg=$PWD/scripts/haproxy.cfg
cd "$dir"
free() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
R=$(free) A=$(free) B=$(free) RR=$(free) H=$(free)
redis-server --port "$R" --bind 127.0.0.1 --save '' --appendonly no >redis.log 2>&1 & pids+=($!)
for _ in $(seq 50); do redis-cli -p "$R" ping >/dev/null 2>&1 && break; sleep 0.1; done
LIM="-rate-limit 1000000 -rate-burst 1000000 -byte-rate 1073741824 -byte-burst 1073741824 -max-sessions-per-ip 10000000 -max-conns-per-ip 10000000 -join-rate 1000000 -join-burst 1000000 -room-join-rate 1000000 -room-join-burst 1000000 -turn= -log-level warn -trusted-proxies 127.0.0.1/32"
for p in "$A" "$B"; do
  ./switchboard -http 127.0.0.1:"$p" $LIM -redis redis://127.0.0.1:"$R" 2>"node$p.log" & pids+=($!)
done
for p in "$A" "$B"; do for _ in $(seq 100); do curl -fs "http://127.0.0.1:$p/healthz" >/dev/null && break; sleep 0.1; done; done
SB_ROUNDROBIN=1 SB_FRONT=127.0.0.1:$RR SB_NODE1=127.0.0.1:$A SB_NODE2=127.0.0.1:$B haproxy -db -f "$cfg" 2>rr.log & pids+=($!)
SB_FRONT=127.0.0.1:$H SB_NODE1=127.0.0.1:$A SB_NODE2=127.0.0.1:$B haproxy -db -f "$cfg" 2>hash.log & pids+=($!)
for p in "$RR" "$H"; do for _ in $(seq 100); do curl -fs "http://127.0.0.1:$p/healthz" >/dev/null && break; sleep 0.1; done; done
for run in $(seq "${RUNS:-3}"); do
  echo "run $run load $(cut -d' ' -f1 /proc/loadavg)"
  for t in sse poll; do
    for route in "roundrobin $RR" "hash $H"; do
      set -- $route
      ./sbload -url "ws://127.0.0.1:$2/v1/ws" -transport "$t" -pairs 16 -rate "${RATE:-1000}" -duration 5s -warmup 1s -json -progress off 2>/dev/null |
        python3 -c '
import json, sys
d = json.load(sys.stdin)
print("  %-4s %-10s %6.0f offers/s  p50 %6.2f ms  p99 %6.2f ms  sent %d received %d  errors %d %s" % (
    sys.argv[1], sys.argv[2], d["msgs_per_s"], d["p50_ms"], d["p99_ms"], d["sent"], d["received"], d["errors"],
    json.dumps(d.get("error_kinds") or {})))
' "$t" "$1"
    done
  done
done
