#!/usr/bin/env bash
# Runs every fuzz target of the module for a while, one target per `go test` invocation (Go
# allows one -fuzz target per run), and prints one summary line per target.
#
#   scripts/fuzz.sh [DURATION] [FILTER]
#
# DURATION is a -fuzztime (default 10m; CI's scripts/test.sh uses 10s). FILTER is an extended
# regular expression matched against "pkg/FuzzName" to run some targets only, e.g.
# 'codec/' or 'FuzzConnection$'. FUZZ_PARALLEL sets -parallel (default: GOMAXPROCS).
#
# Seeds come from f.Add (built from testdata/spop captures and testdata/feeds) plus each
# package's testdata/fuzz/<Target>/ directory; what the fuzzer learns goes to Go's cache
# ($(go env GOCACHE)/fuzz). A failing input is written by Go to testdata/fuzz/<Target>/ of its
# package: commit it with the fix, and it runs as a regression test in every `go test`.
#
# Logs go to $FUZZ_LOG_DIR (default a temporary directory), one file per target. The script
# exits non-zero if any target failed, after running all of them.
set -euo pipefail
cd "$(dirname "$0")/.."

duration=${1:-10m}
filter=${2:-.}
logdir=${FUZZ_LOG_DIR:-$(mktemp -d "${TMPDIR:-/tmp}/spoaguard-fuzz.XXXXXX")}
mkdir -p "$logdir"
parallel=()
if [ -n "${FUZZ_PARALLEL:-}" ]; then parallel=(-parallel "$FUZZ_PARALLEL"); fi

# Every `func FuzzX(f *testing.F)` in a tracked test file, as "dir FuzzX".
files=$(git ls-files '*_test.go' 2>/dev/null || find . -name '*_test.go' | sed 's|^\./||')
targets=$(grep -l '^func Fuzz[A-Za-z0-9_]*(f \*testing\.F)' $files | while read -r file; do
  sed -n 's/^func \(Fuzz[A-Za-z0-9_]*\)(f \*testing\.F).*/\1/p' "$file" | while read -r name; do
    echo "$(dirname "$file") $name"
  done
done | sort -u)

failed=0
echo "fuzzing for $duration each; logs in $logdir"
while read -r dir name; do
  [ -n "$dir" ] || continue
  if ! echo "$dir/$name" | grep -Eq -- "$filter"; then continue; fi
  log="$logdir/$(echo "$dir" | tr / _)_$name.log"
  start=$(date +%s)
  if go test -run='^$' -fuzz="^$name\$" -fuzztime="$duration" "${parallel[@]}" "./$dir/" >"$log" 2>&1; then
    result=ok
  elif grep -q 'context deadline exceeded' "$log" && ! grep -q 'Failing input written' "$log"; then
    # Go 1.26's fuzz coordinator can report its own -fuzztime deadline as a failure
    # (golang/go#75804, fixed in Go 1.27): no input failed and none was written. A real
    # failure always writes its input, so only that fails the run.
    result=ok-flake
  else
    result=FAIL
    failed=1
  fi
  # Go's last progress line: "fuzz: elapsed: 10m0s, execs: 123 (205/sec), new interesting: 4 (total: 90)".
  last=$(grep -E '^fuzz: elapsed' "$log" | tail -1 | sed 's/^fuzz: //')
  printf '%-6s %-10s %-22s %4ss  %s\n' "$result" "$dir" "$name" "$(($(date +%s) - start))" "$last"
  if [ "$result" = FAIL ]; then
    grep -E -A15 -- '--- FAIL|panic:|Failing input written to' "$log" | head -40 || true
  fi
done <<<"$targets"
exit $failed
