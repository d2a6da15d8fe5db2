#!/usr/bin/env bash
# The one test command: formatting, vet, and the whole test suite under the race detector.
# CI (.ci/run) calls exactly this script. It fails on the first check that fails.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== gofmt"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then
  echo "gofmt would change:"; echo "$unformatted"; exit 1
fi

echo "== go vet"
go vet ./...

echo "== HAProxy 2.6 and 3.x for e2e/"; scripts/haproxy-env.sh  # installs once per machine, then reuses
echo "== go test -race"
go test -race -count=1 ./...
