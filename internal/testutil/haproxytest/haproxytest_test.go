package haproxytest_test

import (
	"encoding/pem"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/berthhq/berth/internal/testutil/haproxytest"
)

// TestProxy: two HTTPS backends come into rotation once their checks
// pass, TLS passes through to them, a backend whose readiness check fails
// is taken out until it passes again, and when neither is ready clients
// reach them through their liveness check.
func TestProxy(t *testing.T) {
	var ready [2]atomic.Bool
	backends := make([]*httptest.Server, 2)
	for i := range backends {
		ready[i].Store(true)
		backends[i] = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/ready" && !ready[i].Load() {
				w.WriteHeader(http.StatusServiceUnavailable)
				return
			}
			io.WriteString(w, []string{"a", "b"}[i])
		}))
		t.Cleanup(backends[i].Close)
	}
	// httptest's servers share one certificate, for example.com.
	ca := filepath.Join(t.TempDir(), "ca.crt")
	cert := backends[0].Certificate()
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	p := haproxytest.Start(t, haproxytest.Config{
		Backends: []haproxytest.Backend{
			{Name: "a", Addr: backends[0].Listener.Addr().String()},
			{Name: "b", Addr: backends[1].Listener.Addr().String()},
		},
		CheckPath: "/ready", LivePath: "/live", CAFile: ca, CheckHost: "example.com",
	})
	p.WaitStatus(t, "a", "UP")
	p.WaitStatus(t, "b", "UP")

	// A new connection per request, so that the round robin shows.
	client := backends[0].Client()
	client.Transport.(*http.Transport).DisableKeepAlives = true
	answers := func(n int) map[string]int {
		t.Helper()
		seen := map[string]int{}
		for range n {
			resp, err := client.Get("https://" + p.Addr + "/")
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			seen[string(b)]++
		}
		return seen
	}
	if seen := answers(6); seen["a"] == 0 || seen["b"] == 0 {
		t.Fatalf("through the proxy: %v, want both backends", seen)
	}

	ready[1].Store(false)
	p.WaitStatus(t, "b", "DOWN")
	if seen := answers(4); seen["b"] != 0 || seen["a"] != 4 {
		t.Fatalf("with b failing its check: %v, want only a", seen)
	}
	ready[1].Store(true)
	p.WaitStatus(t, "b", "UP")
	if seen := answers(6); seen["b"] == 0 {
		t.Fatalf("with b back: %v, want b too", seen)
	}

	// Neither ready: both are still alive, and still answer.
	ready[0].Store(false)
	ready[1].Store(false)
	p.WaitStatus(t, "a", "DOWN")
	p.WaitStatus(t, "b", "DOWN")
	if seen := answers(6); seen["a"] == 0 || seen["b"] == 0 {
		t.Fatalf("with neither ready: %v, want both live backends", seen)
	}
}
