#!/usr/bin/env bash
# spoaguard's benchmark, in one command: builds, pins, runs, prints Markdown tables.
#
#   scripts/bench.sh [--quick] [--out DIR] [--parts grid,haproxy,reload,memory,scale]
#                    [--loops N] [--gen-threads N]
#
# Part "grid": the do-nothing agent (spoaguard-bench null-agent, the ceiling) and spoaguard
#   (loaded with a 2M-entry synthetic list) both run pinned to core 0; the load generator runs
#   pinned to core 1. Connections 1/4/8/64 × in flight 1/20, IPv4-only and 50% IPv6 targets
#   (none listed, so the do-nothing agent's blocked=false is right), each cell against both
#   agents back to back so the ratio is taken seconds apart. Then: 8×20 with 2.6-style ids,
#   8×20 with 5% listed targets (spoaguard only), and both agents paced to 50% of spoaguard's
#   measured 8×20 peak, for latency away from saturation.
# Part "haproxy": wrk (core 1) → HAProxy (nbthread 1, core 0) → HAProxy's own 200, running
#   the maintained scripts/haproxy/haproxy-2.6.cfg (haproxy-3.x.cfg on 3.1+) with its SPOE
#   file, ports and paths replaced, no log target and the fail-closed rule on, in four
#   variants, one HAProxy process each: no SPOE filter, SPOE to the do-nothing agent, SPOE
#   to spoaguard, and HAProxy's native "src -f" ACL holding the same 2M list. The agents
#   share core 0 with HAProxy, so an agent's CPU cost shows up as HAProxy's lost requests.
#   Reported per variant: HAProxy's rate against its rate with the do-nothing agent, and the
#   agent's CPU per request (utime+stime of /proc/PID/stat over the run, divided by wrk's
#   requests); then each round's two spoaguard/do-nothing ratios, the runs of one round
#   seconds apart.
# Part "reload": 10 SIGHUP reloads of the 2M list (the file replaced by a copy first, a new
#   inode as rsync or an editor leaves it), each waited for before the next, under full 8×20
#   load; ACK/s per second, p99, every wrong or missing ACK, and each rebuild's duration.
# Part "memory": spoaguard's RSS with an empty list and with the 2M list (bytes per entry),
#   and with 1000 idle handshaken connections (bytes per idle connection).
# Part "scale" (only when asked for: it needs more cores than the agent's one and the load
#   generator's one): both agents with 1, 2, 4, ... and --loops event loops on the
#   BENCH_AGENT_CPU cores, each loaded with 8 connections per loop × 20 in flight (IPv4
#   targets, none listed) from the BENCH_LOAD_CPU cores, the two agents back to back at each
#   count. The table gives ACK/s, CPU per ACK and spoaguard's share of the do-nothing agent
#   per loop count, then each agent's ACK/s over its own one-loop figure. For example, with
#   16 cores: BENCH_AGENT_CPU=0-7 BENCH_LOAD_CPU=8-15 scripts/bench.sh --parts scale --loops 8
#   (PERFORMANCE.md says what to expect and why.)
#
# --loops N          event loops of both agents (spoaguard -loops, null-agent -loops) in every
#                    part, default 1; in part scale, the largest count measured.
# --gen-threads N    the load generator's threads (its GOMAXPROCS); default: the number of
#                    BENCH_LOAD_CPU cores. It must not be what limits the rate: give it as
#                    many cores as the agent has.
#
# Every run is bounded: the load generator by its duration, wrk by -d, every wait by a
# timeout; everything listens on loopback and is stopped (by PID) on exit. Full run: about
# 30 minutes (HAProxy alone takes minutes to load the 2M-line ACL); --quick: about 10.
#
# Environment:
#   SPOAGUARD_AGENT=/path/to/spoaguard   use this agent binary instead of building one
#   BENCH_AGENT_FLAGS="..."              more flags for spoaguard in every part, e.g.
#                                        "-background-nice 19"
#   BENCH_AGENT_CPU / BENCH_LOAD_CPU     cores for the agents and the load (default 0 / 1;
#                                        a taskset list, e.g. 0-3 / 4-7)
#   BENCH_ACK_TIMEOUT=10s                an ACK later than this is missing (fails the run)
#   BENCH_REPEAT=N                       grid repetitions, interleaved (default 2; --quick 1):
#                                        the table quotes each agent's fastest run of a cell
set -euo pipefail
cd "$(dirname "$0")/.."

