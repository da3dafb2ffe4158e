package imds

import (
	"io"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/berthhq/berth/internal/testutil/berthtest"
)

// benchAgent is an agent for a fresh machine of a real berth serve, and
// a client that keeps its connection, as SDK clients do.
func benchAgent(b *testing.B) (*Agent, string, *http.Client) {
	s := berthtest.Start(b)
	w := newWorld(b, s)
	vm, _ := w.vm("bench", `{"type":"SystemAssigned"}`)
	a, _, srv := agentFor(b, w.credential(vm), "")
	return a, tokenURL(srv.URL, managementRes), &http.Client{}
}

func timedGet(b *testing.B, c *http.Client, target string) time.Duration {
	req, _ := http.NewRequest("GET", target, nil)
	req.Header.Set("Metadata", "true")
	start := time.Now()
	resp, err := c.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	d := time.Since(start)
	if resp.StatusCode != 200 {
		b.Fatalf("status %d", resp.StatusCode)
	}
	return d
}

func reportPercentiles(b *testing.B, ds []time.Duration) {
	slices.Sort(ds)
	at := func(p float64) float64 { return float64(ds[int(p*float64(len(ds)-1))].Microseconds()) }
	b.ReportMetric(at(0.50), "p50-µs")
	b.ReportMetric(at(0.99), "p99-µs")
}

// BenchmarkTokenCached: a metadata token request answered from the cache,
// end to end over HTTP. Target: p99 under 1 ms.
func BenchmarkTokenCached(b *testing.B) {
	_, target, c := benchAgent(b)
	timedGet(b, c, target)
	ds := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for range b.N {
		ds = append(ds, timedGet(b, c, target))
	}
	b.StopTimer()
	reportPercentiles(b, ds)
}

// BenchmarkTokenCold: a cache miss, so each request is a managed-identity
// grant at the real token service (a fresh assertion, a signed token).
func BenchmarkTokenCold(b *testing.B) {
	a, target, c := benchAgent(b)
	timedGet(b, c, target)
	ds := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for range b.N {
		a.mu.Lock()
		clear(a.cache)
		a.mu.Unlock()
		ds = append(ds, timedGet(b, c, target))
	}
	b.StopTimer()
	reportPercentiles(b, ds)
}
