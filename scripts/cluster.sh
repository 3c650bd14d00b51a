#!/usr/bin/env bash
# Runs the docker-compose.yml topology on this machine without Docker:
# redis-server, one `switchboard turn` relay, two switchboard nodes sharing
# Redis, and HAProxy in front of them (scripts/haproxy.cfg), all on
# 127.0.0.1 (Debian: apt-get install redis-server haproxy). Prints the URL
# to open, then runs until interrupted; everything stops with it.
# Ports: SB_PORT (HAProxy, 8080), SB_NODE1_PORT (8081), SB_NODE2_PORT
# (8082), SB_REDIS_PORT (6390), SB_TURN_PORT (3478). SB_BIN: a switchboard
# binary to use instead of building one.
set -euo pipefail
cd "$(dirname "$0")/.."
port=${SB_PORT:-8080} node1=${SB_NODE1_PORT:-8081} node2=${SB_NODE2_PORT:-8082}
redis_port=${SB_REDIS_PORT:-6390} turn_port=${SB_TURN_PORT:-3478}
secret=${SWITCHBOARD_TURN_SECRET:-$(head -c 18 /dev/urandom | base64)}
for cmd in redis-server haproxy curl; do
  command -v "$cmd" >/dev/null || { echo "cluster.sh: $cmd is not installed" >&2; exit 1; }
done

dir=$(mktemp -d)
pids=()
stop() {
  trap - EXIT INT TERM
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$dir"
}
trap stop EXIT
trap 'exit 0' INT TERM

bin=${SB_BIN:-}
if [ -z "$bin" ]; then
  bin=$dir/switchboard
  CGO_ENABLED=0 go build -trimpath -ldflags "$(sh scripts/ldflags.sh)" -o "$bin" ./cmd/switchboard
fi

redis-server --bind 127.0.0.1 --port "$redis_port" --save '' --appendonly no --logfile "$dir/redis.log" &
pids+=($!)
# A short drain: a browser that went away leaves its allocations behind,
# and stopping the script should not wait out their lifetime.
"$bin" turn --listening-ip 127.0.0.1 --listening-port "$turn_port" --use-auth-secret \
  --static-auth-secret "$secret" --realm switchboard --allow-loopback-peers \
  --min-port 49152 --max-port 65535 --shutdown-timeout 2s 2>"$dir/turn.log" &
pids+=($!)
# The nodes start once Redis answers (bounded: 10 s).
for _ in $(seq 100); do
  (exec 3<>"/dev/tcp/127.0.0.1/$redis_port") 2>/dev/null && break
  sleep 0.1
done
for p in "$node1" "$node2"; do
  # -turn= : no bundled relay, the pool's instead (an empty variable
  # would mean "unset"). Each node's own URL comes first in -public-url:
  # joined names it as the room's owner, and the page, served through
  # HAProxy (the second URL, so its origin is accepted), moves there.
  SWITCHBOARD_HTTP="127.0.0.1:$p" SWITCHBOARD_REDIS="redis://127.0.0.1:$redis_port" \
    SWITCHBOARD_PUBLIC_URL="http://127.0.0.1:$p,http://127.0.0.1:$port" \
    SWITCHBOARD_TURN_URLS="127.0.0.1:$turn_port" SWITCHBOARD_TURN_SECRET="$secret" \
    SWITCHBOARD_TRUSTED_PROXIES="127.0.0.1/32" \
    "$bin" -turn= 2>"$dir/node-$p.log" &
  pids+=($!)
done
SB_FRONT="127.0.0.1:$port" SB_NODE1="127.0.0.1:$node1" SB_NODE2="127.0.0.1:$node2" \
  haproxy -f scripts/haproxy.cfg -db 2>"$dir/haproxy.log" &
pids+=($!)

# Ready when both nodes are, through HAProxy's front too (bounded: 30 s).
ready=""
for _ in $(seq 300); do
  if curl -fsS "http://127.0.0.1:$node1/readyz" >/dev/null 2>&1 &&
    curl -fsS "http://127.0.0.1:$node2/readyz" >/dev/null 2>&1 &&
    curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1; then
    ready=1
    break
  fi
  sleep 0.1
done
if [ -z "$ready" ]; then
  echo "cluster.sh: the cluster did not become ready; logs:" >&2
  tail -n 20 "$dir"/*.log >&2
  exit 1
fi
echo "cluster ready: open http://127.0.0.1:$port/ (nodes :$node1 :$node2, redis :$redis_port, turn :$turn_port; logs in $dir)"
wait -n "${pids[@]}" || true
echo "cluster.sh: a process exited; stopping" >&2
tail -n 20 "$dir"/*.log >&2
