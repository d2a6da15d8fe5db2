# Helpers shared by the scripts (demo.sh, soak.sh, the bench scripts); source it, do not run it.
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

# pinned_agent WORK NAME PORT [FLAGS...] starts WORK/spoaguard as the pinned benchmarks run it:
# on BENCH_AGENT_CPU (default core 0), one event loop, no metrics listener, on 127.0.0.1:PORT,
# logging to WORK/NAME.log. Its PID goes in pids and in the variable NAME_pid.
pinned_agent() {
  local work=$1 name=$2 port=$3; shift 3
  taskset -c "${BENCH_AGENT_CPU:-0}" "$work/spoaguard" -listen "127.0.0.1:$port" -metrics "" -loops 1 -log-level warn \
    "$@" >"$work/$name.log" 2>&1 &
  pids+=($!)
  eval "${name}_pid=$!"
}

# pinned_run WORK ROUND NAME PORT TARGETS drives the agent pinned_agent started as NAME with
# WORK/bench on BENCH_LOAD_CPU (default core 1), 8 connections x 20 in flight for 5 s, keeps
# the report in WORK/NAME-ROUND.json and prints: round, agent, ACK/s, agent CPU ns per ACK.
pinned_run() {
  local work=$1 round=$2 name=$3 port=$4 targets=$5 pid_var=${3}_pid
  taskset -c "${BENCH_LOAD_CPU:-1}" "$work/bench" run -addr "127.0.0.1:$port" -agent-pid "${!pid_var}" \
    -targets "$targets" -conns 8 -inflight 20 -duration 5s -json "$work/$name-$round.json" >/dev/null
  printf '%-6s %-6s %12.0f %12.0f\n' "$round" "$name" "$("$work/bench" field acks_per_sec "$work/$name-$round.json")" \
    "$("$work/bench" field agent_cpu_per_ack_ns "$work/$name-$round.json" 2>/dev/null || echo 0)"
}

# pinned_rounds WORK ROUNDS TARGETS NAME... drives each agent pinned_agent started as NAME (on
# the port in the variable NAME_port) with pinned_run, in ROUNDS interleaved rounds, between
# the load average before and after. The function the variable after_round names, if any,
# runs after each round with the round's number; the one run_agent names, if any, runs each
# agent's turn in place of pinned_run, with its arguments.
pinned_rounds() {
  local work=$1 rounds=$2 targets=$3 r name port_var; shift 3
  echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
  printf '%-6s %-6s %12s %12s\n' round agent 'ACK/s' 'CPU ns/ACK'
  for r in $(seq 1 "$rounds"); do
    for name in "$@"; do
      port_var=${name}_port
      "${run_agent:-pinned_run}" "$work" "$r" "$name" "${!port_var}" "$targets"
    done
    if [ -n "${after_round:-}" ]; then "$after_round" "$r"; fi
  done
  echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
}
