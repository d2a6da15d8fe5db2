#!/usr/bin/env bash
# The one test command: formatting, vet, staticcheck, the whole test suite under the race
# detector, and a short run of every fuzz target.
# CI (.ci/run) calls exactly this script. It fails on the first check that fails.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== gofmt"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then
  echo "gofmt would change:"; echo "$unformatted"; exit 1
fi

echo "== shell syntax (bash -n scripts/*.sh)"
for f in scripts/*.sh; do bash -n "$f"; done

echo "== go vet"
go vet ./...

# Pinned: 2026.2.x supports Go 1.26 (and 1.27); fetched through the Go module proxy once,
# then from the module cache. Not in go.mod: it is a tool of this script, not a dependency.
echo "== staticcheck"
go run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./...

echo "== HAProxy 2.6 and 3.x for e2e/"; scripts/haproxy-env.sh  # installs once per machine, then reuses
log=$(mktemp "${TMPDIR:-/tmp}/spoaguard-test.XXXXXX")
trap 'rm -f "$log"' EXIT

echo "== go test -race"
go test -race -count=1 ./... 2>&1 | tee "$log"

# Every fuzz target for 10 s, one go test per target (Go fuzzes one target per run): about
# two minutes in all. scripts/fuzz.sh runs them longer.
echo "== fuzz (10s per target)"
scripts/fuzz.sh 10s | tee -a "$log"

# One closing line for CI and people: packages and fuzz targets that passed (a failure has
# already stopped the script above, with its output).
echo "summary: $(grep -cE '^ok( |-flake )' "$log") passed, 0 failed"
