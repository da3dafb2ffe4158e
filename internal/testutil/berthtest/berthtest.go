package berthtest

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
	buildDir  string
)

// Main wraps a package's TestMain so the binary built for it is removed
// afterwards.
func Main(m *testing.M) {
	code := m.Run()
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

// Binary returns the path of a berth binary: $BERTH_BIN, or one built from
// this module.
func Binary(tb testing.TB) string {
	tb.Helper()
	buildOnce.Do(func() {
		if p := os.Getenv("BERTH_BIN"); p != "" {
			binPath = p
			return
		}
		out, err := exec.Command("go", "env", "GOMOD").Output()
		if err != nil {
			buildErr = err
			return
		}
		root := filepath.Dir(strings.TrimSpace(string(out)))
		if buildDir, buildErr = os.MkdirTemp("", "berth-bin-"); buildErr != nil {
			return
		}
		binPath = filepath.Join(buildDir, "berth")
		cmd := exec.Command("go", "build", "-o", binPath, "./cmd/berth")
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		tb.Fatal(buildErr)
	}
	return binPath
}

// Bootstrap mirrors the fields of bootstrap.json tests use.
type Bootstrap struct {
	TenantID       string `json:"tenantId"`
	SubscriptionID string `json:"subscriptionId"`
	Registry       string `json:"registry"`
	LoginServer    string `json:"loginServer"`
	ClientID       string `json:"clientId"`
	ClientSecret   string `json:"clientSecret"`
	AdminUser      string `json:"adminUser"`
	AdminPassword  string `json:"adminPassword"`
}

// Server is a running berth serve.
type Server struct {
	tb      testing.TB
	DataDir string
	Args    []string
	// URL is https://127.0.0.1:PORT; Host is 127.0.0.1:PORT.
	URL, Host string
	Boot      Bootstrap
	CAFile    string
	Roots     *x509.CertPool
	Log       *syncBuffer
	// Out is what it printed (the ready text).
	Out *syncBuffer
	// Env is more environment for the server, and for maintenance
	// commands on its stores (an object store's credentials).
	Env []string
	// StoreArgs are the flags that name its stores beside --data-dir
	// (--database, --blob-store), which maintenance commands need too.
	StoreArgs []string

	cmd  *exec.Cmd
	done chan struct{}
}

// Start starts berth serve with a new data directory and extra flags.
func Start(tb testing.TB, extra ...string) *Server {
	tb.Helper()
	return StartIn(tb, tb.TempDir(), extra...)
}

// StartIn starts berth serve on an existing data directory.
func StartIn(tb testing.TB, dataDir string, extra ...string) *Server {
	tb.Helper()
	s := &Server{tb: tb, DataDir: dataDir, Args: extra}
	s.start()
	tb.Cleanup(s.Stop)
	return s
}

func (s *Server) start() {
	s.tb.Helper()
	listen := "127.0.0.1:0"
	if s.Host != "" {
		listen = s.Host // a restart keeps its address
	}
	args := append([]string{"serve", "--data-dir", s.DataDir, "--listen", listen}, s.StoreArgs...)
	cmd := exec.Command(Binary(s.tb), append(args, s.Args...)...)
	cmd.Env = append(os.Environ(), s.Env...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		s.tb.Fatal(err)
	}
	// The reader below keeps its own buffer: a restart replaces the
	// fields while the old process's output may still be read.
	out := &syncBuffer{}
	s.Log, s.Out = &syncBuffer{}, out
	cmd.Stderr = s.Log
	if err := cmd.Start(); err != nil {
		s.tb.Fatal(err)
	}
	s.cmd, s.done = cmd, make(chan struct{})
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(io.TeeReader(stdout, out))
		for sc.Scan() {
			if u, ok := strings.CutPrefix(sc.Text(), "berth is ready at "); ok {
				ready <- u
			}
		}
		io.Copy(out, stdout)
	}()
	go func() { cmd.Wait(); close(s.done) }()
	select {
	case u := <-ready:
		s.URL = u
		s.Host = strings.TrimPrefix(u, "https://")
	case <-s.done:
		s.tb.Fatalf("berth serve exited before it was ready:\n%s", s.Log.String())
	case <-time.After(60 * time.Second):
		cmd.Process.Kill()
		s.tb.Fatalf("berth serve not ready after 60s:\n%s", s.Log.String())
	}
	s.CAFile = filepath.Join(s.DataDir, "ca.crt")
	pem, err := os.ReadFile(s.CAFile)
	if err != nil {
		s.tb.Fatal(err)
	}
	s.Roots = x509.NewCertPool()
	s.Roots.AppendCertsFromPEM(pem)
	b, err := os.ReadFile(filepath.Join(s.DataDir, "bootstrap.json"))
	if err != nil {
		s.tb.Fatal(err)
	}
	if err := json.Unmarshal(b, &s.Boot); err != nil {
		s.tb.Fatal(err)
	}
}

// Stop sends SIGTERM and waits for a clean exit.
func (s *Server) Stop() {
	if s.cmd == nil {
		return
	}
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(45 * time.Second):
		s.cmd.Process.Kill()
		<-s.done
		s.tb.Errorf("berth serve did not stop within 45s of SIGTERM")
	}
	if code := s.cmd.ProcessState.ExitCode(); code != 0 {
		s.tb.Errorf("berth serve exited with %d after SIGTERM:\n%s", code, s.Log.String())
	}
	s.cmd = nil
}

// Kill stops the server with SIGKILL, as a crash would.
func (s *Server) Kill() {
	s.cmd.Process.Kill()
	<-s.done
	s.cmd = nil
}

// Restart starts the server again on the same data directory and address.
func (s *Server) Restart() {
	s.tb.Helper()
	s.start()
}

// Pid is the server's process id.
func (s *Server) Pid() int { return s.cmd.Process.Pid }

// TLSConfig trusts the server's CA.
func (s *Server) TLSConfig() *tls.Config { return &tls.Config{RootCAs: s.Roots} }

// Client is an HTTP client that trusts the server's CA.
func (s *Server) Client() *http.Client {
	return &http.Client{Transport: &http.Transport{TLSClientConfig: s.TLSConfig(), ForceAttemptHTTP2: true}}
}

// Do sends a request with the bootstrap administrator's Basic credentials.
func (s *Server) Do(ctx context.Context, method, path string, body io.Reader, header http.Header) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, s.URL+path, body)
	if err != nil {
		return nil, err
	}
	for k, v := range header {
		req.Header[k] = v
	}
	req.SetBasicAuth(s.Boot.ClientID, s.Boot.ClientSecret)
	return s.Client().Do(req)
}

type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// CLI runs berth's CLI with its configuration in config (a directory
// the test logged in with) and returns its trimmed stdout; a failure
// fails tb.
func CLI(tb testing.TB, config string, args ...string) string {
	tb.Helper()
	cmd := exec.Command(Binary(tb), args...)
	cmd.Env = append(os.Environ(), "BERTH_CONFIG_DIR="+config)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		tb.Fatalf("berth %s: %v\n%s%s", strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	return strings.TrimSpace(stdout.String())
}
