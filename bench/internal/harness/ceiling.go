package harness

import (
	"context"
	"crypto/tls"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// ceilingEnv, set to a directory, makes a benchmark binary serve as the
// ceiling server instead (MaybeServeCeiling): the ceiling runs as a child
// process, as the registries do, so that it pays the same cross-process
// costs and its CPU is measured apart from the client's.
const ceilingEnv = "BERTH_BENCH_CEILING_DIR"

const ceilingReadyMarker = "ceiling is ready at "

// MaybeServeCeiling serves as the ceiling server, and never returns, when
// this process was started as one by StartCeiling. Benchmark commands and
// test binaries call it first thing.
func MaybeServeCeiling() {
	dir := os.Getenv(ceilingEnv)
	if dir == "" {
		return
	}
	manifest, err := os.ReadFile(filepath.Join(dir, "manifest.json"))
	if err != nil {
		log.Fatal(err)
	}
	cert, err := tls.LoadX509KeyPair(filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key"))
	if err != nil {
		log.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	digest, length := sha256Digest(manifest), strconv.Itoa(len(manifest))
	srv := &http.Server{
		TLSConfig:         &tls.Config{Certificates: []tls.Certificate{cert}},
		ReadHeaderTimeout: 10 * time.Second,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			h := w.Header()
			h.Set("Content-Type", ociManifest)
			h.Set("Content-Length", length)
			h.Set("Docker-Content-Digest", digest)
			w.Write(manifest)
		}),
	}
	fmt.Printf("%shttps://%s\n", ceilingReadyMarker, ln.Addr())
	log.Fatal(srv.ServeTLS(ln, "", ""))
}

// StartCeiling runs this binary as the ceiling server: it answers every
// request with manifest, from memory, over TLS with a certificate from
// ca, checking nothing. It is the most a Go registry could serve on this
// machine to the benchmark's client.
func StartCeiling(ctx context.Context, dir string, ca *CA, manifest []byte) (*Server, error) {
	certPEM, keyPEM, err := ca.IssueLoopback()
	if err != nil {
		return nil, err
	}
	for name, data := range map[string][]byte{"manifest.json": manifest, "tls.crt": certPEM, "tls.key": keyPEM} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			return nil, err
		}
	}
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(self)
	cmd.Env = append(os.Environ(), ceilingEnv+"="+dir)
	stdout, stdoutW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	cmd.Stdout = stdoutW
	s, err := startProcess("ceiling server", dir, cmd)
	stdoutW.Close()
	if err != nil {
		stdout.Close()
		return nil, err
	}
	ready := make(chan string, 1)
	go s.watchStdout(stdout, ceilingReadyMarker, ready)
	select {
	case url, ok := <-ready:
		if !ok {
			return nil, s.failed(fmt.Errorf("stdout closed without %q", ceilingReadyMarker+"..."))
		}
		s.URL = strings.TrimRight(url, "/")
	case <-time.After(10 * time.Second):
		return nil, s.failed(fmt.Errorf("no %q line within 10s", ceilingReadyMarker+"..."))
	case <-ctx.Done():
		return nil, s.failed(ctx.Err())
	}
	s.RootCAs = ca.Pool()
	return s, nil
}