quick=0
out=""
parts="grid,haproxy,reload,memory"
loops=1
gen_threads=""
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) quick=1 ;;
    --out) out=$2; shift ;;
    --parts) parts=$2; shift ;;
    --loops) loops=$2; shift ;;
    --gen-threads) gen_threads=$2; shift ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d'; exit 0 ;;
    *) echo "bench: unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done

agent_cpu=${BENCH_AGENT_CPU:-0}
load_cpu=${BENCH_LOAD_CPU:-1}
gen_threads=${gen_threads:-$(taskset -c "$load_cpu" nproc)}
for n in "$loops" "$gen_threads"; do
  case $n in ''|*[!0-9]*|0) echo "bench: --loops and --gen-threads take a positive integer, not \"$n\"" >&2; exit 2 ;; esac
done
agent_loops=$loops # what start_null and start_spoaguard give -loops
if [ "$quick" = 1 ]; then
  warmup=1s duration=3s wrk_d=5s reload_every=1 list_n=2000000 idle_n=1000 repeat=1
else
  warmup=2s duration=10s wrk_d=15s reload_every=2 list_n=2000000 idle_n=1000 repeat=2
fi
repeat=${BENCH_REPEAT:-$repeat}
# An ACK later than this is missing and fails the run. On a busy shared machine agents were
# seen starved for up to 4 s, so the bound is generous: a lost ACK is still caught.
ack_timeout=${BENCH_ACK_TIMEOUT:-10s}
out=${out:-$(mktemp -d "${TMPDIR:-/tmp}/spoaguard-bench.XXXXXX")}
mkdir -p "$out/bin" "$out/runs"
log() { printf '== %s\n' "$*" >&2; }
has_part() { case ",$parts," in *",$1,"*) return 0 ;; esac; return 1; }

. "$(dirname "$0")/lib.sh"
cleanup() { stop_started; }
trap cleanup EXIT
trap 'echo "interrupted" >&2; exit 130' INT TERM

# metric URL NAME prints the value of an unlabelled Prometheus metric.
metric() { curl -fsS "$1" 2>/dev/null | awk -v n="$2" '$1 == n { print $2 }'; }
metric_above() { awk -v v="$(metric "$1" "$2")" -v b="$3" 'BEGIN { exit !(v != "" && v > b) }'; }

# replace_once TEXT OLD NEW prints TEXT with its one OLD replaced by NEW, and fails when OLD is
# not there exactly once: a maintained config that no longer holds what is replaced has
# drifted from this script.
replace_once() {
  local rest=${1#*"$2"}
  if [ "$rest" = "$1" ] || [ "${rest#*"$2"}" != "$rest" ]; then
    log "scripts/haproxy: expected exactly one \"$2\" to replace"; return 1
  fi
  printf '%s' "${1/"$2"/"$3"}"
}

rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }

# cpu_ticks PID prints the CPU time the process has used (all threads, user + system), in
# clock ticks. The command name (field 2) may hold spaces: fields are counted after it.
cpu_ticks() { sed 's/.*) //' "/proc/$1/stat" | awk '{ print $12 + $13 }'; }
clk_tck=$(getconf CLK_TCK)

log "build (results in $out)"
go build -o "$out/bin/spoaguard-bench" ./cmd/spoaguard-bench
sgb=$out/bin/spoaguard-bench
agent_bin=${SPOAGUARD_AGENT:-}
if [ -z "$agent_bin" ]; then
  go build -o "$out/bin/spoaguard" ./cmd/spoaguard
  agent_bin=$out/bin/spoaguard
fi

list=$out/list-2m.txt
log "synthetic list: $list_n entries (10% IPv6, 10% prefixes) and targets (5% listed)"
"$sgb" gen-list -n "$list_n" -o "$list" -targets "$out/targets-listed5.txt" -targets-n 65536 -listed 0.05
"$sgb" gen-list -n 0 -o "$out/list-empty.txt"

