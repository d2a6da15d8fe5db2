#!/usr/bin/env bash
# Builds the Debian package of spoaguard into dist/: a static binary of cmd/spoaguard, the
# systemd unit, the commented default config as conffiles, the docs and the HAProxy example
# configs (packaging/nfpm.yaml lists the contents).
#
# nfpm (github.com/goreleaser/nfpm) builds the .deb. It is pinned here and run with go run,
# fetched through the Go module proxy once and then from the module cache: a tool of this
# script, never a dependency of the agent (it is not in go.mod).
#
# Usage: scripts/package.sh
# Environment:
#   SPOAGUARD_VERSION  package version (default: 0.0.0~git<commit time>.<revision>, so that
#                      later commits sort later; a tag v1.2.3 on HEAD gives 1.2.3)
#   GOARCH             architecture to build for (default: the Go toolchain's)
# The last line printed is the path of the .deb.
set -euo pipefail
cd "$(dirname "$0")/.."

nfpm=github.com/goreleaser/nfpm/v2/cmd/nfpm@v2.48.0

arch=${GOARCH:-$(go env GOARCH)}
if [ -z "${SPOAGUARD_VERSION:-}" ]; then
  if tag=$(git describe --tags --exact-match --match 'v[0-9]*' 2>/dev/null); then
    SPOAGUARD_VERSION=${tag#v}
  else
    SPOAGUARD_VERSION="0.0.0~git$(TZ=UTC git log -1 --date=format-local:%Y%m%d%H%M%S --format=%cd).$(git rev-parse --short=12 HEAD)"
  fi
fi
export SPOAGUARD_VERSION SPOAGUARD_ARCH=$arch

mkdir -p dist/build
# Static (no cgo), reproducible paths, VCS information stamped for -version.
CGO_ENABLED=0 GOARCH=$arch go build -trimpath -buildvcs=true -ldflags='-s -w' -o dist/build/spoaguard ./cmd/spoaguard
deb=dist/spoaguard_${SPOAGUARD_VERSION}_${arch}.deb
rm -f "$deb"
go run "$nfpm" package --config packaging/nfpm.yaml --packager deb --target "$deb" >&2
echo "$deb"
