#!/usr/bin/env bash
# spoaguard's resident memory with one big list: after start-up, and at the peak of reloads.
#
#   scripts/reload-memory.sh [ENTRIES] [RELOADS]      (default 2000000 entries, 3 reloads)
#
# Builds the agent and spoaguard-bench, writes a synthetic list (`spoaguard-bench gen-list`:
# 10% IPv6, 10% prefixes), starts the agent on loopback with it, and prints the resident size
# (VmRSS) and the snapshot's size (spoaguard_snapshot_bytes) once it has started. Then, RELOADS
# times: resets the peak (VmHWM, through /proc/PID/clear_refs), renames a fresh copy of the
# list into place, sends SIGHUP, waits for the reload, and prints the peak and the resident
# size after it. The agent is stopped by its PID at the end. Linux only (/proc).
set -euo pipefail
cd "$(dirname "$0")/.."

entries=${1:-2000000}
reloads=${2:-3}
work=$(mktemp -d "${TMPDIR:-/tmp}/spoaguard-memory.XXXXXX")
pid=
cleanup() {
  if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

go build -o "$work/spoaguard" ./cmd/spoaguard
go build -o "$work/spoaguard-bench" ./cmd/spoaguard-bench
"$work/spoaguard-bench" gen-list -n "$entries" -o "$work/list.src"
cp "$work/list.src" "$work/list.txt"

port=$((20000 + RANDOM % 20000))
"$work/spoaguard" -deny "synthetic=$work/list.txt" -listen "127.0.0.1:$port" \
  -metrics "127.0.0.1:$((port + 1))" -reload-interval 1h -loops 1 >"$work/agent.log" 2>&1 &
pid=$!
for _ in $(seq 1 1200); do
  grep -q "spoaguard started" "$work/agent.log" && break
  kill -0 "$pid" 2>/dev/null || { cat "$work/agent.log"; exit 1; }
  sleep 0.1
done
grep -q "spoaguard started" "$work/agent.log" || { echo "the agent did not start in 2 minutes" >&2; exit 1; }

kb() { awk -v k="$1:" '$1 == k { print $2 }' "/proc/$pid/status"; }
reloaded() { grep -c "lists reloaded" "$work/agent.log" || true; }
sleep 1
snapshot=$(curl -s "127.0.0.1:$((port + 1))/metrics" | awk '$1 == "spoaguard_snapshot_bytes" { print $2 }')
echo "entries=$entries snapshot_bytes=$snapshot start_rss_kb=$(kb VmRSS) start_peak_kb=$(kb VmHWM)"
for r in $(seq 1 "$reloads"); do
  echo 5 >"/proc/$pid/clear_refs"
  cp "$work/list.src" "$work/list.new" && mv "$work/list.new" "$work/list.txt"
  n=$(reloaded)
  kill -HUP "$pid"
  for _ in $(seq 1 1200); do [ "$(reloaded)" -gt "$n" ] && break; sleep 0.1; done
  [ "$(reloaded)" -gt "$n" ] || { echo "reload $r did not finish in 2 minutes" >&2; exit 1; }
  sleep 1
  echo "reload=$r peak_kb=$(kb VmHWM) after_rss_kb=$(kb VmRSS)" \
    "$(grep "lists reloaded" "$work/agent.log" | tail -1 | grep -o 'duration=[^ ]*')"
done
