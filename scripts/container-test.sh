#!/usr/bin/env bash
# Builds the container image of packaging/Containerfile with buildah (vfs storage, chroot
# isolation: no daemon, no network, no user namespaces needed) in a throw-away storage
# directory, and runs `spoaguard -version` and `-check` with packaging/container.yaml in it.
#
# Usage: scripts/container-test.sh   (needs root and buildah; builds dist/build/spoaguard
# with scripts/package.sh if it is missing)
set -euo pipefail
cd "$(dirname "$0")/.."

fail() { echo "container-test: FAIL: $*" >&2; exit 1; }
[ -x dist/build/spoaguard ] || scripts/package.sh >/dev/null
cp /etc/ssl/certs/ca-certificates.crt dist/build/ || fail "no /etc/ssl/certs/ca-certificates.crt (apt-get install ca-certificates)"

store=$(mktemp -d "${TMPDIR:-/tmp}/spoaguard-buildah.XXXXXX")
ctr=""
cleanup() {
  if [ -n "$ctr" ]; then bah rm "$ctr" >/dev/null 2>&1 || true; fi
  bah rmi -a -f >/dev/null 2>&1 || true
  rm -rf "$store"
}
trap cleanup EXIT
bah() { buildah --storage-driver vfs --root "$store/root" --runroot "$store/run" "$@"; }

bah bud --quiet --isolation chroot -f packaging/Containerfile -t localhost/spoaguard:test . >/dev/null ||
  fail "buildah bud -f packaging/Containerfile"
ctr=$(bah from localhost/spoaguard:test)
user=$(bah inspect --format '{{.OCIv1.Config.User}}' localhost/spoaguard:test)
[ "$user" = 65532:65532 ] || fail "image user is '$user', want 65532:65532 (non-root)"

lists=$(mktemp -d "$store/lists.XXXXXX")
cp packaging/deny.txt "$lists/deny.txt"
chmod -R a+rX "$lists"
run() { bah run --isolation chroot --user 65532:65532 \
  -v "$PWD/packaging/container.yaml:/etc/spoaguard/spoaguard.yaml:ro" -v "$lists:/etc/spoaguard/lists:ro" \
  "$ctr" -- /usr/bin/spoaguard "$@"; }
version=$(run -version) || fail "spoaguard -version in the image"
echo "container-test: $version" >&2
# buildah run's open-files limit is 1024 (podman run --ulimit raises it): a command-line
# -max-conns, which overrides the file's, fits under it.
run -check -config /etc/spoaguard/spoaguard.yaml -max-conns 500 >&2 || fail "spoaguard -check with the mounted config"
echo "container-test: image FROM scratch built, runs as 65532, -version and -check pass" >&2
