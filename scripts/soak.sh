#!/usr/bin/env bash
# The soak (not in CI; results in docs/RELIABILITY.md#soak): spoaguard under full load from
# the bench harness while its list is rewritten, its connections churn and its peers are
# killed mid-flight.
#
#   scripts/soak.sh [DURATION]        (default 10m)
#
# For DURATION, all at once, against one agent on loopback:
#   - main load: `spoaguard-bench run` with 8 connections × 20 NOTIFYs in flight, every ACK
#     checked against the targets' expected decisions; it must end with zero wrong,
#     unexpected or missing ACKs;
#   - list rewrites every $SOAK_REWRITE_EVERY seconds (default 30), cycling through: a good copy
#     renamed into place (new inode), a truncated copy (its "# Entries : N" header no longer
#     matches), a good copy rewritten in place, random bytes, a good copy renamed, an empty
#     file. Each is followed by SIGHUP. The bad ones must be refused and the last good list
#     kept: a list accepted truncated would turn blocked targets into allowed ones, which the
#     main load counts as wrong ACKs;
#   - churn: back-to-back 2 s runs of 4 connections (connect, handshake, load, DISCONNECT),
#     each checked like the main load;
#   - resets: runs of 8 connections × 20 in flight killed with SIGKILL after 0.5-3 s, so the
#     kernel resets their connections with NOTIFYs outstanding, as HAProxy 3.x and hard
#     stops do;
#   - attacks (`spoaguard-bench attack`), in turn, each a few waves of connections held 3 s:
#     1200 silent connections (more than -max-conns 400 and, with the other attacks, more
#     than the agent's descriptors under its 1024 open-file limit), 800 idle handshaken ones
#     (a full table: they must be the ones evicted, never the load's), 300 holding half a
#     16000-byte NOTIFY (-frame-timeout 2s, -max-buffered 2 MiB), 40 that send 2 MB of
#     NOTIFYs and never read (-write-timeout 2s), and 300 keep-alive connections to the
#     metrics listener (capped at 64 open). Through all of them the main load and the churn
#     runs must be answered in full.
# Every 5 s the agent's RSS, open descriptors, threads, goroutines and open connections are
# sampled (samples.tsv). At the end: the numbers, and a failure if any run lost or got a
# wrong ACK, a bad list was not refused, or goroutines/descriptors did not come back to their
# idle baseline.
#
# Environment: SPOAGUARD_AGENT / SPOAGUARD_BENCH use prebuilt binaries; SOAK_OUT keeps the
# results in a given directory; SOAK_LIST_N sets the list size (default 500000).
set -euo pipefail
cd "$(dirname "$0")/.."

duration=${1:-10m}
rewrite_every=${SOAK_REWRITE_EVERY:-30}
list_n=${SOAK_LIST_N:-500000}
out=${SOAK_OUT:-$(mktemp -d "${TMPDIR:-/tmp}/spoaguard-soak.XXXXXX")}
mkdir -p "$out/bin" "$out/runs" "$out/lists"
log() { printf '== %s %s\n' "$(date +%T)" "$*" >&2; }

case "$duration" in
  *m) secs=$((${duration%m} * 60)) ;;
  *s) secs=${duration%s} ;;
  *) echo "soak: duration like 10m or 90s" >&2; exit 2 ;;
esac

. "$(dirname "$0")/lib.sh"
cleanup() { stop_started; }
trap cleanup EXIT
trap 'echo "interrupted" >&2; exit 130' INT TERM


log "build (results in $out)"
sgb=${SPOAGUARD_BENCH:-}
if [ -z "$sgb" ]; then go build -o "$out/bin/spoaguard-bench" ./cmd/spoaguard-bench; sgb=$out/bin/spoaguard-bench; fi
agent=${SPOAGUARD_AGENT:-}
if [ -z "$agent" ]; then go build -o "$out/bin/spoaguard" ./cmd/spoaguard; agent=$out/bin/spoaguard; fi

