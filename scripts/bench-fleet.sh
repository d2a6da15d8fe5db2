#!/usr/bin/env bash
# The fleet benchmark: AGENTS agent processes on one redis-server, all on loopback, started and
# stopped by the test (e2e/fleet_bench_test.go).
#
#   scripts/bench-fleet.sh [AGENTS [BANS [RATE_SECONDS [SYNC_ENTRIES]]]]   # default 20 1000 5 1000000
#   scripts/bench-fleet.sh --hotpath [ROUNDS]                               # default 3
#
# It prints: the time from a ban sent to one agent's API until each agent answers blocked over
# SPOP (median, p99, max over AGENTS x BANS), the API's own answer time, 10k bans/s through one
# API for RATE_SECONDS and how far behind the agents fell, and a full sync of SYNC_ENTRIES at
# start with the agent's RSS.
#
# --hotpath: the request path with -redis against the same agent without it, in one run: both
# agents on a synthetic 120k-entry list with 5% of the targets listed, pinned to core 0 (BENCH_AGENT_CPU), the load generator
# (8 connections x 20 in flight, 5 s) on core 1 (BENCH_LOAD_CPU), ROUNDS interleaved rounds.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "${1:-}" = --hotpath ]; then
  rounds=${2:-3}
  . scripts/lib.sh
  work=$(mktemp -d "${TMPDIR:-/tmp}/spoaguard-bench-fleet.XXXXXX")
  trap 'stop_started; rm -rf "$work"' EXIT
  go build -o "$work/spoaguard" ./cmd/spoaguard
  go build -o "$work/bench" ./cmd/spoaguard-bench
  redis_port=$(free_port)
  redis-server --port "$redis_port" --bind 127.0.0.1 --dir "$work" --save "" --appendonly no >"$work/redis.log" 2>&1 &
  pids+=($!)
  wait_for 10 redis-cli -p "$redis_port" ping
  "$work/bench" gen-list -n 120000 -o "$work/list.txt" -targets "$work/targets.txt" >/dev/null
  local_port=$(free_port); fleet_port=$(free_port)
  pinned_agent "$work" local "$local_port" -deny "synthetic=$work/list.txt"
  pinned_agent "$work" fleet "$fleet_port" -deny "synthetic=$work/list.txt" -redis "redis://127.0.0.1:$redis_port/0"
  sleep 3
  pinned_rounds "$work" "$rounds" "$work/targets.txt" local fleet
  exit 0
fi
command -v redis-server >/dev/null || { echo "bench-fleet: redis-server is needed: apt-get install redis-server" >&2; exit 1; }
export SPOAGUARD_FLEET_BENCH="${1:-20},${2:-1000},${3:-5},${4:-1000000}"
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
go test -count=1 -timeout 30m -v -run '^TestFleetBenchmark$' ./e2e 2>&1 | grep -E 'fleet_bench_test.go|^(ok|FAIL|---)' | sed 's/^ *fleet_bench_test.go:[0-9]*: //'
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
