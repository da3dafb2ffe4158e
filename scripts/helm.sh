#!/usr/bin/env bash
# Build Helm for the chart tests and print its path.
#
#   BERTH_HELM=$(scripts/helm.sh)
#
# The binary is built once from the helm.sh/helm/v4 module and cached in
# $BERTH_CACHE (default ${XDG_CACHE_HOME:-$HOME/.cache}/berth-ci) under a
# name with its version; later runs only print the path. A cold build
# compiles for a few minutes; the Go build cache makes a rebuild quick.
set -euo pipefail

HELM_VERSION=v4.3.2
cache=${BERTH_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/berth-ci}
bin=$cache/helm-$HELM_VERSION

if [[ ! -x $bin ]]; then
  mkdir -p "$cache"
  tmp=$(mktemp -d "$cache/helm-build.XXXXXX")
  echo "helm: building helm.sh/helm/v4@$HELM_VERSION (minutes, once)" >&2
  # go install of a module at a version builds it with its own go.mod,
  # outside any workspace or module here. The version Helm reports is set
  # at link time, as its own release build does.
  if ! (cd "$tmp" && GOWORK=off GOBIN="$tmp" CGO_ENABLED=0 \
        go install -trimpath -ldflags "-s -w -X helm.sh/helm/v4/internal/version.version=$HELM_VERSION" \
        "helm.sh/helm/v4/cmd/helm@$HELM_VERSION") >"$tmp/build.log" 2>&1; then
    cat "$tmp/build.log" >&2
    rm -rf "$tmp"
    exit 1
  fi
  mv "$tmp/helm" "$bin"
  rm -rf "$tmp"
fi
echo "$bin"
