package harness

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

// TestRunTokensQuick runs the quick token plan against a real berth built
// from this checkout: unlike the registry rows, no stand-in can issue
// tokens, so the test skips when berth does not build.
func TestRunTokensQuick(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs berth")
	}
	ctx := t.Context()
	scratch := t.TempDir()
	bin, _, err := BerthBinary(ctx, scratch)
	if err != nil {
		t.Skipf("berth does not build: %v", err)
	}
	plan := QuickTokenPlan()
	var progress bytes.Buffer
	rep, err := RunTokens(ctx, plan, bin, scratch, &progress)
	t.Log(progress.String())
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Tokens) != len(plan.Conc) {
		t.Fatalf("%d token rows, want %d", len(rep.Tokens), len(plan.Conc))
	}
	for i, r := range rep.Tokens {
		if r.Err != nil || r.Ops != plan.Requests[i] || len(r.Latencies) != r.Ops || r.Percentile(0.5) <= 0 {
			t.Errorf("token row conc=%d: %+v", plan.Conc[i], r.Result)
		}
		if rep.Dials[i] != 0 {
			t.Errorf("token row conc=%d opened %d connections after warm-up; keep-alive is not working", plan.Conc[i], rep.Dials[i])
		}
	}
	for i, samples := range rep.Sign {
		if len(samples) != len(plan.Conc)+1 || bestTimed(samples).OpsPerSec() <= 0 {
			t.Errorf("signing conc=%d: %d samples", rep.SignConc[i], len(samples))
		}
	}
	if rep.PeakRSS < rep.IdleRSS || rep.IdleRSS <= 0 {
		t.Errorf("memory: idle %d, peak %d", rep.IdleRSS, rep.PeakRSS)
	}
	var md strings.Builder
	rep.WriteMarkdown(&md)
	if !strings.Contains(md.String(), "| client-credentials token | 1 |") {
		t.Errorf("report:\n%s", md.String())
	}
}

func TestPercentile(t *testing.T) {
	var r Timed
	for i := 1; i <= 100; i++ {
		r.Latencies = append(r.Latencies, time.Duration(i))
	}
	for _, c := range []struct {
		p    float64
		want time.Duration
	}{{0.5, 50}, {0.99, 99}, {1, 100}, {0, 1}} {
		if got := r.Percentile(c.p); got != c.want {
			t.Errorf("Percentile(%v) = %v, want %v", c.p, got, c.want)
		}
	}
}