# start_null and start_spoaguard start an agent pinned to the agent core and set
# null_pid/null_addr or sg_pid/sg_addr/sg_metrics. They wait until a one-NOTIFY run passes.
start_null() {
  local port mport
  port=$(free_port); mport=$(free_port)
  taskset -c "$agent_cpu" "$sgb" null-agent -listen "127.0.0.1:$port" -metrics "127.0.0.1:$mport" \
    -loops "$agent_loops" >"$out/null-agent.log" 2>&1 &
  null_pid=$!; pids+=("$null_pid")
  null_addr=127.0.0.1:$port null_metrics=http://127.0.0.1:$mport/metrics
  wait_for 10 "$sgb" run -addr "$null_addr" -conns 1 -inflight 1 -warmup 0s -duration 100ms -gen 10 ||
    { log "null agent did not start"; cat "$out/null-agent.log" >&2; return 1; }
}
start_spoaguard() { # $1: list file
  local port mport
  port=$(free_port); mport=$(free_port)
  taskset -c "$agent_cpu" "$agent_bin" -listen "127.0.0.1:$port" -metrics "127.0.0.1:$mport" \
    -deny "synthetic=$1" -loops "$agent_loops" -reload-interval 1h ${BENCH_AGENT_FLAGS:-} >"$out/spoaguard.log" 2>&1 &
  sg_pid=$!; pids+=("$sg_pid")
  sg_addr=127.0.0.1:$port sg_metrics=http://127.0.0.1:$mport/metrics
  wait_for 120 "$sgb" run -addr "$sg_addr" -conns 1 -inflight 1 -warmup 0s -duration 100ms -gen 10 ||
    { log "spoaguard did not start"; cat "$out/spoaguard.log" >&2; return 1; }
}

# load NAME CELL ADDR PID METRICS [run flags...]: one pinned load-generator run, JSON kept.
# A failed run (wrong or missing ACKs) is reported in the table, and makes the script fail.
failed=0
load() {
  local name=$1 cell=$2 addr=$3 pid=$4 metrics=$5; shift 5
  local run_id=$cell.$name.${rep:-1}
  local args=(-addr "$addr" -agent-name "$name" -cell "$cell" -agent-pid "$pid"
    -warmup "$warmup" -duration "$duration" -ack-timeout "$ack_timeout" -json "$out/runs/$run_id.json")
  if [ -n "$(metric "$metrics" go_memstats_mallocs_total)" ]; then
    args+=(-agent-metrics "$metrics")
  fi
  if ! GOMAXPROCS=$gen_threads taskset -c "$load_cpu" "$sgb" run "${args[@]}" "$@" >"$out/runs/$run_id.txt" 2>&1; then
    failed=1; log "run $run_id FAILED:"; cat "$out/runs/$run_id.txt" >&2
  fi
}

if has_part grid; then
  log "grid: agents ($loops loops) on cores $agent_cpu, load generator ($gen_threads threads) on cores $load_cpu, ${duration} per run after ${warmup} warm-up"
  start_null
  start_spoaguard "$list"
  for rep in $(seq 1 "$repeat"); do
    for mix in v4 v6mix; do
      v6=0; [ "$mix" = v6mix ] && v6=0.5
      for conns in 1 4 8 64; do
        for d in 1 20; do
          cell=c$conns-d$d-$mix
          log "cell $cell (repetition $rep of $repeat)"
          load null "$cell" "$null_addr" "$null_pid" "$null_metrics" -conns "$conns" -inflight "$d" -v6 "$v6"
          load spoaguard "$cell" "$sg_addr" "$sg_pid" "$sg_metrics" -conns "$conns" -inflight "$d" -v6 "$v6"
        done
      done
    done
  done
  rep=1
  log "cell c8-d20-ids2.6"
  load null c8-d20-ids2.6 "$null_addr" "$null_pid" "$null_metrics" -conns 8 -inflight 20 -ids 2.6
  load spoaguard c8-d20-ids2.6 "$sg_addr" "$sg_pid" "$sg_metrics" -conns 8 -inflight 20 -ids 2.6
  log "cell c8-d20-listed5 (spoaguard only: the do-nothing agent never blocks)"
  load spoaguard c8-d20-listed5 "$sg_addr" "$sg_pid" "$sg_metrics" -conns 8 -inflight 20 \
    -targets "$out/targets-listed5.txt" -list synthetic
  peak=$("$sgb" field acks_per_sec "$out"/runs/c8-d20-v4.spoaguard.*.json | sort -g | tail -1)
  half=$(awk -v p="${peak:-0}" 'BEGIN { printf "%d", p / 2 }')
  if [ "${half:-0}" -gt 0 ]; then
    log "cell c8-d20-v4-rate50: both agents paced to $half NOTIFY/s (50% of spoaguard's 8×20 peak)"
    load null c8-d20-v4-rate50 "$null_addr" "$null_pid" "$null_metrics" -conns 8 -inflight 20 -rate "$half"
    load spoaguard c8-d20-v4-rate50 "$sg_addr" "$sg_pid" "$sg_metrics" -conns 8 -inflight 20 -rate "$half"
  fi
  echo
  echo "### Agent throughput, latency and CPU per ACK ($(nproc) cores, agents with $loops loops on cores $agent_cpu, load with $gen_threads threads on cores $load_cpu)"
  echo
  "$sgb" table -ceiling null "$out"/runs/c*.json
  echo
  stop_pid "$null_pid"
  stop_pid "$sg_pid"
