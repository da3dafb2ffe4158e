#!/usr/bin/env bash
# Build a real MinIO server for the object store tests and print its path.
#
#   BERTH_MINIO=$(scripts/minio.sh)
#
# The binary is built once from the github.com/minio/minio module and
# cached in $BERTH_CACHE (default ${XDG_CACHE_HOME:-$HOME/.cache}/berth-ci)
# under a name with its version; later runs only print the path. A cold
# build compiles for several minutes; the Go build cache makes a rebuild
# quick.
#
# MinIO publishes no semantic version tags, so the module is pinned by its
# pseudo-version: the newest commit the module mirror serves when this was
# written. Raise it by hand; `go list -m github.com/minio/minio@latest`
# names the newest.
set -euo pipefail

MINIO_VERSION=v0.0.0-20260212201848-7aac2a2c5b7c
cache=${BERTH_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/berth-ci}
bin=$cache/minio-$MINIO_VERSION

if [[ ! -x $bin ]]; then
  mkdir -p "$cache"
  tmp=$(mktemp -d "$cache/minio-build.XXXXXX")
  echo "minio: building github.com/minio/minio@$MINIO_VERSION (minutes, once)" >&2
  # go install of a module at a version builds it with its own go.mod,
  # outside any workspace or module here.
  if ! (cd "$tmp" && GOWORK=off GOBIN="$tmp" CGO_ENABLED=0 \
        go install -trimpath -ldflags "-s -w" "github.com/minio/minio@$MINIO_VERSION") >"$tmp/build.log" 2>&1; then
    cat "$tmp/build.log" >&2
    rm -rf "$tmp"
    exit 1
  fi
  mv "$tmp/minio" "$bin"
  rm -rf "$tmp"
fi
echo "$bin"
