# Helpers shared by demo.sh, bench.sh and soak.sh; source it, do not run it.
# Every process a script starts is recorded in pids and stopped by PID on exit; every wait
# is bounded; every port is on loopback.

pids=()

# stop_started stops every process recorded in pids, then reaps them.
stop_started() {
  local pid
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
}

# stop_pid stops one process this script started.
stop_pid() { kill "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true; }

# free_port prints a TCP port nobody listens on, on 127.0.0.1 nor on [::1].
free_port() {
  local port try
  for try in $(seq 1 50); do
    port=$((20000 + RANDOM % 20000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && ! (exec 3<>"/dev/tcp/::1/$port") 2>/dev/null; then
      echo "$port"; return
    fi
  done
  echo "no free loopback port found" >&2; return 1
}

# wait_for runs "$@" every 0.1 s until it succeeds, for at most $1 seconds.
wait_for() {
  local seconds=$1 i; shift
  for i in $(seq 1 $((seconds * 10))); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 0.1
  done
  return 1
}
