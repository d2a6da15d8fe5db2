#!/usr/bin/env bash
# The live set's cost in the request path, agent processes pinned as in scripts/bench.sh: two
# agents serve the same 2M-entry list on core 0 (one event loop each), one of them with 100k
# live bans in front of it (posted through its admin API on a unix socket, in 240.0.0.0/4
# where no target is), and the load generator drives each in turn from core 1, 8 connections
# x 20 in flight, for ROUNDS interleaved rounds of 5 s. It prints each round's ACK/s and the
# agent's CPU per ACK, and the ratios of the live agent to the plain one.
#
# With --bans RATE, each round also drives the live agent while `spoaguard-bench bans` posts
# RATE bans a second to its API from core 1 (100 a POST, each with a 1 s ttl, so expiries run
# too), and prints the ACK latency's p99.9 and maximum with the bans against the same agent's
# turn without them, seconds before, and with the same bans posted to the do-nothing admin
# API instead (the floor: what the storm costs the ACKs when the agent does nothing with it).
#
# BENCH_LIVE_FLAGS adds flags to the live agent's, e.g. BENCH_LIVE_FLAGS="-background-nice 19".
#
#   scripts/bench-live.sh [--bans RATE] [ROUNDS [ENTRIES [LIVE]]]   # default 3 2000000 100000
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

bans=0
if [ "${1:-}" = --bans ]; then
  bans=${2:-}
  [[ "$bans" =~ ^[1-9][0-9]*$ ]] || { echo "bench-live: --bans takes a rate of bans a second, a positive integer" >&2; exit 2; }
  shift 2
fi
rounds=${1:-3} entries=${2:-2000000} live=${3:-100000}
command -v curl >/dev/null || { echo "bench-live: curl is needed: apt-get install curl" >&2; exit 1; }
work=$(mktemp -d "${TMPDIR:-/tmp}/spoaguard-bench-live.XXXXXX")
trap 'stop_started; rm -rf "$work"' EXIT
go build -o "$work/spoaguard" ./cmd/spoaguard
go build -o "$work/bench" ./cmd/spoaguard-bench
"$work/bench" gen-list -n "$entries" -o "$work/list.txt" -targets "$work/targets.txt" >/dev/null

base_port=$(free_port); live_port=$(free_port)
pinned_agent "$work" base "$base_port" -deny "synthetic=$work/list.txt"
pinned_agent "$work" live "$live_port" -deny "synthetic=$work/list.txt" -api "unix:$work/api.sock" ${BENCH_LIVE_FLAGS:-}
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
if [ "$bans" = 0 ]; then
  after_round=ratio pinned_rounds "$work" "$rounds" "$work/targets.txt" base live
  exit 0
fi

# The banned agent is the live one, driven while the bans are posted: they start before the
# load generator's warm-up and outlast its window. The floor turn drives it while the same
# storm goes to the do-nothing admin API (spoaguard-bench null-api, on the agent's core) in
# its place: the same HTTP traffic on the same cores, with the agent's own work on the bans
# taken out, so what it costs the ACKs is the harness's and the machine's share.
banned_port=$live_port banned_pid=$live_pid floor_port=$live_port floor_pid=$live_pid
taskset -c "${BENCH_AGENT_CPU:-0}" "$work/bench" null-api -listen "unix:$work/null-api.sock" >"$work/null-api.log" 2>&1 &
pids+=($!)
wait_for 10 test -S "$work/null-api.sock" || { echo "bench-live: the null API did not come up" >&2; cat "$work/null-api.log" >&2; exit 1; }
# Its first bodies grow its heap, as the 100k entries did the live agent's: before the rounds.
curl -sf --unix-socket "$work/null-api.sock" --data-binary "@$work/bans.json" http://null/v1/bans >/dev/null ||
  { echo "bench-live: the null API did not answer" >&2; exit 1; }
run_with_bans() {
  local sock
  case "$3" in
  banned) sock=$work/api.sock ;;
  floor) sock=$work/null-api.sock ;;
  *) pinned_run "$@"; return ;;
  esac
  taskset -c "${BENCH_LOAD_CPU:-1}" "$work/bench" bans -api "unix:$sock" -rate "$bans" -duration 9s \
    -from "240.$((64 + $2)).0.0" -json "$work/$3-bans-$2.json" >"$work/$3-bans-$2.log" 2>&1 &
  local poster=$!
  pids+=("$poster")
  sleep 0.5
  pinned_run "$@"
  wait "$poster" || { echo "bench-live: posting the bans failed: $(cat "$work/$3-bans-$2.log")" >&2; exit 1; }
}

# latency prints round $1's ACK latency of the live agent without the bans, with them, and
# with them posted to the null API, and the two p99.9s over the first.
latency() {
  local f p999 base
  ratio "$1"
  base=$("$work/bench" field latency.p999_ns "$work/live-$1.json")
  for f in live banned floor; do
    p999=$("$work/bench" field latency.p999_ns "$work/$f-$1.json")
    printf '%-6s %-6s p99.9 %8.0f us, max %8.0f us, p99.9 %5.2fx without the bans\n' "$1" "$f" \
      "$((p999 / 1000))" "$(("$("$work/bench" field latency.max_ns "$work/$f-$1.json")" / 1000))" \
      "$(awk -v a="$p999" -v b="$base" 'BEGIN { print a / b }')"
  done
  echo "$1      bans   $(cat "$work/banned-bans-$1.log")"
  echo "$1      floor  $(cat "$work/floor-bans-$1.log")"
}
after_round=latency run_agent=run_with_bans pinned_rounds "$work" "$rounds" "$work/targets.txt" base live banned floor
