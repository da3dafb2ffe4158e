#!/usr/bin/env bash
# Run the OCI distribution-spec conformance suite against a running registry.
#
#   REGISTRY_URL=https://127.0.0.1:8443 REGISTRY_CA=ca.pem \
#   REGISTRY_USER=u REGISTRY_PASSWORD=p RESULTS_DIR=/tmp/results scripts/conformance.sh
#
# The suite binary is built once, outside the checkout, in BERTH_CONFORMANCE_CACHE
# (default ${XDG_CACHE_HOME:-$HOME/.cache}/berth-ci). Every API and data toggle is
# enabled, including the 1.1+dev and optional ones the suite leaves off for 1.1
# (blob/manifest digest headers, tag params, upload cancel, sparse manifests).
# Any OCI_* variable set by the caller overrides these defaults, e.g.
#   OCI_FILTER_TEST="OCI Conformance Test/sha256 blobs"   run one branch only
#   OCI_API_BLOBS_DIGEST_HEADER=false OCI_API_MANIFESTS_DIGEST_HEADER=false \
#   OCI_API_MANIFESTS_TAG_PARAM=false OCI_API_BLOBS_UPLOAD_CANCEL=false \
#   OCI_DATA_SPARSE=false                                  the suite's own 1.1 defaults
# Writes results.yaml, report.html, junit.xml and conformance.log to RESULTS_DIR,
# prints "conformance: N passed, N failed, N skipped", exits non-zero on any failure.
set -euo pipefail

SUITE_MODULE=github.com/opencontainers/distribution-spec/conformance
SUITE_VERSION=v0.0.0-20260831232431-97274622c111

CACHE=${BERTH_CONFORMANCE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/berth-ci}
: "${REGISTRY_URL:?set REGISTRY_URL, e.g. https://127.0.0.1:8443}"
RESULTS_DIR=${RESULTS_DIR:-$CACHE/results}
BIN=$CACHE/oci-conformance-$SUITE_VERSION

# Build the suite in a throwaway module (never inside the repo) and cache the binary.
if [[ ! -x $BIN ]]; then
  mkdir -p "$CACHE"
  tmp=$(mktemp -d "$CACHE/build.XXXXXX")
  trap 'rm -rf "$tmp"' EXIT
  echo "conformance: building $SUITE_MODULE@$SUITE_VERSION" >&2
  if ! (
    cd "$tmp"
    export GOWORK=off GOFLAGS=-mod=mod
    go mod init berth-conformance-build &&
      go get "$SUITE_MODULE@$SUITE_VERSION" &&
      go build -trimpath -ldflags "-X main.Version=$SUITE_VERSION" -o conformance "$SUITE_MODULE"
  ) >"$tmp/build.log" 2>&1; then
    cat "$tmp/build.log" >&2
    exit 1
  fi
  mv "$tmp/conformance" "$BIN"
fi

# Registry address: scheme selects TLS; a custom CA is trusted through SSL_CERT_FILE
# (the suite has no CA option of its own, and OCI_TLS=insecure does not skip verification).
url=${REGISTRY_URL%/}
case $url in
  http://*)  export OCI_TLS=disabled ;;
  https://*) export OCI_TLS=enabled ;;
  *) echo "conformance: REGISTRY_URL must start with http:// or https://" >&2; exit 2 ;;
esac
export OCI_REGISTRY=${url#*://}
if [[ -n ${REGISTRY_CA:-} ]]; then
  [[ -r $REGISTRY_CA ]] || { echo "conformance: cannot read REGISTRY_CA=$REGISTRY_CA" >&2; exit 2; }
  export SSL_CERT_FILE=$(realpath "$REGISTRY_CA")
fi
export OCI_USERNAME=${REGISTRY_USER:-} OCI_PASSWORD=${REGISTRY_PASSWORD:-}
export OCI_VERSION=${OCI_VERSION:-1.1}
mkdir -p "$RESULTS_DIR"
export OCI_RESULTS_DIR=$(realpath "$RESULTS_DIR")

for v in API_PING API_PULL API_PUSH API_REFERRER \
  API_BLOBS_ATOMIC API_BLOBS_DELETE API_BLOBS_DIGEST_HEADER API_BLOBS_MOUNT_ANONYMOUS API_BLOBS_UPLOAD_CANCEL \
  API_MANIFESTS_ATOMIC API_MANIFESTS_DELETE API_MANIFESTS_DIGEST_HEADER API_MANIFESTS_TAG_PARAM \
  API_TAGS_ATOMIC API_TAGS_DELETE API_TAGS_LIST \
  DATA_IMAGE DATA_INDEX DATA_INDEX_LIST DATA_SPARSE DATA_ARTIFACT DATA_SUBJECT DATA_SUBJECT_MISSING \
  DATA_ARTIFACT_LIST DATA_SUBJECT_LIST DATA_DATA_FIELD DATA_NONDISTRIBUTABLE DATA_CUSTOM_FIELDS \
  DATA_NO_LAYERS DATA_EMPTY_BLOB DATA_SHA512; do
  n=OCI_$v; export "$n=${!n:-true}"
done

# Run from the results dir so a stray ./oci-conformance.yaml is never picked up.
# The suite exits 0 when its config fails to load, so the summary is checked too.
rm -f "$OCI_RESULTS_DIR"/{results.yaml,report.html,junit.xml}
rc=0
(cd "$OCI_RESULTS_DIR" && timeout "${CONFORMANCE_TIMEOUT:-30m}" "$BIN") \
  >"$OCI_RESULTS_DIR/conformance.log" 2>&1 || rc=$?
count() { awk -v s="$1" '$1 ~ "^"s"\\.+:$" {print $2; f=1} END {if (!f) print "x"}' "$OCI_RESULTS_DIR/conformance.log"; }
pass=$(count Pass) fail=$(count FAIL) err=$(count Error) skip=$(count Skip) dis=$(count Disabled)
if [[ $pass$fail$err$skip$dis == *x* ]]; then
  cat "$OCI_RESULTS_DIR/conformance.log" >&2
  echo "conformance: suite produced no summary (exit $rc)" >&2
  exit 1
fi
# Failing leaf tests with the first line of each error.
awk '/^Configuration:/ {exit} / (Pass|FAIL|Error|Skip|Disabled|Unknown)$/ {hdr=$0; bad=/ (FAIL|Error)$/; next}
  bad && /^ *- / {if (hdr != "") print hdr; hdr=""; print}' "$OCI_RESULTS_DIR/conformance.log" | head -n 300 || true
echo "results: $OCI_RESULTS_DIR (report.html, junit.xml, results.yaml, conformance.log)"
echo "conformance: $pass passed, $((fail + err)) failed, $((skip + dis)) skipped"
(( fail + err == 0 && rc == 0 ))
