#!/usr/bin/env bash
# The whole test suite, as CI runs it (.ci/run calls exactly this).
#
# It installs what it needs (skopeo, chromium, etcd, haproxy, azure-cli and podman from Debian,
# the OCI conformance suite, kube-apiserver, MinIO and Helm from the Go module proxy), starts
# every server it uses (PostgreSQL and berth itself, each on a free loopback
# port in a temporary directory) and removes them on exit. Heavy builds are
# cached outside the checkout in $BERTH_CACHE (default ~/.cache/berth-ci).
# Results worth keeping (the conformance report) go to $BERTH_RESULTS
# (default ./test-results).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
export BERTH_CACHE=${BERTH_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/berth-ci}
export BERTH_RESULTS=${BERTH_RESULTS:-$root/test-results}
# Tests that need PostgreSQL, skopeo, Chromium, a Kubernetes API server or
# MinIO fail instead of skipping here.
export BERTH_REQUIRE_POSTGRES=1 BERTH_REQUIRE_TOOLS=1
mkdir -p "$BERTH_CACHE" "$BERTH_RESULTS"

work=$(mktemp -d)
server_pid=
cleanup() {
  if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
    kill -TERM "$server_pid"; wait "$server_pid" || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

step() { printf '\n=== %s\n' "$*"; }

step "installing test tools"
missing=()
# tool:package where the two names differ.
for spec in skopeo jq chromium etcd:etcd-server zsh fish az:azure-cli iptables curl haproxy podman; do
  command -v "${spec%%:*}" >/dev/null || missing+=("${spec#*:}")
done
if [ ${#missing[@]} -gt 0 ]; then
  sudo=; [ "$(id -u)" = 0 ] || sudo=sudo
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi

step "gofmt, go vet"
unformatted=$(gofmt -l $(git ls-files '*.go'))
if [ -n "$unformatted" ]; then echo "not gofmt-clean:"; echo "$unformatted"; exit 1; fi
go vet ./...

step "building berth"
go build -o "$work/berth" ./cmd/berth
export BERTH_BIN="$work/berth"

step "kube-apiserver and the kubelet's credential provider code for the Kubernetes tests (built once, cached in \$BERTH_CACHE)"
BERTH_KUBE_APISERVER=$(scripts/kube-apiserver.sh)
BERTH_KUBELET_CREDENTIAL_DRIVER=$(scripts/kubelet-credential-driver.sh)
export BERTH_KUBE_APISERVER BERTH_KUBELET_CREDENTIAL_DRIVER

step "MinIO for the object store tests (built once, cached in \$BERTH_CACHE)"
BERTH_MINIO=$(scripts/minio.sh)
export BERTH_MINIO

step "Helm for the chart's tests (built once, cached in \$BERTH_CACHE)"
BERTH_HELM=$(scripts/helm.sh)
export BERTH_HELM

step "unit, store conformance and end-to-end tests (race detector on)"
go test -race -count=1 -timeout 30m ./...

step "benchmark harness (its own module): vet and a seconds-long smoke run against Distribution"
(cd bench && go vet ./... && go test -count=1 ./...)

step "fuzzing parsers briefly (corpus kept in testdata/fuzz)"
for spec in oci:FuzzParseDigest oci:FuzzValidateName oci:FuzzParseReference oci:FuzzParseManifest resourceid:FuzzParse odata:FuzzParse redirecturi:FuzzMatch federation:FuzzUnverified federation:FuzzParseKeys wiwebhook:FuzzReview blob/s3blob:FuzzParseURL template:FuzzParseExpression template:FuzzJSONC; do
  # Quiet when it passes; the whole report when it does not (a failing
  # input is also written to the package's testdata/fuzz). A budget of
  # executions, not of time: Go 1.26's fuzzing coordinator can report a
  # spurious "context deadline exceeded" when a time budget ends while a
  # starved worker is mid-call; a count has no deadline to race.
  if ! go test -run '^$' -fuzz "^${spec#*:}\$" -fuzztime 2000x "./internal/${spec%%:*}" >"$work/fuzz.log" 2>&1; then
    cat "$work/fuzz.log"
    exit 1
  fi
done

step "OCI distribution conformance suite against berth serve"
data="$work/conformance-data"
"$BERTH_BIN" serve --data-dir "$data" --listen 127.0.0.1:0 >"$work/serve.out" 2>"$work/serve.log" &
server_pid=$!
for _ in $(seq 1 300); do
  grep -q '^berth is ready at ' "$work/serve.out" 2>/dev/null && break
  kill -0 "$server_pid" 2>/dev/null || { cat "$work/serve.log"; exit 1; }
  sleep 0.1
done
url=$(sed -n 's/^berth is ready at //p' "$work/serve.out")
[ -n "$url" ] || { echo "berth did not become ready"; cat "$work/serve.log"; exit 1; }
# The suite pushes and deletes as a service principal holding AcrPush and
# AcrDelete on the default registry, made with the CLI: identity at the
# registry, not the bootstrap administrator's Owner rights.
export BERTH_CONFIG_DIR="$work/cli"
"$BERTH_BIN" login --data-dir "$data" -o none
registry_id=$("$BERTH_BIN" acr show -n "$(jq -r .registry "$data/bootstrap.json")" --query id -o tsv)
{ read -r sp_app; read -r sp_password; } < <("$BERTH_BIN" ad sp create-for-rbac --name conformance \
  --role acrpush --scopes "$registry_id" --query '[appId, password]' -o tsv)
[ -n "$sp_app" ] && [ -n "$sp_password" ] || { echo "create-for-rbac printed no credentials"; exit 1; }
"$BERTH_BIN" role assignment create --assignee "$sp_app" --role acrdelete --scope "$registry_id" -o none
# Every toggle is on except sparse manifests: berth accepts a manifest only
# when everything it names is in the repository, so that every acknowledged
# image can be pulled (foreign layers with URLs excepted). The spec leaves
# that choice to the registry.
OCI_DATA_SPARSE=false \
BERTH_CONFORMANCE_CACHE="$BERTH_CACHE" \
REGISTRY_URL="$url" \
REGISTRY_USER="$sp_app" \
REGISTRY_PASSWORD="$sp_password" \
REGISTRY_CA="$data/ca.crt" \
RESULTS_DIR="$BERTH_RESULTS/conformance" \
  scripts/conformance.sh
kill -TERM "$server_pid"; wait "$server_pid"; server_pid=

step "OCI distribution conformance suite through HAProxy in front of three replicas (one PostgreSQL, one MinIO bucket)"
# The same suite and toggles, driven by the Go test that starts the
# replicas; its report goes to $BERTH_RESULTS/conformance-replicas.
BERTH_CONFORMANCE=1 go test -count=1 -run '^TestConformanceReplicas$' ./e2e/

step "all tests passed"
