#!/usr/bin/env bash
# The cluster soak: a redis-server, three -redis nodes (WebSockets closed
# with `4000 resume` every WS_MAX_AGE [20s], event streams every 15 s,
# polls held 5 s) behind HAProxy in plain round robin, and sbsoak's
# SESSIONS [600] sessions in rooms of four on ws, sse and poll (a third
# each; the ws third falls back and climbs back) sending RATE [2]
# messages/s each for DURATION [180s]. Meanwhile, at fixed shares of the
# run: Redis paused (SIGSTOP) for 5 s; a node SIGKILLed and started again
# 5 s later; Redis kept busy for 10 s by scripts of ~100 ms each (CPU
# pressure: every call waits). sbsoak then reconciles every
# sender→receiver pair and exits non-zero on a frame lost (beyond the
# refused ones), duplicated, reordered or delivered to a session that was
# not told it joined or of its sender. Loopback only; nothing is left
# running on any exit. FAULTS lists the faults [pause kill busy]; empty
# runs the churn alone. Figures in docs/benchmarks.md.
set -u
cd "$(dirname "$0")/.."
for cmd in redis-server redis-cli haproxy; do
  command -v "$cmd" >/dev/null || { echo "soak.sh: $cmd is not installed" >&2; exit 1; }
done
dir=$(mktemp -d)
pids=()
stop() {
  [ -n "${RP:-}" ] && kill -CONT "$RP" 2>/dev/null
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done
  wait 2>/dev/null
  rm -rf "$dir"
}
trap stop EXIT
go build -o "$dir/switchboard" ./cmd/switchboard || exit 1
go build -o "$dir/sbsoak" ./cmd/sbsoak || exit 1
cfg=$PWD/scripts/haproxy.cfg
cd "$dir"
free() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
R=$(free) F=$(free) N1=$(free) N2=$(free) N3=$(free)
redis-server --port "$R" --bind 127.0.0.1 --save '' --appendonly no >redis.log 2>&1 & RP=$!; pids+=($RP)
for _ in $(seq 50); do redis-cli -p "$R" ping >/dev/null 2>&1 && break; sleep 0.1; done
LIM="-rate-limit 1000000 -rate-burst 1000000 -byte-rate 1073741824 -byte-burst 1073741824 -max-sessions-per-ip 10000000 -max-conns-per-ip 10000000 -join-rate 1000000 -join-burst 1000000 -room-join-rate 1000000 -room-join-burst 1000000 -turn= -log-level warn -trusted-proxies 127.0.0.1/32"
node() { # node PORT: start (or start again) the node on PORT
  ./switchboard -http 127.0.0.1:"$1" $LIM -redis redis://127.0.0.1:"$R" -ws-max-age "${WS_MAX_AGE:-20s}" \
    -sse-max-age 15s -poll-wait 5s 2>>"node$1.log" &
  eval "NODE_$1=$!"; pids+=($!)
}
for p in "$N1" "$N2" "$N3"; do node "$p"; done
for p in "$N1" "$N2" "$N3"; do for _ in $(seq 100); do curl -fs "http://127.0.0.1:$p/readyz" >/dev/null && break; sleep 0.1; done; done
SB_ROUNDROBIN=1 SB_FRONT=127.0.0.1:$F SB_NODE1=127.0.0.1:$N1 SB_NODE2=127.0.0.1:$N2 SB_NODE3=127.0.0.1:$N3 \
  haproxy -db -f "$cfg" 2>haproxy.log & pids+=($!)
for _ in $(seq 100); do curl -fs "http://127.0.0.1:$F/healthz" >/dev/null && break; sleep 0.1; done
D=${DURATION:-180}
./sbsoak -url "http://127.0.0.1:$F" -sessions "${SESSIONS:-600}" -rate "${RATE:-2}" -duration "${D}s" -drain 30s >report.json & SP=$!; pids+=($SP)
at() { # at SHARE: sleep until SHARE percent of the run
  local t=$(( D * $1 / 100 - ${elapsed:-0} ))
  [ "$t" -gt 0 ] && sleep "$t"
  elapsed=$(( D * $1 / 100 ))
}
FAULTS=${FAULTS-pause kill busy}
case " $FAULTS " in *" pause "*)
  at 20; echo "$(date +%T) redis paused 5 s"; kill -STOP "$RP"; sleep 5; kill -CONT "$RP";;
esac
case " $FAULTS " in *" kill "*)
  at 45; echo "$(date +%T) node $N3 killed (SIGKILL), started again 5 s later"; kill -9 "$(eval echo \$NODE_$N3)"; sleep 5; node "$N3";;
esac
case " $FAULTS " in *" busy "*)
  at 70; echo "$(date +%T) redis busy for 10 s"
  end=$((SECONDS + 10))
  while [ $SECONDS -lt $end ]; do redis-cli -p "$R" eval 'local i=0 while i<2000000 do i=i+1 end return i' 0 >/dev/null; done;;
esac
wait "$SP"; rc=$?
cat report.json
grep -h -E "level=(ERROR|WARN)" node*.log | sed -E 's/^time=[^ ]+ //; s/ (session|node|err|host)=("[^"]*"|[^ ]+)//g' | sort | uniq -c | sort -rn | head -15
exit $rc
