#!/usr/bin/env bash
# The one test command (README, .ci/run): installs the real components the
# tests drive when they are missing (Chromium, coturn's clients, Redis,
# HAProxy, Node and npm, iproute2 and nftables for the NAT lab), then runs formatting and
# vet checks and every test under the race detector.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v turnutils_uclient >/dev/null 2>&1 || missing+=(coturn)
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
command -v haproxy >/dev/null 2>&1 || missing+=(haproxy)
# The JavaScript client's tests (web/client/test): node --test, and npm
# for their dependencies (typescript, ws), which TestJSClient* install
# from the lock file into web/client/test/node_modules.
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)
# The NAT lab (scripts/natlab.sh): namespaces, veth pairs, nftables, and
# conntrack to make a router forget its mappings mid-call.
command -v ip >/dev/null 2>&1 || missing+=(iproute2)
command -v nft >/dev/null 2>&1 || missing+=(nftables)
command -v conntrack >/dev/null 2>&1 || missing+=(conntrack)
if ((${#missing[@]})); then
  sudo=""
  [ "$(id -u)" = 0 ] || sudo="sudo"
  if command -v apt-get >/dev/null 2>&1; then
    echo "installing ${missing[*]}" >&2
    $sudo apt-get update
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y --no-install-recommends "${missing[@]}"
  else
    echo "not installed: ${missing[*]}; their tests skip locally and fail under CI=true" >&2
  fi
fi

unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then
  echo "gofmt needed:" $unformatted >&2
  exit 1
fi
go vet ./...
# The binaries the tests run as processes are built once per run, here,
# and shared (SB_BIN): no test's deadline includes a build.
bins=$(mktemp -d)
trap 'rm -rf "$bins"' EXIT
CGO_ENABLED=0 go build -trimpath -ldflags "$(sh scripts/ldflags.sh)" -o "$bins/switchboard" ./cmd/switchboard
export SB_BIN=$bins/switchboard
# cmd/switchboard holds the browser and end-to-end tests. The few that
# must not run beside anything (parallel_test.go, aloneTests: t.Setenv, and
# Chromium calls whose timing a busy machine upset) run first, on a quiet
# machine. Then the rest of it runs side by side with every other
# package's tests: inside the package, tests run in parallel in slots of
# their own (one Chromium test at a time, two others beside it); -parallel
# is only Go's upper bound, set high so that a test parked for a slot of
# one kind does not hold back the other kind.
SB_TESTS=alone go test -race -count=1 -timeout 20m ./cmd/switchboard
SB_TESTS=together go test -race -count=1 -timeout 20m -parallel 32 ./cmd/switchboard >"$bins/e2e.log" 2>&1 &
e2e=$!
rc=0
go test -race -count=1 -timeout 20m $(go list ./... | grep -v '/cmd/switchboard$') || rc=1
wait "$e2e" || rc=1
cat "$bins/e2e.log"
exit $rc
