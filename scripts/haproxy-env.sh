#!/usr/bin/env bash
# Installs the two HAProxy generations the end-to-end tests and the demo run against:
#
#   * HAProxy 2.6 from Debian 12 (apt-get install haproxy), the "applet" SPOE;
#   * HAProxy 3.x in a minimal Debian forky root built with debootstrap, the rewritten SPOE
#     (mode spop, odd stream ids, RST teardown). It runs as `chroot ROOT haproxy -f CFG` and
#     shares the host's loopback, so no network setup is needed.
#
# Idempotent: packages already installed are left alone, and the root is reused once it is
# complete (a marker file is written last, so an interrupted build is redone, not trusted).
# The root is cached outside the clone so a machine builds it once.
#
# Usage: scripts/haproxy-env.sh [--no-3x]
#   --no-3x   install HAProxy 2.6 only (the demo needs nothing more)
#
# Environment:
#   SPOAGUARD_HAPROXY3_ROOT  where the 3.x root lives (default /var/cache/spoaguard/haproxy-forky)
#   SPOAGUARD_DEBIAN_MIRROR  Debian archive URI (default: the one apt is configured with)
#   SPOAGUARD_DEBIAN_SUITE   suite for the 3.x root (default forky, Debian testing)
#
# The last lines printed are machine-readable for the test harness:
#   HAPROXY26=/usr/sbin/haproxy
#   HAPROXY3_ROOT=/var/cache/spoaguard/haproxy-forky
set -euo pipefail

want_3x=1
for arg in "$@"; do
  case "$arg" in
    --no-3x) want_3x=0 ;;
    -h|--help) sed -n '2,23p' "$0"; exit 0 ;;
    *) echo "haproxy-env: unknown argument $arg" >&2; exit 2 ;;
  esac
done

root_dir=${SPOAGUARD_HAPROXY3_ROOT:-/var/cache/spoaguard/haproxy-forky}
suite=${SPOAGUARD_DEBIAN_SUITE:-forky}
marker="$root_dir/.spoaguard-root-complete"

log() { echo "haproxy-env: $*" >&2; }

sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null; then sudo_cmd=(sudo); else
    log "not root and no sudo: cannot install packages or build the root"; exit 1
  fi
fi

apt_updated=0
apt_install() {
  if [ "$apt_updated" -eq 0 ]; then
    log "apt-get update"
    "${sudo_cmd[@]}" apt-get update -qq
    apt_updated=1
  fi
  log "apt-get install $*"
  # policy-rc.d or a missing systemd keeps the packaged service from starting; that is wanted:
  # the tests and the demo run their own HAProxy processes on free loopback ports.
  "${sudo_cmd[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >&2
}

# first_debian_archive reads URIs on stdin and prints the first plain Debian archive: not the
# security archive, not ports, not a third-party repository.
first_debian_archive() {
  local uri
  while read -r uri; do
    case "$uri" in
      */debian-security*|*/debian-ports*) ;;
      */debian|*/debian/) echo "${uri%/}"; cat >/dev/null; return ;;  # drain: no SIGPIPE upstream
    esac
  done
  return 1
}

# debian_mirror prints the Debian archive URI apt already uses: deb822 .sources files
# ("URIs: a b") first, then one-line sources.list ("deb [opts] URI suite ...").
debian_mirror() {
  if [ -n "${SPOAGUARD_DEBIAN_MIRROR:-}" ]; then echo "$SPOAGUARD_DEBIAN_MIRROR"; return; fi
  {
    cat /etc/apt/sources.list.d/*.sources 2>/dev/null |
      awk 'tolower($1)=="uris:" { for (i = 2; i <= NF; i++) print $i }'
    cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
      awk '$1=="deb" { for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:\/\//) { print $i; break } }'
  } | first_debian_archive || echo "http://deb.debian.org/debian"
}

# --- HAProxy 2.6 (host) ---------------------------------------------------------------------
missing=()
command -v haproxy >/dev/null || missing+=(haproxy)
if [ "$want_3x" -eq 1 ] && ! command -v debootstrap >/dev/null; then missing+=(debootstrap); fi
if [ "${#missing[@]}" -gt 0 ]; then apt_install "${missing[@]}"; fi
haproxy26=$(command -v haproxy)

# --- HAProxy 3.x (debootstrap root) ---------------------------------------------------------
build_root() {
  local mirror script tmp
  mirror=$(debian_mirror)
  # debootstrap from Debian 12 has no script named after newer suites; sid's script builds
  # every testing/unstable suite.
  script=/usr/share/debootstrap/scripts/$suite
  [ -e "$script" ] || script=/usr/share/debootstrap/scripts/sid
  tmp="$root_dir.partial"
  log "building the HAProxy 3.x root: debootstrap --variant=minbase --include=haproxy $suite $root_dir $mirror"
  log "(about 25 s and 230 MB, once per machine)"
  "${sudo_cmd[@]}" rm -rf "$tmp"
  "${sudo_cmd[@]}" mkdir -p "$(dirname "$root_dir")"
  if ! "${sudo_cmd[@]}" debootstrap --variant=minbase --include=haproxy "$suite" "$tmp" "$mirror" "$script" >&2; then
    log "debootstrap failed (is $mirror reachable? see $tmp/debootstrap/debootstrap.log)"
    exit 1
  fi
  "${sudo_cmd[@]}" rm -rf "$root_dir"
  "${sudo_cmd[@]}" mv "$tmp" "$root_dir"
  "${sudo_cmd[@]}" mkdir -p "$root_dir/tmp"
  "${sudo_cmd[@]}" chmod 1777 "$root_dir/tmp"
  # Last step: the marker says the root is complete and was checked.
  "${sudo_cmd[@]}" chroot "$root_dir" haproxy -v >/dev/null
  echo "$suite $(date -u +%Y-%m-%dT%H:%M:%SZ) $mirror" | "${sudo_cmd[@]}" tee "$marker" >/dev/null
}

if [ "$want_3x" -eq 1 ]; then
  if [ -f "$marker" ] && [ -x "$root_dir/usr/sbin/haproxy" ]; then
    log "reusing the HAProxy 3.x root in $root_dir"
  else
    build_root
  fi
fi

# --- report ---------------------------------------------------------------------------------
echo "HAProxy 2.6: $haproxy26"
"$haproxy26" -v | sed -n 1p  # not head: its early exit SIGPIPEs haproxy, and pipefail fails the script
if [ "$want_3x" -eq 1 ]; then
  echo "HAProxy 3.x: chroot $root_dir haproxy"
  "${sudo_cmd[@]}" chroot "$root_dir" haproxy -v | sed -n 1p
fi
echo "HAPROXY26=$haproxy26"
if [ "$want_3x" -eq 1 ]; then echo "HAPROXY3_ROOT=$root_dir"; fi
