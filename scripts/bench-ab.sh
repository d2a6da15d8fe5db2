#!/usr/bin/env bash
# A/B benchmark of the agent: spoaguard built at BASE against spoaguard built from the working
# tree, both serving the same lists, the same load, run after run in turn, with the do-nothing
# agent (spoaguard-bench null-agent) in the same rounds as the ceiling.
#
#   scripts/bench-ab.sh [--rounds N] [--duration 3s] [--lists synthetic|feeds] [--cells A,B]
#                       [--out DIR] BASE
#
# BASE is any git revision (a commit, a tag, HEAD~3). The agents run pinned to core 0 with
# -loops 1 (the others idle while one is measured), the load generator on core 1. Each round
# runs every cell against the three agents back to back, in an order that rotates from round
# to round, so a slow spell of the shared machine hits all and none always runs first; the
# table gives every round, not a mean, because on a noisy machine the spread is the finding.
#
# --lists synthetic (the default): a 2M-entry synthetic list (gen-list: 10% IPv6, 10%
#   prefixes) and 65,536 targets, uniform or, in the zipf cells, drawn heavy-tailed (-zipf
#   1.1: the first 1% of the targets get about three quarters of the NOTIFYs). Cells:
#   c8-d20-v4, c8-d20-v6mix (50% IPv6), c8-d20-listed5 (5% listed), c8-d20-zipf (listed5's
#   targets, heavy-tailed), c4-d20-v4, c1-d20-v4.
# --lists feeds: the real feeds of testdata/feeds as deny lists (ipsum, 120,430 addresses;
#   the Tor exits, IPv4 and IPv6 mixed; DShield's /24 ranges: about 122k entries) and 65,536
#   targets from gen-targets: 5% of them covered by the feeds, the rest not, 10% of those
#   IPv6. Cells: c8-d20-feeds (uniform), c8-d20-feeds-zipf (heavy-tailed).
# --cells A,B runs only the named cells.
#
# The do-nothing agent never blocks: in the cells with listed targets it is sent the same
# NOTIFYs and expected to answer them all allowed (run -expect-allowed), so its figure stays
# the ceiling of the same traffic. A wrong or missing ACK fails the script. Every run is
# bounded by its duration and every wait by a timeout; everything listens on loopback and is
# stopped by PID on exit.
#
# Environment: BENCH_AGENT_CPU / BENCH_LOAD_CPU (default 0 / 1), BENCH_LIST_N (default 2000000).
set -euo pipefail
cd "$(dirname "$0")/.."

rounds=3
duration=3s
out=""
lists=synthetic
only=""
while [ $# -gt 0 ]; do
  case "$1" in
    --rounds) rounds=$2; shift ;;
    --lists) lists=$2; shift ;;
    --cells) only=$2; shift ;;
    --duration) duration=$2; shift ;;
    --out) out=$2; shift ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d'; exit 0 ;;
    -*) echo "unknown flag $1" >&2; exit 2 ;;
    *) break ;;
  esac
  shift
done
[ $# -eq 1 ] || { echo "usage: $0 [--rounds N] [--duration D] [--lists synthetic|feeds] [--cells A,B] [--out DIR] BASE" >&2; exit 2; }
case $lists in synthetic|feeds) ;; *) echo "--lists takes synthetic or feeds, not \"$lists\"" >&2; exit 2 ;; esac
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
feeds=$PWD/testdata/feeds
if [ "$lists" = feeds ]; then
  deny=(-deny "ipsum=$feeds/stamparm_ipsum.txt,format=ipsum" -deny "tor=$feeds/tor_exit_nodes_mixed_v4v6_2022-03.txt"
    -deny "dshield=$feeds/dshield_block_2026-08-22.txt")
  "$sgb" gen-targets -o "$out/targets-feeds.txt" -n 65536 -listed 0.05 -v6 0.1 \
    "ipsum=$feeds/stamparm_ipsum.txt,format=ipsum" "tor=$feeds/tor_exit_nodes_mixed_v4v6_2022-03.txt" \
    "dshield=$feeds/dshield_block_2026-08-22.txt"
else
  deny=(-deny "synthetic=$out/list.txt")
  "$sgb" gen-list -n "$list_n" -o "$out/list.txt" -targets "$out/targets-listed5.txt" -targets-n 65536 -listed 0.05
fi

