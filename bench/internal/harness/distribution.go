package harness

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"
)

// distributionConfig is the configuration a production Distribution
// deployment would use on local disk: in-memory blob descriptor cache,
// deletes on, and no per-request logging, so berth is compared against
// Distribution at its best rather than at its chattiest.
const distributionConfig = `version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: %s
  delete:
    enabled: true
  cache:
    blobdescriptor: inmemory
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: %s
  tls:
    certificate: %s
    key: %s
`

// distributionTokenAuth turns on Distribution's token auth: it trusts JWTs
// whose kid is the thumbprint of the key in rootcertbundle, and accepts
// RS256 only, the algorithm berth's access tokens use.
const distributionTokenAuth = `auth:
  token:
    realm: %s
    service: %s
    issuer: %s
    rootcertbundle: %s
    signingalgorithms:
      - RS256
`

// StartDistribution runs the Distribution registry binary bin with
// filesystem storage under dir, serving TLS with a certificate from ca on a
// free loopback port. Auth is off.
func StartDistribution(ctx context.Context, bin, dir string, ca *CA) (*Server, error) {
	return startDistribution(ctx, bin, dir, ca, "", "")
}

// StartDistributionTokenAuth is StartDistribution with token auth on, trusting
// the tokens issuer signs; every request then needs one of them.
func StartDistributionTokenAuth(ctx context.Context, bin, dir string, ca *CA, issuer *TokenIssuer) (*Server, error) {
	bundle := filepath.Join(dir, "token-signer.crt")
	if err := os.WriteFile(bundle, issuer.CertPEM, 0o600); err != nil {
		return nil, err
	}
	auth := fmt.Sprintf(distributionTokenAuth, strconv.Quote(issuer.URL+"/token"), strconv.Quote(issuer.Service),
		strconv.Quote(issuer.Issuer), strconv.Quote(bundle))
	// /v2/ admits any valid token, whatever access it carries.
	token, err := issuer.Mint("bench-health", nil)
	if err != nil {
		return nil, err
	}
	return startDistribution(ctx, bin, dir, ca, auth, token)
}

func startDistribution(ctx context.Context, bin, dir string, ca *CA, auth, token string) (*Server, error) {
	certPEM, keyPEM, err := ca.IssueLoopback()
	if err != nil {
		return nil, err
	}
	certPath := filepath.Join(dir, "tls.crt")
	keyPath := filepath.Join(dir, "tls.key")
	if err := os.WriteFile(certPath, certPEM, 0o600); err != nil {
		return nil, err
	}
	if err := os.WriteFile(keyPath, keyPEM, 0o600); err != nil {
		return nil, err
	}
	addr, err := freeLoopbackAddr()
	if err != nil {
		return nil, err
	}
	config := fmt.Sprintf(distributionConfig,
		strconv.Quote(filepath.Join(dir, "data")), addr, strconv.Quote(certPath), strconv.Quote(keyPath)) + auth
	configPath := filepath.Join(dir, "config.yml")
	if err := os.WriteFile(configPath, []byte(config), 0o600); err != nil {
		return nil, err
	}

	cmd := exec.Command(bin, "serve", configPath)
	// Distribution always installs an OpenTelemetry pipeline; without this it
	// retries exporting spans to localhost:4318 for the whole run.
	cmd.Env = append(os.Environ(), "OTEL_TRACES_EXPORTER=none")
	s, err := startProcess("distribution", dir, cmd)
	if err != nil {
		return nil, err
	}
	s.URL = "https://" + addr
	s.RootCAs = ca.Pool()
	s.Token = token
	if err := s.waitHealthy(ctx, 30*time.Second); err != nil {
		return nil, s.failed(err)
	}
	return s, nil
}

// freeLoopbackAddr asks the kernel for an unused port. Distribution cannot
// report the port it bound, so there is a small window in which another
// process could take it; on a benchmark machine that is acceptable.
func freeLoopbackAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}
