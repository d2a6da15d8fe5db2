#!/usr/bin/env bash
# A/B benchmark of the agent: spoaguard built at BASE against spoaguard built from the working
# tree, both serving the same 2M-entry synthetic list, the same load, run after run in turn,
# with the do-nothing agent (spoaguard-bench null-agent) in the same rounds as the ceiling.
#
#   scripts/bench-ab.sh [--rounds N] [--duration 3s] [--out DIR] BASE
#
# BASE is any git revision (a commit, a tag, HEAD~3). The agents run pinned to core 0 with
# -loops 1 (the others idle while one is measured), the load generator on core 1. Each round
# runs every cell against the three agents back to back, in an order that rotates from round
# to round, so a slow spell of the shared machine hits all and none always runs first; the
# table gives every round, not a mean, because on a noisy machine the spread is the finding.
# The do-nothing agent skips the cell with 5% listed addresses (it never blocks); that cell
# measures spoaguard's blocked answers. A wrong or
# missing ACK fails the script. Every run is bounded by its duration and every wait by a
# timeout; everything listens on loopback and is stopped by PID on exit.
#
# Environment: BENCH_AGENT_CPU / BENCH_LOAD_CPU (default 0 / 1), BENCH_LIST_N (default 2000000).
set -euo pipefail
cd "$(dirname "$0")/.."

rounds=3
duration=3s
out=""
while [ $# -gt 0 ]; do
  case "$1" in
    --rounds) rounds=$2; shift ;;
    --duration) duration=$2; shift ;;
    --out) out=$2; shift ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d'; exit 0 ;;
    -*) echo "unknown flag $1" >&2; exit 2 ;;
    *) break ;;
  esac
  shift