fi

if has_part reload; then
  reloads=10
  log "reload: $reloads reloads of the 2M list under 8×20 load, each waited for before the next"
  cp "$list" "$out/list-reload.txt"
  start_spoaguard "$out/list-reload.txt"
  # The load runs until interrupted after the last reload (bounded at 10 minutes).
  GOMAXPROCS=$gen_threads taskset -c "$load_cpu" "$sgb" run -addr "$sg_addr" -agent-name spoaguard -cell reload -agent-pid "$sg_pid" \
    -conns 8 -inflight 20 -targets "$out/targets-listed5.txt" -list synthetic \
    -warmup 1s -duration 10m -ack-timeout "$ack_timeout" -json "$out/reload.json" >"$out/reload.txt" 2>&1 &
  load_pid=$!; pids+=("$load_pid")
  sleep 3
  durations=()
  for i in $(seq 1 "$reloads"); do
    before=$(metric "$sg_metrics" spoaguard_reloads_total)
    # A new inode with the same content, as rsync or an editor leaves a file; replaced only
    # between reloads (a file replaced while it is read is refused, and rightly so).
    cp "$list" "$out/list-reload.txt.new" && mv "$out/list-reload.txt.new" "$out/list-reload.txt"
    kill -HUP "$sg_pid"
    if wait_for 120 metric_above "$sg_metrics" spoaguard_reloads_total "$before"; then
      durations+=("$(metric "$sg_metrics" spoaguard_reload_duration_seconds)")
    else
      durations+=(timeout); failed=1
    fi
    sleep 1
  done
  kill -INT "$load_pid"
  reload_rc=0; wait "$load_pid" || reload_rc=$?
  [ "$reload_rc" = 0 ] || failed=1
  echo "### Reload under load"
  echo
  echo '```'
  cat "$out/reload.txt"
  echo "ACK/s per second: $("$sgb" field acks_per_second_timeline "$out/reload.json")"
  echo "rebuild durations, seconds (spoaguard_reload_duration_seconds after each SIGHUP): ${durations[*]}"
  echo "reloads refused by the agent: $(grep -c 'keeping the previous contents' "$out/spoaguard.log" || true)"
  echo '```'
  echo
  stop_pid "$sg_pid"
fi

