#!/usr/bin/env bash
# spoaguard in one command: HAProxy 2.6 in front of a tiny app, spoaguard behind it, and a
# few requests from listed and unlisted loopback addresses.
#
#   ./scripts/demo.sh
#
# It installs HAProxy (and curl) with apt-get if missing (scripts/haproxy-env.sh --no-3x), builds
# the agent, starts it on the real feeds in testdata/ plus a two-line demo deny list, starts
# HAProxy with scripts/haproxy/haproxy-2.6.cfg (ports replaced), prints what each client got,
# and stops everything it started, also on Ctrl-C. Everything listens on loopback only.
#
# Environment: SPOAGUARD_AGENT=/path/to/spoaguard uses that binary instead of building one.
set -euo pipefail
cd "$(dirname "$0")/.."

listed_v4=127.0.0.66     # in the demo deny list
unlisted_v4=127.0.0.1    # in no list
listed_v6=::1            # in the demo deny list (the only IPv6 loopback address)

if [ -t 1 ]; then bold=$'\033[1m' plain=$'\033[0m'; else bold='' plain=''; fi
say() { printf '%s== %s%s\n' "$bold" "$*" "$plain"; }

work=$(mktemp -d "${TMPDIR:-/tmp}/spoaguard-demo.XXXXXX")
. "$(dirname "$0")/lib.sh"
cleanup() { stop_started; rm -rf "$work"; }
trap cleanup EXIT
trap 'echo; echo "interrupted, cleaning up"; exit 130' INT TERM

say "HAProxy"
scripts/haproxy-env.sh --no-3x | grep -v '^HAPROXY'
if ! command -v curl >/dev/null; then
  debian_log_prefix=demo
  . "$(dirname "$0")/debian.sh"
  debian_need_root
  debian_apt_install curl ca-certificates
fi
haproxy=$(command -v haproxy || echo /usr/sbin/haproxy)

say "spoaguard"
agent=${SPOAGUARD_AGENT:-}
if [ -z "$agent" ]; then
  command -v go >/dev/null || { echo "demo: Go is needed to build the agent (https://go.dev/dl/)" >&2; exit 1; }
  agent="$work/spoaguard"
  go build -o "$agent" ./cmd/spoaguard
  echo "built $agent"
fi

cat >"$work/demo-deny.txt" <<EOF
# demo deny list: one IPv4 and one IPv6 loopback address
$listed_v4
$listed_v6
EOF

agent_port=$(free_port); metrics_port=$(free_port); http_port=$(free_port)
feeds=testdata/feeds
"$agent" -listen "127.0.0.1:$agent_port" -metrics "127.0.0.1:$metrics_port" \
  -deny "demo=$work/demo-deny.txt" \
  -deny "ipsum=$feeds/stamparm_ipsum.txt" \
  -deny "tor=$feeds/tor_exit_nodes_mixed_v4v6_2022-03.txt" \
  >"$work/agent.log" 2>&1 &
pids+=($!)
if ! wait_for 30 curl -sf "http://127.0.0.1:$metrics_port/healthz"; then
  echo "demo: spoaguard did not become healthy; its log:" >&2; cat "$work/agent.log" >&2; exit 1
fi
echo "listening on 127.0.0.1:$agent_port, metrics on http://127.0.0.1:$metrics_port/metrics"
curl -s "http://127.0.0.1:$metrics_port/metrics" | grep '^spoaguard_list_entries' | sed 's/^/  /' || true

say "HAProxy $("$haproxy" -v | head -1 | awk '{print $3}') in front, on port $http_port"
cp scripts/haproxy/spoaguard-2.6.conf "$work/spoaguard.conf"
sed -e "s#bind 127.0.0.1:18080#bind 127.0.0.1:$http_port#" \
    -e "s#bind \[::1\]:18080#bind [::1]:$http_port#" \
    -e "s#server agent1 127.0.0.1:12345#server agent1 127.0.0.1:$agent_port#" \
    -e "s#config /etc/haproxy/spoaguard.conf#config $work/spoaguard.conf#" \
    -e "s#check inter 2s#check inter 500ms#" \
    scripts/haproxy/haproxy-2.6.cfg >"$work/haproxy.cfg"
"$haproxy" -f "$work/haproxy.cfg" >"$work/haproxy.log" 2>&1 &
pids+=($!)
# HAProxy is ready once a listed client is denied (the agent answered through it).
if ! wait_for 15 bash -c "curl -s -o /dev/null -w '%{http_code}' --interface $listed_v4 http://127.0.0.1:$http_port/ | grep -qx 403"; then
  echo "demo: HAProxy did not start denying; its log:" >&2; cat "$work/haproxy.log" >&2; exit 1
fi

say "requests"
# request CLIENT URL WANT [XFF]: prints the status (and the list HAProxy echoed in
# X-Spoaguard-List, where the config sends it) and records a mismatch with WANT.
wrong=0
request() {
  local headers status list
  headers=$(curl -s -o /dev/null -D - --max-time 5 --interface "$1" ${4:+-H "X-Forwarded-For: $4"} "$2" | tr -d '\r')
  status=$(awk 'NR == 1 {print $2}' <<<"$headers")
  list=$(awk -F': ' 'tolower($1) == "x-spoaguard-list" {print $2}' <<<"$headers")
  printf '%-12s %-46s %-6s %s\n' "$1" "${4:+X-Forwarded-For: $4}" "${status:-error}" "${list:--}"
  if [ "${status:-error}" != "$3" ]; then
    echo "demo: $1 got ${status:-no answer}, want $3" >&2; wrong=$((wrong + 1))
  fi
}
printf '%-12s %-46s %-6s %s\n' client "header" status list
request "$unlisted_v4" "http://127.0.0.1:$http_port/" 200
request "$listed_v4" "http://127.0.0.1:$http_port/" 403
request "$listed_v6" "http://[::1]:$http_port/" 403
request "$unlisted_v4" "http://127.0.0.1:$http_port/" 200 77.90.185.20
echo "(the last one is 200: this config checks the connection's source; scripts/haproxy/spoaguard-xff-2.6.conf checks X-Forwarded-For)"

say "agent metrics"
curl -s "http://127.0.0.1:$metrics_port/metrics" | grep -E '^spoaguard_(decisions_total|acks_total|connections_open)' | sed 's/^/  /' || true

say "stopping HAProxy and spoaguard"
stop_started; pids=()
if [ "$wrong" -gt 0 ]; then echo "demo: $wrong of 4 requests got the wrong answer" >&2; exit 1; fi
echo "demo: all 4 requests got the expected answer"
