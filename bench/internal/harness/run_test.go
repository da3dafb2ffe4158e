package harness

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The test binary doubles as a stand-in for berth: with upstreamEnv set it
// behaves like `berth serve` (own CA, bootstrap credentials, ready line) and
// forwards authenticated requests to a real Distribution. That exercises the
// whole berth code path of the harness before berth itself can serve.
const (
	upstreamEnv   = "BENCH_FAKE_BERTH_UPSTREAM"
	upstreamCAEnv = "BENCH_FAKE_BERTH_UPSTREAM_CA"
)

func TestMain(m *testing.M) {
	MaybeServeCeiling()
	if upstream := os.Getenv(upstreamEnv); upstream != "" {
		fakeBerth(upstream, os.Getenv(upstreamCAEnv))
		return
	}
	os.Exit(m.Run())
}

func fakeBerth(upstream, upstreamCA string) {
	fs := flag.NewFlagSet("serve", flag.ExitOnError)
	dataDir := fs.String("data-dir", "", "")
	listen := fs.String("listen", "", "")
	fs.Parse(os.Args[2:])

	ca, err := NewCA()
	if err != nil {
		log.Fatal(err)
	}
	config, err := ca.LoopbackTLS()
	if err != nil {
		log.Fatal(err)
	}
	if err := os.MkdirAll(*dataDir, 0o700); err != nil {
		log.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(*dataDir, "ca.crt"), ca.CertPEM, 0o600); err != nil {
		log.Fatal(err)
	}
	const user, password = "bench-client", "bench-secret"
	creds, _ := json.Marshal(map[string]string{"clientId": user, "clientSecret": password})
	if err := os.WriteFile(filepath.Join(*dataDir, "bootstrap.json"), creds, 0o600); err != nil {
		log.Fatal(err)
	}

	target, err := url.Parse(upstream)
	if err != nil {
		log.Fatal(err)
	}
	caPEM, err := os.ReadFile(upstreamCA)
	if err != nil {
		log.Fatal(err)
	}
	roots := ca.Pool()
	roots.AppendCertsFromPEM(caPEM)
	proxy := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(target)
			// Distribution builds upload Locations from these, so they
			// point back at the proxy.
			r.Out.Host = r.In.Host
			r.SetXForwarded()
		},
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}},
	}
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, p, ok := r.BasicAuth(); !ok || u != user || p != password {
			w.Header().Set("WWW-Authenticate", `Basic realm="berth"`)
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		proxy.ServeHTTP(w, r)
	})

	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("berth is ready at https://%s/\n", ln.Addr())
	log.Fatal(http.Serve(tls.NewListener(ln, config), handler))
}

func TestRunQuickPlan(t *testing.T) {
	if testing.Short() {
		t.Skip("builds (once) and runs Distribution")
	}
	ctx := t.Context()
	distBin, _, err := DistributionBinary(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := NewCA()
	if err != nil {
		t.Fatal(err)
	}
	distribution := &Registry{Name: "Distribution", Start: func(ctx context.Context, dir string) (*Server, error) {
		return StartDistribution(ctx, distBin, dir, ca)
	}}

	upstream, err := StartDistribution(ctx, distBin, t.TempDir(), ca)
	if err != nil {
		t.Fatal(err)
	}
	defer upstream.Close()
	caPath := filepath.Join(t.TempDir(), "upstream-ca.crt")
	if err := os.WriteFile(caPath, ca.CertPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv(upstreamEnv, upstream.URL)
	t.Setenv(upstreamCAEnv, caPath)
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	berth := &Registry{Name: "berth", Start: func(ctx context.Context, dir string) (*Server, error) {
		return StartBerth(ctx, self, dir)
	}}

	var progress bytes.Buffer
	rep, err := Run(ctx, QuickPlan(), t.TempDir(), ca, berth, distribution, &progress)
	if err != nil {
		t.Fatal(err)
	}
	t.Log(progress.String())
	if berth.Unavailable != "" {
		t.Fatalf("fake berth unavailable: %s", berth.Unavailable)
	}
	for _, row := range rep.Rows {
		for _, reg := range []string{"berth", "Distribution"} {
			res, ok := rep.Results[row][reg]
			if !ok || res.Err != nil || res.Elapsed <= 0 {
				t.Errorf("%s %v: result %+v, recorded %v", reg, row, res, ok)
			}
		}
	}
	for _, reg := range []string{"berth", "Distribution"} {
		if got, want := len(rep.Memory[reg]), len(rep.MemGroups); got != want {
			t.Errorf("%s: memory for %d groups, want %d", reg, got, want)
		}
	}
	var md strings.Builder
	rep.WriteMarkdown(&md)
	if strings.Contains(md.String(), "failed") || strings.Contains(md.String(), "pending") {
		t.Errorf("report has failed or pending cells:\n%s", md.String())
	}
}

func TestStartBerthReportsEarlyExit(t *testing.T) {
	_, err := StartBerth(t.Context(), "/bin/false", t.TempDir())
	if err == nil || !strings.Contains(err.Error(), "process exited") {
		t.Fatalf("StartBerth(/bin/false) = %v, want an early-exit error", err)
	}
}
