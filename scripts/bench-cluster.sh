#!/usr/bin/env bash
# Relay throughput and latency across processes, memory against Redis:
# a redis-server, an in-memory node and three -redis nodes on 127.0.0.1,
# and sbload relaying flat out (16 pairs, 8 offers in flight) to the
# memory node, to one Redis-backed node, and with each pair split across
# two of them (-peer-url). RUNS rounds [3]; figures in docs/benchmarks.md.
set -u
cd "$(dirname "$0")/.."
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
go build -o "$dir/switchboard" ./cmd/switchboard && go build -o "$dir/sbload" ./cmd/sbload || exit 1
cd "$dir"
free() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
R=$(free); M=$(free); A=$(free); B=$(free); C=$(free)
redis-server --port $R --bind 127.0.0.1 --save '' --appendonly no >redis.log 2>&1 & RP=$!
for i in $(seq 50); do redis-cli -p $R ping >/dev/null 2>&1 && break; sleep 0.1; done
LIM="-rate-limit 1000000 -rate-burst 1000000 -byte-rate 1073741824 -byte-burst 1073741824 -max-sessions-per-ip 10000000 -join-rate 1000000 -join-burst 1000000 -room-join-rate 1000000 -room-join-burst 1000000 -turn= -log-level warn"
./switchboard -http 127.0.0.1:$M $LIM 2>m.log & MP=$!
./switchboard -http 127.0.0.1:$A $LIM -redis redis://127.0.0.1:$R 2>a.log & AP=$!
./switchboard -http 127.0.0.1:$B $LIM -redis redis://127.0.0.1:$R 2>b.log & BP=$!
./switchboard -http 127.0.0.1:$C $LIM -redis redis://127.0.0.1:$R 2>c.log & CP=$!
for p in $M $A $B $C; do for i in $(seq 100); do curl -fs http://127.0.0.1:$p/healthz >/dev/null && break; sleep 0.1; done; done
for run in $(seq "${RUNS:-3}"); do
  echo "run $run load $(cut -d' ' -f1 /proc/loadavg)"
  ./sbload -url ws://127.0.0.1:$M/v1/ws -pairs 16 -window 8 -duration 5s -warmup 1s -server-pid $MP -progress off 2>&1 | grep -iE "offers/s|p50|relayed" | head -3 | sed 's/^/  memory     /'
  ./sbload -url ws://127.0.0.1:$A/v1/ws -pairs 16 -window 8 -duration 5s -warmup 1s -server-pid $AP -progress off 2>&1 | grep -iE "offers/s|p50|relayed" | head -3 | sed 's/^/  same-node  /'
  ./sbload -url ws://127.0.0.1:$A/v1/ws -peer-url ws://127.0.0.1:$B/v1/ws -pairs 16 -window 8 -duration 5s -warmup 1s -server-pid $AP -progress off 2>&1 | grep -iE "offers/s|p50|relayed" | head -3 | sed 's/^/  cross-node /'
done
kill $MP $AP $BP $CP; wait $MP $AP $BP $CP 2>/dev/null; kill $RP; wait $RP 2>/dev/null