log "list of $list_n entries, with a FireHOL completeness header, and targets (5% listed)"
"$sgb" gen-list -n "$list_n" -o "$out/lists/raw.txt" -targets "$out/targets.txt" -targets-n 65536 -listed 0.05
entries=$(grep -vc '^#' "$out/lists/raw.txt")
{ echo "# Entries : $entries"; grep -v '^#' "$out/lists/raw.txt"; } >"$out/lists/good.txt"
head -n $((entries / 2)) "$out/lists/good.txt" >"$out/lists/truncated.txt"
head -c 1048576 /dev/urandom >"$out/lists/garbage.txt"
: >"$out/lists/empty.txt"
list=$out/lists/soak.txt
cp "$out/lists/good.txt" "$list"

port=$(free_port); mport=$(free_port)
addr=127.0.0.1:$port metrics=http://127.0.0.1:$mport/metrics
# Small limits, so that the attacks reach them: 400 connections, 1024 open files, 2 MiB of
# buffers, and short frame and write timeouts.
(ulimit -n 1024 && exec "$agent" -listen "$addr" -metrics "127.0.0.1:$mport" -deny "soak=$list" -reload-interval 1s \
  -max-conns 400 -max-buffered 2097152 -frame-timeout 2s -write-timeout 2s) \
  >"$out/agent.log" 2>&1 &
agent_pid=$!; pids+=("$agent_pid")
for i in $(seq 1 600); do
  if "$sgb" run -addr "$addr" -conns 1 -inflight 1 -warmup 0s -duration 100ms -gen 10 >/dev/null 2>&1; then break; fi
  if ! kill -0 "$agent_pid" 2>/dev/null || [ "$i" = 600 ]; then log "agent did not start"; cat "$out/agent.log" >&2; exit 1; fi
  sleep 0.2
done

metric() { { curl -fsS -m 10 "$metrics" || true; } | awk -v m="$1" '$1 == m { v = $2 } END { print v }'; }
sample() { # t rss_kib fds threads goroutines conns_open
  printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$1" \
    "$(awk '/^VmRSS:/ { print $2 }' "/proc/$agent_pid/status")" \
    "$(ls "/proc/$agent_pid/fd" | wc -l)" \
    "$(awk '/^Threads:/ { print $2 }' "/proc/$agent_pid/status")" \
    "$(metric go_goroutines)" "$(metric spoaguard_connections_open)"
}
settle() { # wait (at most 10 s) until the agent has closed every connection
  for _ in $(seq 1 50); do [ "$(metric spoaguard_connections_open)" = 0 ] && return; sleep 0.2; done
}
settle
printf 't\trss_kib\tfds\tthreads\tgoroutines\tconns_open\n' >"$out/samples.tsv"
idle=$(sample idle-before); echo "$idle" >>"$out/samples.tsv"
failures0=$(metric 'spoaguard_list_load_failures_total{list="soak"}')

end=$(($(date +%s) + secs))
check=(-addr "$addr" -targets "$out/targets.txt" -list soak -ack-timeout 5s)

log "main load: 8 connections × 20 in flight for $duration"
"$sgb" run "${check[@]}" -conns 8 -inflight 20 -warmup 2s -duration "$duration" -agent-pid "$agent_pid" \
  -label soak-main -json "$out/runs/main.json" >"$out/runs/main.txt" 2>&1 &
main_pid=$!; pids+=("$main_pid")

( # churn: short checked runs back to back
  n=0
  while [ "$(date +%s)" -lt $((end - 3)) ]; do
    n=$((n + 1))
    if "$sgb" run "${check[@]}" -conns 4 -inflight 20 -warmup 0s -duration 2s \
      -json "$out/runs/churn.$n.json" >"$out/runs/churn.$n.txt" 2>&1; then
      echo ok >>"$out/churn.results"
    else
      echo "FAIL $n" >>"$out/churn.results"
    fi
  done
) &
churn_pid=$!; pids+=("$churn_pid")

