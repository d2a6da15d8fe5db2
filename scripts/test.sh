#!/usr/bin/env bash
# The one test command: formatting, vet, staticcheck, the whole test suite under the race
# detector, a short run of every fuzz target, and the demo as a smoke test.
# CI (.ci/run) calls exactly this script. It fails on the first check that fails.
#
# It installs what the tests need (redis-server with apt-get; scripts/haproxy-env.sh: HAProxy 2.6 with apt-get, HAProxy
# 3.x in a debootstrap root). On a developer's machine the 3.x root is cached in
# /var/cache/spoaguard; with CI=true it is built from scratch into a new temporary directory
# every run, so that CI proves the install path instead of trusting a cache.
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

log=$(mktemp "${TMPDIR:-/tmp}/spoaguard-test.XXXXXX")
fresh_root=""
cleanup() {
  rm -f "$log"
  # A root is removed only when nothing is mounted inside it.
  if [ -n "$fresh_root" ] && ! grep -qF " $fresh_root/" /proc/self/mounts; then rm -rf "$fresh_root"; fi
}
trap cleanup EXIT

echo "== HAProxy 2.6 and 3.x for e2e/"
if [ "${CI:-}" = true ]; then
  fresh_root=$(mktemp -d "${TMPDIR:-/tmp}/spoaguard-ci-root.XXXXXX")
  export SPOAGUARD_HAPROXY3_ROOT="$fresh_root/haproxy-forky"
  echo "CI: building the HAProxy 3.x root from scratch in $SPOAGUARD_HAPROXY3_ROOT"
  scripts/haproxy-env.sh --fresh
else
  scripts/haproxy-env.sh  # installs once per machine, then reuses the cached root
fi

# The fleet tests start their own redis-server processes (Debian's package) on free loopback
# ports, each in a temporary directory.
echo "== redis-server for fleet/"
if ! command -v redis-server >/dev/null; then
  debian_log_prefix=test
  . scripts/debian.sh
  debian_need_root
  debian_apt_install redis-server
fi
redis-server --version

echo "== go test -race"
go test -race -count=1 ./... 2>&1 | tee "$log"

# Every fuzz target for 10 s, one go test per target (Go fuzzes one target per run): about
# two minutes in all. scripts/fuzz.sh runs them longer.
echo "== fuzz (10s per target)"
scripts/fuzz.sh 10s | tee -a "$log"

# The README's first command, as a user runs it: listed clients must get 403, the unlisted 200.
echo "== demo (scripts/demo.sh)"
scripts/demo.sh

# The Debian package installed, checked, removed and purged in a fresh Debian 12 root, and the
# container image built and run (about two minutes, most of it debootstrap).
echo "== package and container (scripts/package-test.sh)"
scripts/package-test.sh

# One closing line for CI and people: packages and fuzz targets that passed (a failure has
# already stopped the script above, with its output).
echo "summary: $(grep -cE '^ok( |-flake )' "$log") passed, 0 failed"
