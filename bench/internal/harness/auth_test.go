package harness

import (
	"bytes"
	"strings"
	"testing"
)

// TestRunAuthQuick runs the quick authenticated plan against a real berth
// built from this checkout and a real Distribution with token auth: the
// stand-in berth of TestRunQuickPlan has no token service, so the test
// skips when berth does not build.
func TestRunAuthQuick(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs berth and Distribution")
	}
	ctx := t.Context()
	scratch := t.TempDir()
	berthBin, _, err := BerthBinary(ctx, scratch)
	if err != nil {
		t.Skipf("berth does not build: %v", err)
	}
	distBin, _, err := DistributionBinary(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := NewCA()
	if err != nil {
		t.Fatal(err)
	}
	plan := QuickAuthPlan()
	var progress bytes.Buffer
	rep, err := RunAuth(ctx, plan, berthBin, distBin, scratch, ca, &progress)
	t.Log(progress.String())
	if err != nil {
		t.Fatal(err)
	}
	for _, reg := range []string{authCandidate, authBaseline, authCeiling} {
		if got := len(rep.Get[reg]); got != plan.Rounds {
			t.Errorf("%s: %d manifest GET rows, want %d", reg, got, plan.Rounds)
		}
		for _, s := range rep.Get[reg] {
			if s.Ops == 0 || len(s.Latencies) != s.Ops || s.Percentile(0.5) <= 0 {
				t.Errorf("%s manifest GET row: %+v", reg, s.Result)
			}
			if s.Dials != 0 {
				t.Errorf("%s manifest GET row opened %d connections after warm-up", reg, s.Dials)
			}
		}
	}
	if len(rep.Issue) != len(plan.IssueConc) {
		t.Fatalf("%d issuance rows, want %d", len(rep.Issue), len(plan.IssueConc))
	}
	for i, s := range rep.Issue {
		if s.Ops == 0 || s.Percentile(0.99) <= 0 {
			t.Errorf("issuance conc=%d: %+v", plan.IssueConc[i], s.Result)
		}
	}
	var md strings.Builder
	rep.WriteMarkdown(&md)
	if !strings.Contains(md.String(), "| requests/s | 32 |") || !strings.Contains(md.String(), "| POST /oauth2/exchange + POST /oauth2/token | 1 |") {
		t.Errorf("report:\n%s", md.String())
	}
}

// TestDistributionRefusesForeignTokens checks Distribution really verifies
// the issuer's signatures: a token signed by another key, or with claims
// its signature does not cover, must be refused, or the benchmark would
// measure Distribution without the verification it is there to compare.
func TestDistributionRefusesForeignTokens(t *testing.T) {
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
	issuer, err := NewTokenIssuer(ca, distService)
	if err != nil {
		t.Fatal(err)
	}
	defer issuer.Close()
	forger, err := NewTokenIssuer(ca, distService)
	if err != nil {
		t.Fatal(err)
	}
	defer forger.Close()
	s, err := StartDistributionTokenAuth(ctx, distBin, t.TempDir(), ca, issuer)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()

	forged, err := forger.Mint("bench", nil)
	if err != nil {
		t.Fatal(err)
	}
	// The issuer's own token with its claims swapped for the forger's:
	// the right kid, a signature over other claims.
	genuine, err := issuer.Mint("bench", nil)
	if err != nil {
		t.Fatal(err)
	}
	g, f := strings.Split(genuine, "."), strings.Split(forged, ".")
	tampered := g[0] + "." + f[1] + "." + g[2]

	c := NewClient(s, authRepo)
	defer c.http.CloseIdleConnections()
	for name, tok := range map[string]string{"another key's token": forged, "a tampered token": tampered} {
		c.bearer = tok
		if err := c.Ping(ctx); err == nil || !strings.Contains(err.Error(), "401") {
			t.Errorf("GET /v2/ with %s: %v, want 401", name, err)
		}
	}
	c.bearer = genuine
	if err := c.Ping(ctx); err != nil {
		t.Errorf("GET /v2/ with the issuer's token: %v", err)
	}
}
