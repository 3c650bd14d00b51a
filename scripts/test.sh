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
# The browser and end-to-end tests (cmd/switchboard) run on their own,
# after the rest: on a 2-core machine, real Chromium calls that shared it
# with the other packages' load tests flaked (TestBrowserLayout saw no
# active speaker in 2 of about 6 full runs; alone it passes). Inside the
# package, tests run in parallel in slots of their own (parallel_test.go:
# one Chromium test at a time, two others beside it); -parallel is
# only Go's upper bound, set high so that a test parked for a slot of one
# kind does not hold back the other kind.
go test -race -count=1 -timeout 20m $(go list ./... | grep -v '/cmd/switchboard$')
go test -race -count=1 -timeout 20m -parallel 32 ./cmd/switchboard
