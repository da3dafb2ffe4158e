#!/usr/bin/env bash
# Build a real kube-apiserver for the tests and print its path.
#
#   BERTH_KUBE_APISERVER=$(scripts/kube-apiserver.sh)
#
# The binary is built once from the k8s.io/kubernetes module and cached in
# $BERTH_CACHE (default ${XDG_CACHE_HOME:-$HOME/.cache}/berth-ci) under a
# name with its version; later runs only print the path. See lib/kube.sh.
set -euo pipefail
. "$(dirname "$0")/lib/kube.sh"

build() {
  # The version the server reports (/version, kubectl version) is set at
  # link time, as Kubernetes' own build does.
  local pkg=k8s.io/component-base/version
  go build -trimpath -ldflags "-s -w -X $pkg.gitVersion=$KUBE_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=${KUBE_MINOR%%.*} -X $pkg.gitTreeState=clean" \
    -o kube-apiserver-$KUBE_VERSION k8s.io/kubernetes/cmd/kube-apiserver
}
kube_cached "kube-apiserver-$KUBE_VERSION" build