if has_part memory; then
  log "memory: RSS with an empty list, with the 2M list, and with $idle_n idle connections"
  start_spoaguard "$out/list-empty.txt"; sleep 1
  rss_empty=$(rss_kib "$sg_pid"); stop_pid "$sg_pid"
  start_spoaguard "$list"; sleep 2
  rss_full=$(rss_kib "$sg_pid")
  "$sgb" idle -addr "$sg_addr" -conns "$idle_n" -hold 8s >"$out/idle.txt" 2>&1 &
  idle_pid=$!; pids+=("$idle_pid")
  wait_for 30 grep -q ready "$out/idle.txt" || log "idle connections not ready"
  sleep 1
  rss_idle=$(rss_kib "$sg_pid")
  wait "$idle_pid" || true
  stop_pid "$sg_pid"
  entries=$(grep -vc '^#' "$list")
  echo "### Memory (RSS, /proc/PID/status)"
  echo
  echo "| what | RSS KiB | per unit |"
  echo "|---|--:|--:|"
  echo "| spoaguard, empty list | $rss_empty | |"
  echo "| spoaguard, $entries entries | $rss_full | $(awk -v a="$rss_full" -v b="$rss_empty" -v n="$entries" 'BEGIN { printf "%.1f bytes/entry", (a-b)*1024/n }') |"
  echo "| + $idle_n idle connections | $rss_idle | $(awk -v a="$rss_idle" -v b="$rss_full" -v n="$idle_n" 'BEGIN { printf "%.0f bytes/conn", (a-b)*1024/n }') |"
  echo
fi

if has_part scale; then
  counts=(); n=1
  while [ "$n" -lt "$loops" ]; do counts+=("$n"); n=$((n * 2)); done
  counts+=("$loops")
  log "scale: ${counts[*]} event loops on cores $agent_cpu ($(taskset -c "$agent_cpu" nproc) cores), load generator ($gen_threads threads) on cores $load_cpu"
  for n in "${counts[@]}"; do
    agent_loops=$n
    start_null
    start_spoaguard "$list"
    for rep in $(seq 1 "$repeat"); do
      log "cell scale-loops$n: $((8 * n)) connections × 20 (repetition $rep of $repeat)"
      load null "scale-loops$n" "$null_addr" "$null_pid" "$null_metrics" -conns $((8 * n)) -inflight 20
      load spoaguard "scale-loops$n" "$sg_addr" "$sg_pid" "$sg_metrics" -conns $((8 * n)) -inflight 20
    done
    stop_pid "$null_pid"
    stop_pid "$sg_pid"
  done
  agent_loops=$loops
  rep=1
  echo "### Scaling with -loops (agents on cores $agent_cpu, load with $gen_threads threads on cores $load_cpu; 8 connections × 20 in flight per loop)"
  echo
  "$sgb" table -ceiling null "$out"/runs/scale-loops*.json
  echo
  echo "| agent |$(printf -- ' -loops %s |' "${counts[@]}")"
  echo "|---|$(printf -- '--:|%.0s' "${counts[@]}")"
  for agent in null spoaguard; do
    base=$("$sgb" field acks_per_sec "$out"/runs/scale-loops1."$agent".*.json | sort -g | tail -1)
    row="| $agent ACK/s over its 1-loop figure |"
    for n in "${counts[@]}"; do
      best=$("$sgb" field acks_per_sec "$out"/runs/scale-loops"$n"."$agent".*.json | sort -g | tail -1)
      row+=" $(awk -v a="$best" -v b="$base" 'BEGIN { if (b > 0) printf "%.2f×", a / b; else printf "–" }') |"
    done
    echo "$row"
  done
  echo
fi