start() { # NAME BINARY: sets NAME_pid and NAME_addr once a one-NOTIFY run passes
  local port mport pid
  port=$(free_port); mport=$(free_port)
  taskset -c "$agent_cpu" "$2" -listen "127.0.0.1:$port" -metrics "127.0.0.1:$mport" \
    "${deny[@]}" -loops 1 -reload-interval 1h >"$out/$1.log" 2>&1 &
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

# name:conns:in-flight:targets, the targets being the IPv6 share of generated clean ones, or
# listed5 (gen-list's, 5% listed), zipf (the same, heavy-tailed), feeds or feeds-zipf
# (gen-targets' for the real feeds)
if [ "$lists" = feeds ]; then
  cells=(c8-d20-feeds:8:20:feeds c8-d20-feeds-zipf:8:20:feeds-zipf)
else
  cells=(c8-d20-v4:8:20:0 c8-d20-v6mix:8:20:0.5 c8-d20-listed5:8:20:listed5 c8-d20-zipf:8:20:zipf c4-d20-v4:4:20:0 c1-d20-v4:1:20:0)
fi
if [ -n "$only" ]; then
  picked=()
  for cell in "${cells[@]}"; do
    case ",$only," in *",${cell%%:*},"*) picked+=("$cell") ;; esac
  done
  [ ${#picked[@]} -gt 0 ] || { echo "--cells $only: none of ${cells[*]%%:*}" >&2; exit 2; }
  cells=("${picked[@]}")
fi
failed=0
for round in $(seq 1 "$rounds"); do
  for cell in "${cells[@]}"; do
    IFS=: read -r name conns inflight v6 <<<"$cell"
    log "round $round of $rounds: $name"
    case $v6 in
      listed5) targets=(-targets "$out/targets-listed5.txt" -list synthetic) ;;
      zipf) targets=(-targets "$out/targets-listed5.txt" -list synthetic -zipf 1.1) ;;
      feeds) targets=(-targets "$out/targets-feeds.txt") ;;
      feeds-zipf) targets=(-targets "$out/targets-feeds.txt" -zipf 1.1) ;;
      *) targets=(-v6 "$v6") ;;
    esac
    case $((round % 3)) in 1) order=(a b null) ;; 2) order=(b null a) ;; 0) order=(null a b) ;; esac
    for agent in "${order[@]}"; do
      pid_var=${agent}_pid addr_var=${agent}_addr
      expect=()
      [ "$agent" = null ] && expect=(-expect-allowed)
      # Bounded by -duration and -ack-timeout.
      if ! taskset -c "$load_cpu" "$sgb" run -addr "${!addr_var}" -agent-name "$agent" -cell "$name" \
        -agent-pid "${!pid_var}" -conns "$conns" -inflight "$inflight" "${targets[@]}" "${expect[@]}" -warmup 1s -duration "$duration" \
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
echo "Each agent against the do-nothing agent, by round (the runs of a round seconds apart); load average over the cell's runs:"
echo
echo "| cell | A ACK/s share | B ACK/s share | A CPU/ACK × | B CPU/ACK × | load average |"
echo "|---|--:|--:|--:|--:|--:|"
for cell in "${cells[@]}"; do
  name=${cell%%:*}
  ratio() { # AGENT FIELD: AGENT's FIELD over the do-nothing agent's, by round
    local r a b vals=()
    for r in $(seq 1 "$rounds"); do
      a=$("$sgb" field "$2" "$out/runs/$name.$1.$r.json" 2>/dev/null || true)
      b=$("$sgb" field "$2" "$out/runs/$name.null.$r.json" 2>/dev/null || true)
      vals+=("$(awk -v a="$a" -v b="$b" 'BEGIN { if (a != "" && b > 0) printf "%.2f", a / b; else printf "–" }')")
    done
    local IFS=/; echo "${vals[*]}"
  }
  loads=$(for f in "$out/runs/$name".*.json; do "$sgb" field load_average "$f"; done | tr ' ' '\n' | sort -g | sed -n '1p;$p' | paste -sd- -)
  echo "| $name | $(ratio a acks_per_sec) | $(ratio b acks_per_sec) | $(ratio a agent_cpu_per_ack_ns)× | $(ratio b agent_cpu_per_ack_ns)× | $loads |"
done
echo
log "raw reports and logs: $out"
exit "$failed"
