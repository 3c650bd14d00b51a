#!/usr/bin/env bash
# Idle sessions spread over a cluster: a redis-server and NODES [6]
# -redis nodes on 127.0.0.1, and one sbload per node holding PER_NODE
# [16700] idle WebSocket sessions in two-peer rooms (spread over
# -sources, for the ephemeral ports). Reports each node's RSS per session
# (sbload's samples of its server's VmRSS) and Redis's used_memory per
# session, read while every session is held. The open-file limit here is
# 20,000 per process, hence six nodes for 100,000 sessions.
# SERVER_BIN: a switchboard binary to measure instead of this tree's.
# Figures in docs/benchmarks.md.
set -u
cd "$(dirname "$0")/.."
NODES=${NODES:-6} PER_NODE=${PER_NODE:-16700} HOLD=${HOLD:-60s}
dir=$(mktemp -d)
pids=()
stop() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
  wait 2>/dev/null
  rm -rf "$dir"
}
trap stop EXIT
[ -n "${KEEP:-}" ] && trap - EXIT # KEEP=1: leave the processes and logs for a look
if [ -n "${SERVER_BIN:-}" ]; then cp "$SERVER_BIN" "$dir/switchboard"; else go build -o "$dir/switchboard" ./cmd/switchboard || exit 1; fi
go build -o "$dir/sbload" ./cmd/sbload || exit 1
cd "$dir"
free() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
R=$(free)
redis-server --port "$R" --bind 127.0.0.1 --save '' --appendonly no >redis.log 2>&1 & pids+=($!)
for _ in $(seq 50); do redis-cli -p "$R" ping >/dev/null 2>&1 && break; sleep 0.1; done
base=$(redis-cli -p "$R" info memory | awk -F: '/^used_memory:/{print $2+0}')
LIM="-max-sessions-per-ip 10000000 -join-rate 1000000 -join-burst 1000000 -room-join-rate 1000000 -room-join-burst 1000000 -max-sessions 1000000 -turn= -log-level warn"
ports=() npids=() lpids=()
for i in $(seq "$NODES"); do
  p=$(free)
  ./switchboard -http 127.0.0.1:"$p" $LIM -redis redis://127.0.0.1:"$R" 2>"node$i.log" & pids+=($!)
  ports+=("$p") npids+=($!)
done
for p in "${ports[@]}"; do for _ in $(seq 100); do curl -fs "http://127.0.0.1:$p/healthz" >/dev/null && break; sleep 0.1; done; done
for i in $(seq 0 $((NODES - 1))); do
  ./sbload -scenario idle -url "ws://127.0.0.1:${ports[$i]}/v1/ws" -conns "$PER_NODE" -duration "$HOLD" \
    -sources 8 -server-pid "${npids[$i]}" -json -progress off >"load$i.json" 2>"load$i.err" &
  pids+=($!)
  lpids+=($!)
done
# Redis is read once every session is in: a key each at least (its
# record), and a key count unchanged for 3 s (bounded: 10
# minutes). DBSIZE is O(1); KEYS would stall Redis under the very load
# measured.
want=$((NODES * PER_NODE))
last=-1 same=0
for _ in $(seq 600); do
  keys=$(redis-cli -p "$R" dbsize)
  if [ "$keys" -ge $((want * 99 / 100)) ] && [ "$keys" = "$last" ]; then same=$((same + 1)); else same=0; fi
  [ "$same" -ge 3 ] && break
  last=$keys
  sleep 1
done
used=$(redis-cli -p "$R" info memory | awk -F: '/^used_memory:/{print $2+0}')
for p in "${lpids[@]}"; do wait "$p"; done
python3 - "$want" "$base" "$used" "$keys" load*.json <<'EOF'
import json, sys
want, base, used, keys = map(int, sys.argv[1:5])
rss, n, errors = [], 0, 0
for f in sys.argv[5:]:
    d = json.load(open(f))
    rss.append(d.get("rss_per_conn", 0))
    n += d.get("connected", 0)
    errors += d.get("errors", 0) - d.get("dropped", 0)
rss.sort()
print("setup errors %d" % errors)
print("sessions %d (of %d), redis keys %d" % (n, want, keys))
print("node RSS per session: median %.0f B (min %.0f, max %.0f) over %d nodes" % (rss[len(rss)//2], rss[0], rss[-1], len(rss)))
print("redis used_memory per session: %.0f B" % ((used - base) / max(n, 1)))
EOF