if has_part haproxy; then
  haproxy=$(command -v haproxy || true)
  [ -z "$haproxy" ] && [ -x /usr/sbin/haproxy ] && haproxy=/usr/sbin/haproxy
  if [ -z "$haproxy" ]; then
    log "haproxy not installed (scripts/haproxy-env.sh --no-3x): skipping HAProxy in the loop"
  elif ! command -v wrk >/dev/null; then
    log "wrk not installed (apt-get install wrk): skipping HAProxy in the loop"
  else
    log "HAProxy in the loop: wrk on core $load_cpu, HAProxy (1 thread) and agents on core $agent_cpu"
    start_null
    start_spoaguard "$list"
    hdir=$out/haproxy; mkdir -p "$hdir"
    # HAProxy 3.1+ speaks SPOP through "mode spop" backends: its own pair of maintained files.
    hap_version=$("$haproxy" -v | head -1 | awk '{print $3}')
    files=2.6; awk -v v="$hap_version" 'BEGIN { split(v, p, "."); exit !(p[1] * 100 + p[2] >= 301) }' && files=3.x
    cp "scripts/haproxy/spoaguard-$files.conf" "$hdir/spoaguard.conf"
    # haproxy_config VARIANT PORT AGENT writes $hdir/VARIANT.cfg: scripts/haproxy/haproxy-$files.cfg
    # with its ports, agent address and SPOE file path replaced, as the e2e tests and demo.sh
    # do, and what the measurement needs: one thread, no log target (HAProxy would log every
    # request), and the fail-closed rule on, so that a failed check is a non-2xx for wrk.
    # Variants: sg and null check with spoaguard or with the do-nothing agent; plain has no
    # SPOE filter; acl has HAProxy's own "src -f" ACL on the same list in its place.
    haproxy_config() {
      local variant=$1 port=$2 agent=$3 cfg filter="filter spoe engine spoaguard config /etc/haproxy/spoaguard.conf"
      cfg=$(<"scripts/haproxy/haproxy-$files.cfg")
      case $variant in
        plain) cfg=$(replace_once "$cfg" "$filter" "# no SPOE filter") ;;
        acl) cfg=$(replace_once "$cfg" "$filter" "http-request deny deny_status 403 if { src -f $list }") ;;
        *) cfg=$(replace_once "$cfg" "config /etc/haproxy/spoaguard.conf" "config $hdir/spoaguard.conf") ;;
      esac
      cfg=$(replace_once "$cfg" "bind 127.0.0.1:18080" "bind 127.0.0.1:$port")
      cfg=$(replace_once "$cfg" "bind [::1]:18080" "bind [::1]:$port")
      cfg=$(replace_once "$cfg" "server agent1 127.0.0.1:12345" "server agent1 $agent")
      cfg=$(replace_once "$cfg" "log stdout format raw local0 info" "nbthread 1")
      cfg=$(replace_once "$cfg" "# http-request deny deny_status 503" "http-request deny deny_status 503")
      printf '%s\n' "$cfg" >"$hdir/$variant.cfg"
    }
    # One HAProxy process per variant, all on the agent core; only the one under load is busy.
    declare -A hap_port=() hap_pid=()
    for v in plain null sg acl; do
      hap_port[$v]=$(free_port)
      agent=$null_addr; [ "$v" = sg ] && agent=$sg_addr
      haproxy_config "$v" "${hap_port[$v]}" "$agent"
      taskset -c "$agent_cpu" "$haproxy" -f "$hdir/$v.cfg" -db >"$hdir/haproxy-$v.log" 2>&1 &
      hap_pid[$v]=$!; pids+=("${hap_pid[$v]}")
    done
    log "HAProxy $hap_version (scripts/haproxy/haproxy-$files.cfg) loads the 2M list into its ACL (takes a while)"
    for v in plain null sg acl; do
      # With the fail-closed rule, a 200 through an SPOE frontend means its agent answered.
      wait_for 300 curl -fsS -o /dev/null "http://127.0.0.1:${hap_port[$v]}/" ||
        { log "HAProxy ($v) did not answer"; cat "$hdir/haproxy-$v.log" >&2; exit 1; }
    done
    echo "### HAProxy in the loop (HAProxy $hap_version, scripts/haproxy/haproxy-$files.cfg, wrk -t1 -c50 -d$wrk_d)"
    echo
    # Each frontend is run $repeat times, interleaved; the fastest run of each is quoted (as in
    # the grid: interference only ever slows a run down).
    variants=(null plain sg acl)
    declare -A best_run=() best_load=() best_us=() round_rps=() round_us=()
    # wrk_requests FILE: requests completed; agent_us PID TICKS0 TICKS1 REQUESTS: µs of agent CPU
    # per request.
    wrk_requests() { awk '$2 == "requests" && $3 == "in" { print $1 }' "$1"; }
    agent_us() { awk -v t=$(($3 - $2)) -v hz="$clk_tck" -v n="$4" 'BEGIN { if (n > 0) printf "%.2f", t * 1e6 / hz / n }'; }
    for rep in $(seq 1 "$repeat"); do
      for v in "${variants[@]}"; do
        f=$hdir/wrk-$v-$rep.txt
        apid=""; case $v in null) apid=$null_pid ;; sg) apid=$sg_pid ;; esac
        [ -n "$apid" ] && t0=$(cpu_ticks "$apid")
        taskset -c "$load_cpu" wrk -t1 -c50 -d"$wrk_d" --latency "http://127.0.0.1:${hap_port[$v]}/" >"$f" 2>&1 || true
        us=""; [ -n "$apid" ] && us=$(agent_us "$apid" "$t0" "$(cpu_ticks "$apid")" "$(wrk_requests "$f")")
        rps=$(awk '/^Requests\/sec:/ { printf "%d", $2 }' "$f")
        round_rps[$v.$rep]=${rps:-0}; round_us[$v.$rep]=$us
        prev=${best_run[$v]:-}
        if [ -z "$prev" ] || [ "${rps:-0}" -gt "$(awk '/^Requests\/sec:/ { printf "%d", $2 }' "$prev")" ]; then
          best_run[$v]=$f
          best_us[$v]=$us
          best_load[$v]=$(cut -d' ' -f1 /proc/loadavg)
        fi
      done
    done
    echo "| frontend | req/s | vs. do-nothing agent | agent CPU µs/req | vs. do-nothing agent | p50 | p99 | non-2xx | load avg at end |"
    echo "|---|--:|--:|--:|--:|--:|--:|--:|--:|"
    base=$(awk '/^Requests\/sec:/ { printf "%d", $2 }' "${best_run[null]}")
    for v in plain null sg acl; do
      case $v in plain) what="no SPOE filter" ;; null) what="SPOE → do-nothing agent" ;;
        sg) what="SPOE → spoaguard (2M list)" ;; acl) what="native \`src -f\` ACL (2M list)" ;; esac
      f=${best_run[$v]:-}
      if [ -z "$f" ]; then echo "| $what | – | | | | | | | |"; continue; fi
      rps=$(awk '/^Requests\/sec:/ { printf "%d", $2 }' "$f")
      p50=$(awk '$1 == "50%" { print $2 }' "$f")
      p99=$(awk '$1 == "99%" { print $2 }' "$f")
      non2xx=$(awk '/Non-2xx/ { print $NF }' "$f"); non2xx=${non2xx:-0}
      share=$(awk -v a="${rps:-0}" -v b="${base:-0}" 'BEGIN { if (b > 0) printf "%.0f%%", 100*a/b }')
      us=${best_us[$v]:-}
      cpu_share=$(awk -v a="$us" -v b="${best_us[null]:-}" 'BEGIN { if (a != "" && b > 0) printf "%.2f×", a/b }')
      echo "| $what | $rps | $share | ${us:-–} | $cpu_share | $p50 | $p99 | $non2xx | ${best_load[$v]} |"
    done
    echo
    echo "Each round, spoaguard against the do-nothing agent (runs seconds apart; targets: rate ≥ 0.95, CPU ≤ 1.3×):"
    echo
    echo "| round | HAProxy rate ratio | agent CPU per request ratio |"
    echo "|--:|--:|--:|"
    ratios=$(for rep in $(seq 1 "$repeat"); do
      awk -v a="${round_rps[sg.$rep]}" -v b="${round_rps[null.$rep]}" -v c="${round_us[sg.$rep]}" -v d="${round_us[null.$rep]}" \
        'BEGIN { printf "%s %s\n", (b > 0 ? sprintf("%.3f", a/b) : "-"), (d > 0 ? sprintf("%.2f", c/d) : "-") }'
    done)
    echo "$ratios" | awk '{ printf "| %d | %s | %s× |\n", NR, $1, $2 }'
    # The median of the rounds: a slow spell of the shared machine moves one round, not it.
    median() { sort -g | awk '{ v[NR] = $1 } END { if (NR) print (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2) }'; }
    echo "| median | $(echo "$ratios" | awk '$1 != "-" { print $1 }' | median) | $(echo "$ratios" | awk '$2 != "-" { print $2 }' | median)× |"
    echo
    for v in plain null sg acl; do stop_pid "${hap_pid[$v]}"; done
    stop_pid "$null_pid"
    stop_pid "$sg_pid"
  fi
fi

log "raw reports, logs and lists: $out"
if [ "$failed" != 0 ]; then log "some runs FAILED (wrong, missing or unexpected ACKs): see above"; exit 1; fi
