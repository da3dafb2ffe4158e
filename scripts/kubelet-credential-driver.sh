#!/usr/bin/env bash
# Build the tests' kubelet credential driver and print its path.
#
#   BERTH_KUBELET_CREDENTIAL_DRIVER=$(scripts/kubelet-credential-driver.sh)
#
# The driver (e2e/testdata/kubelet-credential-driver) runs the kubelet's
# own credential provider code, k8s.io/kubernetes/pkg/credentialprovider/plugin,
# so that the tests check berth credential-provider against the kubelet
# itself rather than against requests written by hand. It imports
# k8s.io/kubernetes, which berth's module cannot require, so it lives in
# testdata (ignored by the go command) and is built here in a throwaway
# module, as kube-apiserver.sh builds the API server (see lib/kube.sh).
# The cached binary's name holds the release and a digest of the source,
# so an edited driver is rebuilt.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
. "$root/scripts/lib/kube.sh"

src=$root/e2e/testdata/kubelet-credential-driver
sum=$(cat "$src"/*.go | sha256sum | cut -c1-12)
name=kubelet-credential-driver-$KUBE_VERSION-$sum

build() {
  cp "$src"/*.go . || return
  go build -trimpath -ldflags "-s -w" -o "$name" .
}
kube_cached "$name" build
