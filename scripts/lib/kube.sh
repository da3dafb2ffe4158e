# Sourced by the scripts that build Kubernetes programs for the tests
# (kube-apiserver.sh, kubelet-credential-driver.sh): one release, and one
# way to build against the k8s.io/kubernetes module.
#
# The release matches the k8s.io/api and client-go versions in berth's
# go.mod: one Kubernetes release across everything the tests use.

KUBE_VERSION=v1.37.2
KUBE_MINOR=${KUBE_VERSION#v1.}
KUBE_CACHE=${BERTH_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/berth-ci}

# kube_cached NAME BUILD: prints $KUBE_CACHE/NAME, first running BUILD in
# a throwaway module that requires k8s.io/kubernetes@$KUBE_VERSION when
# that file is absent. BUILD runs in the module's directory, with its
# output silenced unless it fails, and must leave the program there as
# NAME. A cold build compiles for a quarter of an hour of CPU time or
# more; with the Go build cache warm it takes under a minute.
kube_cached() {
  local name=$1 build=$2 bin=$KUBE_CACHE/$1 tmp
  if [[ ! -x $bin ]]; then
    mkdir -p "$KUBE_CACHE"
    tmp=$(mktemp -d "$KUBE_CACHE/kube-build.XXXXXX")
    echo "$name: building against k8s.io/kubernetes@$KUBE_VERSION (minutes, once)" >&2
    if ! (cd "$tmp" && kube_module && "$build") >"$tmp/build.log" 2>&1; then
      cat "$tmp/build.log" >&2
      rm -rf "$tmp"
      return 1
    fi
    mv "$tmp/$name" "$bin"
    rm -rf "$tmp"
  fi
  echo "$bin"
}

# kube_module makes the current directory a module requiring
# k8s.io/kubernetes@$KUBE_VERSION, buildable as a dependency. It runs
# where set -e does not (in a condition), so each step returns on failure.
kube_module() {
  export GOWORK=off GOFLAGS=-mod=mod CGO_ENABLED=0
  go mod init berth-kube-build || return
  # k8s.io/kubernetes points each k8s.io/<staging> module at its own
  # staging/ directory, which a module dependency cannot use; each is
  # published on its own as v0.<minor>.<patch>.
  local kube_mod m
  kube_mod=$(go list -m -f '{{.GoMod}}' "k8s.io/kubernetes@$KUBE_VERSION") || return
  for m in $(sed -n 's|^[[:space:]]*\(k8s\.io/[^[:space:]]*\) => \./staging/.*|\1|p' "$kube_mod"); do
    go mod edit -replace "$m=$m@v0.$KUBE_MINOR" || return
  done
  go get "k8s.io/kubernetes@$KUBE_VERSION"
}
