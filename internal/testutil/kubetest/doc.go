// Package kubetest runs a real Kubernetes API server for tests: etcd and
// kube-apiserver, each on a free loopback port with its files in a
// temporary directory, stopped when the test ends.
//
// The server is the real one, with RBAC authorization and service-account
// tokens on: the TokenRequest API issues tokens for the issuer the caller
// chooses, and the issuer's discovery document and keys
// (/.well-known/openid-configuration, /openid/v1/jwks) are readable
// without credentials, as a relying party reads them. The test acts as a
// cluster administrator (a static token in the system:masters group)
// through the kubeconfig file, the rest.Config or the clientset it is
// given. No controller manager or scheduler runs: objects are stored and
// admitted, nothing reconciles them, so kubetest makes the one object
// their absence would otherwise leave missing, the default namespace's
// "default" ServiceAccount that pods run as.
//
// kube-apiserver is taken from $BERTH_KUBE_APISERVER (scripts/test.sh sets
// it to the binary scripts/kube-apiserver.sh builds and caches), or from
// PATH; etcd from PATH (Debian's etcd-server package). When either is
// missing, or the two do not start, the test is skipped, unless
// BERTH_REQUIRE_TOOLS=1 (as in CI), in which case it fails.
package kubetest