done
[ $# -eq 1 ] || { echo "usage: $0 [--rounds N] [--duration D] [--out DIR] BASE" >&2; exit 2; }
base=$(git rev-parse --verify "$1^{commit}")
agent_cpu=${BENCH_AGENT_CPU:-0}
load_cpu=${BENCH_LOAD_CPU:-1}
list_n=${BENCH_LIST_N:-2000000}
out=${out:-$(mktemp -d "${TMPDIR:-/tmp}/spoaguard-ab.XXXXXX")}
mkdir -p "$out/bin" "$out/runs"
out=$(cd "$out" && pwd) # absolute: the A build runs in another directory
log() { printf '== %s\n' "$*" >&2; }

. "$(dirname "$0")/lib.sh"
tree=$out/base-tree
cleanup() {
  stop_started
  git worktree remove --force "$tree" 2>/dev/null || true
}
trap cleanup EXIT
trap 'echo "interrupted" >&2; exit 130' INT TERM

log "build: A = $(git log -1 --format='%h %s' "$base"), B = working tree (results in $out)"
git worktree add --detach -q "$tree" "$base"
(cd "$tree" && go build -o "$out/bin/spoaguard-a" ./cmd/spoaguard)
go build -o "$out/bin/spoaguard-b" ./cmd/spoaguard
go build -o "$out/bin/spoaguard-bench" ./cmd/spoaguard-bench
sgb=$out/bin/spoaguard-bench
"$sgb" gen-list -n "$list_n" -o "$out/list.txt" -targets "$out/targets-listed5.txt" -targets-n 65536 -listed 0.05

start() { # NAME BINARY: sets NAME_pid and NAME_addr once a one-NOTIFY run passes
  local port mport pid
  port=$(free_port); mport=$(free_port)
  taskset -c "$agent_cpu" "$2" -listen "127.0.0.1:$port" -metrics "127.0.0.1:$mport" \
    -deny "synthetic=$out/list.txt" -loops 1 -reload-interval 1h >"$out/$1.log" 2>&1 &
  pid=$!; pids+=("$pid")
  printf -v "${1}_pid" %s "$pid"
  printf -v "${1}_addr" %s "127.0.0.1:$port"
  local i
  for i in $(seq 1 1200); do # 120 s: loading the 2M list takes a few
    kill -0 "$pid" 2>/dev/null || { log "agent $1 exited"; cat "$out/$1.log" >&2; return 1; }
    "$sgb" run -addr "127.0.0.1:$port" -conns 1 -inflight 1 -warmup 0s -duration 100ms -gen 10 >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  log "agent $1 did not start"; cat "$out/$1.log" >&2; return 1
}
start a "$out/bin/spoaguard-a"
start b "$out/bin/spoaguard-b"
port=$(free_port)
taskset -c "$agent_cpu" "$sgb" null-agent -listen "127.0.0.1:$port" >"$out/null.log" 2>&1 &
null_pid=$!; pids+=("$null_pid"); null_addr=127.0.0.1:$port
wait_for 10 "$sgb" run -addr "$null_addr" -conns 1 -inflight 1 -warmup 0s -duration 100ms -gen 10 ||
  { log "null agent did not start"; cat "$out/null.log" >&2; exit 1; }

# name:conns:in-flight:IPv6 share (or "listed5": the generated targets, 5% of them listed)
cells=(c8-d20-v4:8:20:0 c8-d20-v6mix:8:20:0.5 c8-d20-listed5:8:20:listed5 c4-d20-v4:4:20:0 c1-d20-v4:1:20:0)
failed=0
for round in $(seq 1 "$rounds"); do
  for cell in "${cells[@]}"; do
    IFS=: read -r name conns inflight v6 <<<"$cell"
    log "round $round of $rounds: $name"
    targets=(-v6 "$v6")
    if [ "$v6" = listed5 ]; then targets=(-targets "$out/targets-listed5.txt" -list synthetic); fi
    case $((round % 3)) in 1) order=(a b null) ;; 2) order=(b null a) ;; 0) order=(null a b) ;; esac
    for agent in "${order[@]}"; do
      [ "$agent" = null ] && [ "$v6" = listed5 ] && continue
      pid_var=${agent}_pid addr_var=${agent}_addr
      # Bounded by -duration and -ack-timeout.
      if ! taskset -c "$load_cpu" "$sgb" run -addr "${!addr_var}" -agent-name "$agent" -cell "$name" \
        -agent-pid "${!pid_var}" -conns "$conns" -inflight "$inflight" "${targets[@]}" -warmup 1s -duration "$duration" \
        -ack-timeout 10s -json "$out/runs/$name.$agent.$round.json" >"$out/runs/$name.$agent.$round.txt" 2>&1; then
        failed=1; log "run $name $agent $round FAILED:"; cat "$out/runs/$name.$agent.$round.txt" >&2
      fi
    done
  done
done

echo "### A/B: A = $(git log -1 --format=%h "$base"), B = $(git rev-parse --short HEAD)$([ -z "$(git status --porcelain)" ] || echo '+changes'); ACK/s and agent CPU per ACK, by round"
echo
echo "| cell | A ACK/s | B ACK/s | do-nothing ACK/s | A CPU/ACK (ns) | B CPU/ACK (ns) | do-nothing CPU/ACK (ns) |"
echo "|---|--:|--:|--:|--:|--:|--:|"
for cell in "${cells[@]}"; do
  name=${cell%%:*}
  col() { # AGENT FIELD SCALE
    local r v vals=()
    for r in $(seq 1 "$rounds"); do
      v=$("$sgb" field "$2" "$out/runs/$name.$1.$r.json" 2>/dev/null || true)
      if [ -z "$v" ]; then vals+=(–); continue; fi
      vals+=("$(awk -v v="$v" -v s="$3" 'BEGIN { if (s == 1) printf "%d", v; else printf "%.2fM", v / s }')")
    done
    local IFS=/; echo "${vals[*]}"
  }
  echo "| $name | $(col a acks_per_sec 1e6) | $(col b acks_per_sec 1e6) | $(col null acks_per_sec 1e6) |" \
    "$(col a agent_cpu_per_ack_ns 1) | $(col b agent_cpu_per_ack_ns 1) | $(col null agent_cpu_per_ack_ns 1) |"
done
echo
log "raw reports and logs: $out"
exit "$failed"
