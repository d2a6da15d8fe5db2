#!/usr/bin/env bash
# Installs the two HAProxy generations the end-to-end tests and the demo run against:
#
#   * HAProxy 2.6 from Debian 12 (apt-get install haproxy), the "applet" SPOE;
#   * HAProxy 3.x in a minimal Debian forky root built with debootstrap, the rewritten SPOE
#     (mode spop, odd stream ids, RST teardown). It runs as `chroot ROOT haproxy -f CFG` and
#     shares the host's loopback, so no network setup is needed.
#
# What it puts on the machine: the Debian packages haproxy and debootstrap (apt-get, as for any
# package; the packaged haproxy service is not started by the tests), and the 3.x root, about
# 230 MB, in SPOAGUARD_HAPROXY3_ROOT.
#
# Idempotent: packages already installed are left alone, and the root is reused once it is
# complete (a marker file is written last, so an interrupted build is redone, not trusted).
#
# Usage: scripts/haproxy-env.sh [--no-3x] [--fresh] [--print-mirror]
#   --no-3x         install HAProxy 2.6 only (the demo needs nothing more)
#   --fresh         build the 3.x root even if a complete one is there (CI does, into a new
#                   temporary directory, so that every run proves the install path)
#   --print-mirror  print the Debian archive URI the root would be built from, and exit
#
# Environment:
#   SPOAGUARD_HAPROXY3_ROOT  where the 3.x root lives (default /var/cache/spoaguard/haproxy-forky)
#   SPOAGUARD_DEBIAN_MIRROR  Debian archive URI (default: the first plain Debian archive in
#                            apt's sources, deb822 or one-line; else http://deb.debian.org/debian)
#   SPOAGUARD_DEBIAN_SUITE   suite for the 3.x root (default forky, Debian testing)
#   SPOAGUARD_APT_DIR        apt configuration directory the mirror is read from (default /etc/apt)
#
# The last lines printed are machine-readable for the test harness:
#   HAPROXY26=/usr/sbin/haproxy
#   HAPROXY3_ROOT=/var/cache/spoaguard/haproxy-forky
set -euo pipefail

want_3x=1 fresh=0
for arg in "$@"; do
  case "$arg" in
    --no-3x) want_3x=0 ;;
    --fresh) fresh=1 ;;
    --print-mirror) print_mirror=1 ;;
    -h|--help) sed -n '2,30p' "$0"; exit 0 ;;
    *) echo "haproxy-env: unknown argument $arg (see --help)" >&2; exit 2 ;;
  esac
done

debian_log_prefix=haproxy-env
. "$(dirname "$0")/debian.sh"
if [ "${print_mirror:-0}" -eq 1 ]; then debian_mirror; exit 0; fi

root_dir=${SPOAGUARD_HAPROXY3_ROOT:-/var/cache/spoaguard/haproxy-forky}
suite=${SPOAGUARD_DEBIAN_SUITE:-forky}
marker="$root_dir/.spoaguard-root-complete"
debian_need_root

# --- HAProxy 2.6 (host) ---------------------------------------------------------------------
missing=()
command -v haproxy >/dev/null || [ -x /usr/sbin/haproxy ] || missing+=(haproxy)
if [ "$want_3x" -eq 1 ] && ! command -v debootstrap >/dev/null && [ ! -x /usr/sbin/debootstrap ]; then
  missing+=(debootstrap)
fi
if [ "${#missing[@]}" -gt 0 ]; then debian_apt_install "${missing[@]}"; fi
haproxy26=$(command -v haproxy || echo /usr/sbin/haproxy)

# --- HAProxy 3.x (debootstrap root) ---------------------------------------------------------
build_root() {
  local tmp="$root_dir.partial"
  debian_log "building the HAProxy 3.x root in $root_dir (about 25 s and 230 MB)"
  "${debian_sudo[@]}" rm -rf "$tmp"
  "${debian_sudo[@]}" mkdir -p "$(dirname "$root_dir")"
  debian_bootstrap "$suite" "$tmp" haproxy
  "${debian_sudo[@]}" rm -rf "$root_dir"
  "${debian_sudo[@]}" mv "$tmp" "$root_dir"
  "${debian_sudo[@]}" mkdir -p "$root_dir/tmp"
  "${debian_sudo[@]}" chmod 1777 "$root_dir/tmp"
  # Last step: the marker says the root is complete and was checked.
  if ! "${debian_sudo[@]}" chroot "$root_dir" haproxy -v >/dev/null; then
    debian_log "the root in $root_dir was built but its haproxy does not run (chroot $root_dir haproxy -v); remove it and retry"
    exit 1
  fi
  echo "$suite $(date -u +%Y-%m-%dT%H:%M:%SZ) $(debian_mirror)" | "${debian_sudo[@]}" tee "$marker" >/dev/null
}

if [ "$want_3x" -eq 1 ]; then
  if [ "$fresh" -eq 0 ] && [ -f "$marker" ] && [ -x "$root_dir/usr/sbin/haproxy" ]; then
    debian_log "reusing the HAProxy 3.x root in $root_dir ($(cat "$marker"))"
  else
    build_root
  fi
fi

# --- report ---------------------------------------------------------------------------------
echo "HAProxy 2.6: $haproxy26"
"$haproxy26" -v | sed -n 1p  # not head: its early exit SIGPIPEs haproxy, and pipefail fails the script
if [ "$want_3x" -eq 1 ]; then
  echo "HAProxy 3.x: chroot $root_dir haproxy"
  "${debian_sudo[@]}" chroot "$root_dir" haproxy -v | sed -n 1p
fi
echo "HAPROXY26=$haproxy26"
if [ "$want_3x" -eq 1 ]; then echo "HAPROXY3_ROOT=$root_dir"; fi
