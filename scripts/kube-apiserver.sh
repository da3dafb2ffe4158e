#!/usr/bin/env bash
# Build a real kube-apiserver for the tests and print its path.
#
#   BERTH_KUBE_APISERVER=$(scripts/kube-apiserver.sh)
#
# The binary is built once from the k8s.io/kubernetes module, in a throwaway
# module outside the checkout, and cached in $BERTH_CACHE (default
# ${XDG_CACHE_HOME:-$HOME/.cache}/berth-ci) under a name with its version;
# later runs only print the path. A cold build compiles for a quarter of an
# hour of CPU time or more; with the Go build cache warm it takes under a
# minute.
#
# The release matches the k8s.io/api and client-go versions in berth's
# go.mod: one Kubernetes release across everything the tests use.
set -euo pipefail

KUBE_VERSION=v1.37.2

CACHE=${BERTH_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/berth-ci}
BIN=$CACHE/kube-apiserver-$KUBE_VERSION

if [[ ! -x $BIN ]]; then
  mkdir -p "$CACHE"
  tmp=$(mktemp -d "$CACHE/kube-build.XXXXXX")
  trap 'rm -rf "$tmp"' EXIT
  echo "kube-apiserver: building k8s.io/kubernetes@$KUBE_VERSION (minutes, once)" >&2
  minor=${KUBE_VERSION#v1.}
  if ! (
    cd "$tmp"
    export GOWORK=off GOFLAGS=-mod=mod CGO_ENABLED=0
    go mod init berth-kube-apiserver-build
    # k8s.io/kubernetes points each k8s.io/<staging> module at its own
    # staging/ directory, which a module dependency cannot use; each is
    # published on its own as v0.<minor>.<patch>.
    kube_mod=$(go list -m -f '{{.GoMod}}' "k8s.io/kubernetes@$KUBE_VERSION")
    for m in $(sed -n 's|^[[:space:]]*\(k8s\.io/[^[:space:]]*\) => \./staging/.*|\1|p' "$kube_mod"); do
      go mod edit -replace "$m=$m@v0.$minor"
    done
    go get "k8s.io/kubernetes@$KUBE_VERSION"
    # The version the server reports (/version, kubectl version) is set at
    # link time, as Kubernetes' own build does.
    pkg=k8s.io/component-base/version
    go build -trimpath -ldflags "-s -w -X $pkg.gitVersion=$KUBE_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=${minor%%.*} -X $pkg.gitTreeState=clean" \
      -o kube-apiserver k8s.io/kubernetes/cmd/kube-apiserver
  ) >"$tmp/build.log" 2>&1; then
    cat "$tmp/build.log" >&2
    exit 1
  fi
  mv "$tmp/kube-apiserver" "$BIN"
fi
echo "$BIN"