( # resets: runs killed mid-flight
  n=0
  while [ "$(date +%s)" -lt $((end - 4)) ]; do
    n=$((n + 1))
    "$sgb" run "${check[@]}" -conns 8 -inflight 20 -warmup 0s -duration 1h >/dev/null 2>&1 &
    victim=$!
    sleep "$(awk -v r="$RANDOM" 'BEGIN { printf "%.1f", 0.5 + 2.5 * r / 32767 }')"
    kill -KILL "$victim" 2>/dev/null || true
    wait "$victim" 2>/dev/null || true
    echo "$n" >"$out/resets.count"
  done
) &
reset_pid=$!; pids+=("$reset_pid")

( # attacks, in turn, until the end
  kinds=(connect:1200:$addr idle:800:$addr partial:300:$addr noread:40:$addr http:300:127.0.0.1:$mport)
  n=0
  while [ "$(date +%s)" -lt $((end - 10)) ]; do
    IFS=: read -r kind conns target tport <<<"${kinds[$((n % ${#kinds[@]}))]}"
    n=$((n + 1))
    "$sgb" attack -kind "$kind" -addr "$target:$tport" -conns "$conns" -hold 3s -duration 6s \
      >"$out/runs/attack.$n.$kind.txt" 2>&1 || echo "attack $n ($kind) exited $?" >>"$out/attack.errors"
    echo "$n" >"$out/attacks.count"
  done
) &
attack_pid=$!; pids+=("$attack_pid")

( # samples
  start=$(date +%s)
  while kill -0 "$main_pid" 2>/dev/null; do
    sample $(($(date +%s) - start)) >>"$out/samples.tsv" || true
    sleep 5
  done
) &
sampler_pid=$!; pids+=("$sampler_pid")

