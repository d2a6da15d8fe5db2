# Debian helpers shared by haproxy-env.sh and the package test; source it, do not run it.
# Callers run under `set -euo pipefail`; every function here is written for that.
#
# Environment:
#   SPOAGUARD_DEBIAN_MIRROR  Debian archive URI to use (default: the one apt is configured with,
#                            else http://deb.debian.org/debian)
#   SPOAGUARD_APT_DIR        apt's configuration directory to read the mirror from (default
#                            /etc/apt; the tests point it at fixture directories)

# The archive used when apt's sources name none.
debian_default_mirror=http://deb.debian.org/debian

debian_log() { echo "${debian_log_prefix:-debian}: $*" >&2; }

# debian_sudo is empty as root, sudo otherwise; debian_need_root fails without either.
debian_sudo=()
debian_need_root() {
  if [ "$(id -u)" -eq 0 ]; then return; fi
  if command -v sudo >/dev/null; then debian_sudo=(sudo); return; fi
  debian_log "not root and no sudo: cannot install packages or build a root (run as root)"
  exit 1
}

# debian_archive_uris prints, one a line, the URI of every enabled "deb" source in apt's
# configuration: deb822 *.sources stanzas ("URIs: a b", skipping "Enabled: no" and stanzas
# without the deb type) first, then one-line "deb [opts] URI suite ..." entries from
# sources.list and sources.list.d/*.list. Missing files are not an error: a machine may have
# either layout, both, or neither.
debian_archive_uris() {
  local dir=${SPOAGUARD_APT_DIR:-/etc/apt} f
  local deb822=() oneline=()
  for f in "$dir"/sources.list.d/*.sources; do [ -f "$f" ] && deb822+=("$f"); done
  for f in "$dir"/sources.list "$dir"/sources.list.d/*.list; do [ -f "$f" ] && oneline+=("$f"); done
  if [ "${#deb822[@]}" -gt 0 ]; then
    # Stanzas end at a blank line or the end of a file. Field names are case-insensitive.
    awk '
      function flush() {
        if (enabled && isdeb) for (i = 1; i <= n; i++) print uris[i]
        n = 0; enabled = 1; isdeb = 0
      }
      FNR == 1 { flush() }
      /^[ \t]*$/ { flush(); next }
      /^[ \t]*#/ { next }
      { key = tolower($1) }
      key == "types:"   { for (i = 2; i <= NF; i++) if ($i == "deb") isdeb = 1 }
      key == "enabled:" { enabled = (tolower($2) != "no") }
      key == "uris:"    { for (i = 2; i <= NF; i++) uris[++n] = $i }
      END { flush() }
      BEGIN { n = 0; enabled = 1; isdeb = 0 }
    ' "${deb822[@]}"
  fi
  if [ "${#oneline[@]}" -gt 0 ]; then
    awk '$1 == "deb" { for (i = 2; i <= NF; i++) if ($i ~ /^[a-z+]+:\/\//) { print $i; break } }' "${oneline[@]}"
  fi
}

# debian_first_archive reads URIs on stdin and prints the first plain Debian archive, without
# a trailing slash: not the security archive, not ports, not a third-party repository. It
# prints nothing when there is none.
debian_first_archive() {
  local uri found=""
  while read -r uri; do
    [ -n "$found" ] && continue # read to the end: no SIGPIPE upstream
    case "${uri%/}" in
      */debian-security | */debian-ports) ;;
      */debian) found=${uri%/} ;;
    esac
  done
  if [ -n "$found" ]; then echo "$found"; fi
}

# debian_mirror prints exactly one Debian archive URI: $SPOAGUARD_DEBIAN_MIRROR, else the
# first plain archive apt is configured with, else the default.
debian_mirror() {
  if [ -n "${SPOAGUARD_DEBIAN_MIRROR:-}" ]; then echo "${SPOAGUARD_DEBIAN_MIRROR%/}"; return; fi
  local found
  found=$(debian_archive_uris | debian_first_archive)
  echo "${found:-$debian_default_mirror}"
}

# debian_apt_install installs packages with apt-get, running apt-get update once first.
# On failure it prints one line naming what failed and how to retry, and exits. apt-get waits
# up to 2 min for the dpkg lock another apt (an unattended upgrade, a parallel test) holds,
# where it would fail at once.
debian_apt_lock=(-o DPkg::Lock::Timeout=120)
debian_apt_updated=0
debian_apt_install() {
  if [ "$debian_apt_updated" -eq 0 ]; then
    debian_log "apt-get update"
    if ! "${debian_sudo[@]}" apt-get "${debian_apt_lock[@]}" update -qq >&2; then
      debian_log "apt-get update failed (apt's own sources; check them, then retry: apt-get update)"
      exit 1
    fi
    debian_apt_updated=1
  fi
  debian_log "apt-get install $*"
  # policy-rc.d or a missing systemd keeps a packaged service from starting; that is wanted:
  # the tests and the demo run their own processes on free loopback ports.
  if ! "${debian_sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get "${debian_apt_lock[@]}" install -y -qq --no-install-recommends "$@" >&2; then
    debian_log "apt-get install $* failed (apt's own sources; retry: apt-get install $*)"
    exit 1
  fi
}

# debian_bootstrap SUITE DIR [PACKAGE,...] builds a minimal Debian root of SUITE in DIR with
# debootstrap, from debian_mirror. On failure it prints one line naming the mirror, the suite
# and how to retry, and exits. DIR must not exist.
debian_bootstrap() {
  local suite=$1 dir=$2 include=${3:-} mirror script
  mirror=$(debian_mirror)
  # debootstrap from Debian 12 has no script named after newer suites; sid's script builds
  # every testing/unstable suite.
  script=/usr/share/debootstrap/scripts/$suite
  [ -e "$script" ] || script=/usr/share/debootstrap/scripts/sid
  local args=(--variant=minbase)
  [ -n "$include" ] && args+=("--include=$include")
  debian_log "debootstrap ${args[*]} $suite $dir $mirror"
  if ! "${debian_sudo[@]}" debootstrap "${args[@]}" "$suite" "$dir" "$mirror" "$script" >&2; then
    debian_log "debootstrap of suite $suite from mirror $mirror failed (log: $dir/debootstrap/debootstrap.log); set SPOAGUARD_DEBIAN_MIRROR to a reachable Debian archive and retry"
    exit 1
  fi
}
