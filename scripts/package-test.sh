#!/usr/bin/env bash
# Tests the Debian package as an operator meets it: builds the .deb (scripts/package.sh),
# installs it with dpkg -i into a fresh Debian 12 root made by debootstrap, runs
# `spoaguard -version` and, as the spoaguard user the unit runs it as, `spoaguard -check`
# on the installed default config, then checks that an upgrade, a removal and a purge
# behave as Debian policy says. Then builds the container image of packaging/Containerfile
# with buildah (installed with apt-get when missing) and runs -version in it.
#
# Usage: scripts/package-test.sh
# Environment: SPOAGUARD_DEBIAN_MIRROR (see scripts/debian.sh), TMPDIR.
# Needs root (or sudo) for debootstrap and chroot. About a minute, most of it debootstrap.
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
  ./usr/share/doc/spoaguard/examples/haproxy/haproxy-3.x.cfg; do
  grep -q " $f\$" <<<"$contents" || fail "$deb lacks $f"
done
tmp=$(mktemp -d)
dpkg-deb --ctrl-tarfile "$deb" | tar -x -C "$tmp" ./conffiles
grep -qx /etc/spoaguard/spoaguard.yaml "$tmp/conffiles" || fail "spoaguard.yaml is not a conffile: $(cat "$tmp/conffiles")"
rm -rf "$tmp"

root=$(mktemp -d "${TMPDIR:-/tmp}/spoaguard-deb-root.XXXXXX")
cleanup() { if ! grep -qF " $root/" /proc/self/mounts; then "${sudo[@]}" rm -rf "$root"; fi; }
trap cleanup EXIT
rmdir "$root"
debian_bootstrap bookworm "$root" adduser
in_root() { "${sudo[@]}" chroot "$root" "$@"; }

"${sudo[@]}" cp "$deb" "$root/tmp/spoaguard.deb"
in_root dpkg -i /tmp/spoaguard.deb >&2 || fail "dpkg -i"
in_root getent passwd spoaguard >/dev/null || fail "postinst did not create the spoaguard user"
in_root spoaguard -version || fail "spoaguard -version"
in_root runuser -u spoaguard -- spoaguard -check -config /etc/spoaguard/spoaguard.yaml >&2 ||
  fail "spoaguard -check on the installed config, as the spoaguard user"

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
