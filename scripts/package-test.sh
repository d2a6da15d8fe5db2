#!/usr/bin/env bash
# Tests the Debian package as an operator meets it: builds the .deb (scripts/package.sh),
# installs it with dpkg -i into a fresh Debian 12 root made by debootstrap, runs
# `spoaguard -version` and, as the spoaguard user the unit runs it as, `spoaguard -check`
# on the installed default config, then checks that an upgrade, a removal and a purge
# behave as Debian policy says. Then builds the container image of packaging/Containerfile
# with buildah (installed with apt-get when missing) and runs -version in it.
#
# Usage: scripts/package-test.sh
# Environment: SPOAGUARD_DEBIAN_MIRROR (see scripts/debian.sh), SPOAGUARD_DEBIAN12_ROOT
# (the cached pristine root, default /var/cache/spoaguard/debian12-root, about 150 MB),
# CI=true (build the root from scratch), TMPDIR.
# Needs root (or sudo) for debootstrap and chroot. About 30 s with the cached root; the
# first run (and every CI run) adds debootstrap's one to four minutes, mirror permitting.
set -euo pipefail
cd "$(dirname "$0")/.."

debian_log_prefix=package-test
. scripts/debian.sh
debian_need_root
sudo=("${debian_sudo[@]}")

fail() { echo "package-test: FAIL: $*" >&2; exit 1; }
step() { echo "package-test: $*" >&2; }

deb=$(scripts/package.sh | tail -n 1)
step "built $deb ($(du -h "$deb" | cut -f1))"
[ "$(dpkg-deb --field "$deb" Package)" = spoaguard ] || fail "dpkg-deb --field $deb Package"
contents=$(dpkg-deb --contents "$deb")
for f in ./usr/bin/spoaguard ./lib/systemd/system/spoaguard.service ./etc/spoaguard/spoaguard.yaml \
  ./usr/share/doc/spoaguard/copyright ./usr/share/doc/spoaguard/examples/haproxy/haproxy-2.6.cfg \
  ./usr/share/doc/spoaguard/examples/haproxy/haproxy-3.x.cfg ./usr/share/doc/spoaguard/examples/feeds/spoaguard-feeds.timer; do
  grep -q " $f\$" <<<"$contents" || fail "$deb lacks $f"
done
tmp=$(mktemp -d)
dpkg-deb --ctrl-tarfile "$deb" | tar -x -C "$tmp" ./conffiles
grep -qx /etc/spoaguard/spoaguard.yaml "$tmp/conffiles" || fail "spoaguard.yaml is not a conffile: $(cat "$tmp/conffiles")"
rm -rf "$tmp"

# The root: a copy of a pristine Debian 12 root that debootstrap built once and that is
# cached in SPOAGUARD_DEBIAN12_ROOT (no package of ours ever touches the cache). With
# CI=true it is built from scratch every run, so that CI proves the whole path.
root=$(mktemp -d "${TMPDIR:-/tmp}/spoaguard-deb-root.XXXXXX")
pristine=""
cleanup() {
  for d in "$root" $pristine; do
    if ! grep -qF " $d/" /proc/self/mounts; then "${sudo[@]}" rm -rf "$d"; fi
  done
}
trap cleanup EXIT
rmdir "$root"
cache=${SPOAGUARD_DEBIAN12_ROOT:-/var/cache/spoaguard/debian12-root}
if [ "${CI:-}" = true ]; then
  debian_bootstrap bookworm "$root" adduser
elif [ -f "$cache/.spoaguard-root-complete" ]; then
  step "copying the pristine Debian 12 root cached in $cache"
  "${sudo[@]}" cp -a "$cache" "$root"
  "${sudo[@]}" rm -f "$root/.spoaguard-root-complete"
else
  pristine="$cache.partial"
  "${sudo[@]}" rm -rf "$pristine"
  "${sudo[@]}" mkdir -p "$(dirname "$cache")"
  debian_bootstrap bookworm "$pristine" adduser
  "${sudo[@]}" rm -rf "$cache"
  "${sudo[@]}" cp -a "$pristine" "$root"
  "${sudo[@]}" mv "$pristine" "$cache"
  pristine=""
  date -u +%Y-%m-%dT%H:%M:%SZ | "${sudo[@]}" tee "$cache/.spoaguard-root-complete" >/dev/null
fi
in_root() { "${sudo[@]}" chroot "$root" "$@"; }

"${sudo[@]}" cp "$deb" "$root/tmp/spoaguard.deb"
in_root dpkg -i /tmp/spoaguard.deb >&2 || fail "dpkg -i"
in_root getent passwd spoaguard >/dev/null || fail "postinst did not create the spoaguard user"
in_root spoaguard -version || fail "spoaguard -version"
# As the unit's ExecStartPre runs it: as the spoaguard user, under the unit's LimitNOFILE.
nofile=$(sed -n 's/^LimitNOFILE=//p' "$root/lib/systemd/system/spoaguard.service")
# setpriv, not runuser: runuser's PAM session would reset the limit.
"${sudo[@]}" prlimit --nofile="$nofile:$nofile" chroot "$root" setpriv --reuid spoaguard --regid spoaguard --init-groups \
  spoaguard -check -config /etc/spoaguard/spoaguard.yaml >&2 ||
  fail "spoaguard -check on the installed config, as the spoaguard user, LimitNOFILE=$nofile"

# An upgrade (the same package again) keeps a changed conffile and the user.
echo "# changed by the operator" | "${sudo[@]}" tee -a "$root/etc/spoaguard/spoaguard.yaml" >/dev/null
in_root dpkg -i --force-confold /tmp/spoaguard.deb >&2 || fail "dpkg -i over the installed package"
grep -q 'changed by the operator' "$root/etc/spoaguard/spoaguard.yaml" || fail "reinstall replaced a changed conffile"

status() { in_root dpkg-query -W -f='${db:Status-Abbrev}' spoaguard 2>/dev/null | tr -d ' ' || true; }
in_root dpkg -r spoaguard >&2 || fail "dpkg -r"
[ ! -e "$root/usr/bin/spoaguard" ] || fail "dpkg -r left /usr/bin/spoaguard"
[ ! -e "$root/lib/systemd/system/spoaguard.service" ] || fail "dpkg -r left the unit"
[ -f "$root/etc/spoaguard/spoaguard.yaml" ] || fail "dpkg -r removed the conffile (it must stay until purge)"
[ "$(status)" = rc ] || fail "after dpkg -r the status is '$(status)', want rc (removed, config-files)"

"${sudo[@]}" mkdir -p "$root/var/lib/spoaguard/feeds" # as the unit's StateDirectory= would
in_root dpkg -P spoaguard >&2 || fail "dpkg -P"
[ ! -e "$root/etc/spoaguard" ] || fail "dpkg -P left /etc/spoaguard: $(ls -A "$root/etc/spoaguard")"
[ ! -e "$root/var/lib/spoaguard" ] || fail "dpkg -P left /var/lib/spoaguard"
[ -z "$(status)" ] || [ "$(status)" = un ] || fail "after dpkg -P the status is '$(status)', want not installed"
step "deb: installed, -version and -check pass, upgrade keeps conffiles, remove and purge as policy says"

command -v buildah >/dev/null || debian_apt_install buildah
scripts/container-test.sh
