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

// StartDistribution runs the Distribution registry binary bin with
// filesystem storage under dir, serving TLS with a certificate from ca on a
// free loopback port. Auth is off.
func StartDistribution(ctx context.Context, bin, dir string, ca *CA) (*Server, error) {
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
		strconv.Quote(filepath.Join(dir, "data")), addr, strconv.Quote(certPath), strconv.Quote(keyPath))
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
