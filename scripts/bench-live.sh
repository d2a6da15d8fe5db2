#!/usr/bin/env bash
# The live set's cost in the request path, agent processes pinned as in scripts/bench.sh: two
# agents serve the same 2M-entry list on core 0 (one event loop each), one of them with 100k
# live bans in front of it (posted through its admin API on a unix socket, in 240.0.0.0/4
# where no target is), and the load generator drives each in turn from core 1, 8 connections
# x 20 in flight, for ROUNDS interleaved rounds of 5 s. It prints each round's ACK/s and the
# agent's CPU per ACK, and the ratios of the live agent to the plain one.
#
#   scripts/bench-live.sh [ROUNDS [ENTRIES [LIVE]]]   # default 3 2000000 100000
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

rounds=${1:-3} entries=${2:-2000000} live=${3:-100000}
command -v curl >/dev/null || { echo "bench-live: curl is needed: apt-get install curl" >&2; exit 1; }
work=$(mktemp -d "${TMPDIR:-/tmp}/spoaguard-bench-live.XXXXXX")
trap 'stop_started; rm -rf "$work"' EXIT
go build -o "$work/spoaguard" ./cmd/spoaguard
go build -o "$work/bench" ./cmd/spoaguard-bench
"$work/bench" gen-list -n "$entries" -o "$work/list.txt" -targets "$work/targets.txt" >/dev/null

base_port=$(free_port); live_port=$(free_port)
pinned_agent "$work" base "$base_port" -deny "synthetic=$work/list.txt"
pinned_agent "$work" live "$live_port" -deny "synthetic=$work/list.txt" -api "unix:$work/api.sock"
wait_for 60 test -S "$work/api.sock" || { echo "bench-live: the live agent's API did not come up" >&2; cat "$work/live.log" >&2; exit 1; }

# The live entries: distinct addresses counting up from 240.0.0.1.
awk -v n="$live" 'BEGIN {
  printf "{\"bans\": ["
  for (i = 1; i <= n; i++) {
    a = 240 * 16777216 + i
    printf "%s{\"addr\": \"%d.%d.%d.%d\"}", (i > 1 ? "," : ""), int(a / 16777216), int(a / 65536) % 256, int(a / 256) % 256, a % 256
  }
  printf "]}"
}' >"$work/bans.json"
curl -sf --unix-socket "$work/api.sock" -H 'Content-Type: application/json' --data-binary "@$work/bans.json" \
  http://spoaguard/v1/bans >"$work/post.json" || { echo "bench-live: posting the live entries failed" >&2; exit 1; }
echo "live entries posted: $(cat "$work/post.json")"
sleep 2 # both agents have loaded the list: the API answers only once the agent serves

# ratio prints round $1's ratios of the live agent to the plain one.
ratio() {
  awk -v r="$1" -v b="$("$work/bench" field acks_per_sec "$work/base-$1.json")" \
    -v l="$("$work/bench" field acks_per_sec "$work/live-$1.json")" \
    -v bc="$("$work/bench" field agent_cpu_per_ack_ns "$work/base-$1.json")" \
    -v lc="$("$work/bench" field agent_cpu_per_ack_ns "$work/live-$1.json")" \
    'BEGIN { printf "%-6s ratio  ACK/s %.3f, CPU per ACK %.3fx\n", r, l / b, lc / bc }'
}
after_round=ratio pinned_rounds "$work" "$rounds" "$work/targets.txt" base live
