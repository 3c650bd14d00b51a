#!/bin/sh
# Prints the -ldflags -X settings that stamp `switchboard -version` with a
# version, a commit and the build date: from VERSION, COMMIT and
# BUILD_DATE when set (docker build --build-arg), else from git (a tag
# for the version) and the clock. Go's own build information wins where
# it has them; these are for builds without it (-buildvcs=false, a Docker
# context without .git).
#   go build -ldflags "$(scripts/ldflags.sh)" ./cmd/switchboard
version=${VERSION:-$(git describe --tags --dirty 2>/dev/null || true)}
commit=${COMMIT:-$(git rev-parse HEAD 2>/dev/null || true)}
date=${BUILD_DATE:-$(date -u +%Y-%m-%dT%H:%M:%SZ)}
printf '%s' "-X main.buildVersion=$version -X main.buildCommit=$commit -X main.buildDate=$date"
