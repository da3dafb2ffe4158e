package harness

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

const berthReadyMarker = "berth is ready at "

// StartBerth runs `berth serve` from bin with its data directory under dir,
// and any further flags in extra. berth picks its own port and CA and
// announces itself on stdout; it writes the CA and the bootstrap Basic-auth
// credentials into its data directory.
func StartBerth(ctx context.Context, bin, dir string, extra ...string) (*Server, error) {
	dataDir := filepath.Join(dir, "data")
	cmd := exec.Command(bin, append([]string{"serve", "--data-dir", dataDir, "--listen", "127.0.0.1:0"}, extra...)...)
	stdout, stdoutW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	cmd.Stdout = stdoutW
	s, err := startProcess("berth", dir, cmd)
	stdoutW.Close()
	if err != nil {
		stdout.Close()
		return nil, err
	}
	ready := make(chan string, 1)
	go s.watchStdout(stdout, berthReadyMarker, ready)

	select {
	case url, ok := <-ready:
		if !ok {
			return nil, s.failed(fmt.Errorf("stdout closed without %q", berthReadyMarker+"..."))
		}
		s.URL = strings.TrimRight(url, "/")
	case <-time.After(60 * time.Second):
		return nil, s.failed(fmt.Errorf("no %q line within 60s", berthReadyMarker+"..."))
	case <-ctx.Done():
		return nil, s.failed(ctx.Err())
	}

	caPEM, err := os.ReadFile(filepath.Join(dataDir, "ca.crt"))
	if err != nil {
		return nil, s.failed(err)
	}
	s.RootCAs = x509.NewCertPool()
	if !s.RootCAs.AppendCertsFromPEM(caPEM) {
		return nil, s.failed(errors.New("ca.crt holds no PEM certificate"))
	}
	var creds struct {
		ClientID     string `json:"clientId"`
		ClientSecret string `json:"clientSecret"`
	}
	raw, err := os.ReadFile(filepath.Join(dataDir, "bootstrap.json"))
	if err == nil {
		err = json.Unmarshal(raw, &creds)
	}
	if err != nil {
		return nil, s.failed(fmt.Errorf("reading bootstrap credentials: %w", err))
	}
	s.User, s.Password = creds.ClientID, creds.ClientSecret
	if err := s.waitHealthy(ctx, 10*time.Second); err != nil {
		return nil, s.failed(err)
	}
	return s, nil
}