kinds=(good-rename truncated good-in-place garbage good-rename empty)
rewrites=0 bad=0
: >"$out/rewrites.log"
while [ "$(date +%s)" -lt $((end - rewrite_every / 2)) ] && kill -0 "$main_pid" 2>/dev/null; do
  sleep "$rewrite_every"
  kind=${kinds[$((rewrites % ${#kinds[@]}))]}
  case "$kind" in
    good-rename) cp "$out/lists/good.txt" "$list.tmp" && mv "$list.tmp" "$list" ;;
    good-in-place) cat "$out/lists/good.txt" >"$list" ;;
    *) cp "$out/lists/$kind.txt" "$list.tmp" && mv "$list.tmp" "$list"; bad=$((bad + 1)) ;;
  esac
  kill -HUP "$agent_pid"
  rewrites=$((rewrites + 1))
  echo "$(date +%T) $kind" >>"$out/rewrites.log"
  log "list rewrite $rewrites: $kind"
done
# Leave the last good list in place for the end of the run.
cp "$out/lists/good.txt" "$list.tmp" && mv "$list.tmp" "$list" && kill -HUP "$agent_pid"

main_rc=0
wait "$main_pid" || main_rc=$?
wait "$churn_pid" "$reset_pid" "$sampler_pid" "$attack_pid" 2>/dev/null || true
settle
# gnet's goroutine pool, which hands accepted connections to the loops, keeps idle workers
# for up to 20 s: wait (bounded) for them to go before the idle sample.
idle_g0=$(echo "$idle" | cut -f5)
for _ in $(seq 1 30); do
  [ "$(metric go_goroutines)" -le $((idle_g0 + 5)) ] 2>/dev/null && break
  sleep 1
done
sleep 2
final=$(sample idle-after); echo "$final" >>"$out/samples.tsv"

failures=$(( $(metric 'spoaguard_list_load_failures_total{list="soak"}') - failures0 ))
list_entries=$(metric 'spoaguard_list_entries{list="soak"}')
churn_ok=$(grep -c '^ok' "$out/churn.results" 2>/dev/null || true)
churn_fail=$(grep -c '^FAIL' "$out/churn.results" 2>/dev/null || true)
resets=$(cat "$out/resets.count" 2>/dev/null || echo 0)
attacks=$(cat "$out/attacks.count" 2>/dev/null || echo 0)
attack_totals=$(for k in connect idle partial noread http; do
  cat "$out"/runs/attack.*."$k".txt 2>/dev/null | awk -v k="$k" '/^total:/ { o += $2; c += $(NF-6) } END { printf "%s %d opened, %d closed by the agent; ", k, o, c }'
done)
limit() { metric "spoaguard_connections_closed_by_limit_total{limit=\"$1\"}"; }
limits="table_full $(limit table_full), frame_timeout $(limit frame_timeout), write_timeout $(limit write_timeout), buffer_budget $(limit buffer_budget), backlog $(metric spoaguard_backlog_closures_total), accept pauses $(metric spoaguard_accept_pauses_total), refused $(metric spoaguard_connections_refused_total)"
field() { grep -o "\"$2\": *[-0-9.e+]*" "$1" | head -1 | sed 's/.*: *//'; }
under_load=$(awk -F'\t' 'NR > 2 && $1 != "idle-after"' "$out/samples.tsv")
col() { echo "$under_load" | awk -F'\t' -v c="$1" 'NR == 1 { first = $c } { last = $c; if ($c > max) max = $c } END { printf "%s / %s / %s", first, last, max }'; }

echo
echo "### Soak: $duration, $(nproc) cores ($(date -u +%F))"
echo
echo "| | |"
echo "|---|---|"
echo "| main load (8 conns × 20 in flight) | $(field "$out/runs/main.json" acks) ACKs, $(field "$out/runs/main.json" acks_per_sec | cut -d. -f1) ACK/s; wrong $(field "$out/runs/main.json" acks_wrong), unexpected $(field "$out/runs/main.json" acks_unexpected), missing $(field "$out/runs/main.json" acks_missing), protocol errors $(field "$out/runs/main.json" protocol_errors); exit $main_rc |"
echo "| churn (2 s runs of 4 conns, checked) | $churn_ok runs passed, $churn_fail failed |"
echo "| resets (8 conns × 20 in flight, SIGKILLed after 0.5-3 s) | $resets |"
echo "| attacks (waves of connections held 3 s) | $attacks: ${attack_totals% ; } |"
echo "| connections the limits ended | $limits |"
echo "| list rewrites (every ${rewrite_every}s) | $rewrites: $((rewrites - bad)) good, $bad bad (truncated, garbage, empty); load failures counted $failures; entries at the end $list_entries of $entries |"
echo "| RSS KiB under load (first / last / max) | $(col 2) |"
echo "| goroutines under load (first / last / max) | $(col 5) |"
echo "| open fds under load (first / last / max) | $(col 3) |"
echo "| idle before → after: RSS KiB, fds, threads, goroutines | $(echo "$idle" | cut -f2-5 | tr '\t' ' ') → $(echo "$final" | cut -f2-5 | tr '\t' ' ') |"
echo
echo "Samples: $out/samples.tsv; runs: $out/runs; agent log: $out/agent.log"

ok=1
[ "$main_rc" = 0 ] || { log "main load FAILED:"; cat "$out/runs/main.txt" >&2; ok=0; }
[ "${churn_fail:-0}" = 0 ] || { log "churn runs failed: $(grep FAIL "$out/churn.results" | head -3)"; ok=0; }
# A reload can also fail on a good list caught half-written in place by the poll; it is then
# loaded on the next poll. So at least one failure per bad list, not exactly one.
[ "$failures" -ge "$bad" ] || { log "$bad bad lists written, $failures load failures counted"; ok=0; }
[ "$list_entries" = "$entries" ] || { log "list has $list_entries entries, want $entries"; ok=0; }
idle_g=$(echo "$idle" | cut -f5) final_g=$(echo "$final" | cut -f5)
idle_fd=$(echo "$idle" | cut -f3) final_fd=$(echo "$final" | cut -f3)
[ "$final_g" -le $((idle_g + 5)) ] || { log "goroutines $idle_g idle before, $final_g after"; ok=0; }
[ "$final_fd" -le $((idle_fd + 5)) ] || { log "descriptors $idle_fd idle before, $final_fd after"; ok=0; }
kill -0 "$agent_pid" 2>/dev/null || { log "the agent died"; ok=0; }
[ ! -s "$out/attack.errors" ] || { log "attacks failed: $(head -3 "$out/attack.errors")"; ok=0; }
[ "$ok" = 1 ] || exit 1
