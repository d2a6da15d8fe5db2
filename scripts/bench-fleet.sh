#!/usr/bin/env bash
# The fleet benchmark: AGENTS agent processes on one redis-server, all on loopback, started and
# stopped by the test (e2e/fleet_bench_test.go).
#
#   scripts/bench-fleet.sh [AGENTS [BANS [RATE_SECONDS [SYNC_ENTRIES]]]]   # default 20 1000 5 1000000
#
# It prints: the time from a ban sent to one agent's API until each agent answers blocked over
# SPOP (median, p99, max over AGENTS x BANS), the API's own answer time, 10k bans/s through one
# API for RATE_SECONDS and how far behind the agents fell, and a full sync of SYNC_ENTRIES at
# start with the agent's RSS.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v redis-server >/dev/null || { echo "bench-fleet: redis-server is needed: apt-get install redis-server" >&2; exit 1; }
export SPOAGUARD_FLEET_BENCH="${1:-20},${2:-1000},${3:-5},${4:-1000000}"
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
go test -count=1 -timeout 30m -v -run '^TestFleetBenchmark$' ./e2e 2>&1 | grep -E 'fleet_bench_test.go|^(ok|FAIL|---)' | sed 's/^ *fleet_bench_test.go:[0-9]*: //'
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
