#!/usr/bin/env bash
# Runs the docker-compose.yml topology without Docker: one switchboard on
# the host network with the same environment, built from this checkout.
# Usage: SWITCHBOARD_TURN_SECRET=… [SWITCHBOARD_PUBLIC_IP=…] [SWITCHBOARD_PUBLIC_URL=…] scripts/run-local.sh [flags]
set -euo pipefail
cd "$(dirname "$0")/.."
: "${SWITCHBOARD_TURN_SECRET:?set a shared TURN secret of 16+ characters}"
bin=$(mktemp -d)/switchboard
trap 'rm -rf "$(dirname "$bin")"' EXIT
CGO_ENABLED=0 go build -trimpath -ldflags "$(sh scripts/ldflags.sh)" -o "$bin" ./cmd/switchboard
export SWITCHBOARD_HTTP=":8080" SWITCHBOARD_TURN=":3478" SWITCHBOARD_RELAY_PORTS="49152-65535" \
	SWITCHBOARD_LOG_FORMAT=json SWITCHBOARD_TURN_SECRET \
	SWITCHBOARD_PUBLIC_IP="${SWITCHBOARD_PUBLIC_IP:-}" SWITCHBOARD_PUBLIC_URL="${SWITCHBOARD_PUBLIC_URL:-}"
# exec would skip the trap; run in the foreground and pass signals on.
"$bin" "$@" &
pid=$!
trap 'kill -TERM "$pid" 2>/dev/null; wait "$pid"; rm -rf "$(dirname "$bin")"' INT TERM
wait "$pid"
