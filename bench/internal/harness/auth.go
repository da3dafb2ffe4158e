package harness

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// AuthPlan fixes the work of the authenticated manifest benchmark. Rows
// are time-boxed: the request rate is the result, and a fixed duration
// keeps the run short whatever it turns out to be.
type AuthPlan struct {
	// GetConc is the concurrency of the manifest GET rows; Rounds is how
	// many each server runs, taking turns in an order that reverses every
	// round.
	GetConc     int
	GetDuration time.Duration
	Rounds      int
	// Warmup runs untimed before every row, so it starts with every
	// keep-alive connection open and each server's caches warm.
	Warmup time.Duration
	// IssueConc lists the concurrency levels of berth's exchange + token
	// rows.
	IssueConc     []int
	IssueDuration time.Duration
	// CPUProfile, when set, is the prefix of two CPU profiles of berth,
	// taken from its --debug-listen: CPUProfile-get.pprof during its first
	// manifest GET row, CPUProfile-issue.pprof during the last issuance
	// row.
	CPUProfile string
}

// DefaultAuthPlan is the published run: a little over a minute.
func DefaultAuthPlan() AuthPlan {
	return AuthPlan{
		GetConc:       32,
		GetDuration:   5 * time.Second,
		Rounds:        3,
		Warmup:        time.Second,
		IssueConc:     []int{1, 16},
		IssueDuration: 5 * time.Second,
	}
}

// QuickAuthPlan exercises every code path in a few seconds; its numbers
// mean nothing.
func QuickAuthPlan() AuthPlan {
	return AuthPlan{
		GetConc:       32,
		GetDuration:   300 * time.Millisecond,
		Rounds:        2,
		Warmup:        100 * time.Millisecond,
		IssueConc:     []int{1, 4},
		IssueDuration: 300 * time.Millisecond,
	}
}

// AuthSample is one timed row with the server's CPU time during it and the
// connections the client opened (zero: no TLS handshake was timed).
type AuthSample struct {
	Timed
	ServerCPU time.Duration
	Dials     int64
}

// ServerCPUPerOp is the server's CPU time per operation.
func (s AuthSample) ServerCPUPerOp() time.Duration {
	return s.ServerCPU / time.Duration(max(s.Ops, 1))
}

// AuthReport is everything one authenticated run measured.
type AuthReport struct {
	Plan AuthPlan
	// Get holds each server's manifest GET rows, one per round, by name
	// (authCandidate, authBaseline, authCeiling).
	Get map[string][]AuthSample
	// Issue holds berth's exchange + token rows, one per Plan.IssueConc.
	Issue []AuthSample
	// Profiled is set when berth's first GET row ran under the profiler.
	Profiled bool
}

const (
	authCandidate = "berth"
	authBaseline  = "Distribution"
	authCeiling   = "Go HTTPS, from memory"
	// authRepo is the repository both registries serve the manifest from.
	authRepo = "bench/app"
	// distService is Distribution's token service name (the aud claim).
	distService = "distribution.bench"
	// directoryResource is the resource berth's directory tokens are for:
	// the management API, whose tokens the registry exchanges.
	directoryResource = "https://management.core.windows.net/"
)

// authTarget is one server's side of the manifest rows: a client holding
// a pull-only token, and the manifest it must get back.
type authTarget struct {
	name     string
	server   *Server
	client   *Client
	dials    *atomic.Int64
	manifest []byte
}

func (t *authTarget) get(ctx context.Context) error {
	var body bytes.Buffer
	if _, err := t.client.GetManifest(ctx, "latest", ociManifest, &body); err != nil {
		return err
	}
	if !bytes.Equal(body.Bytes(), t.manifest) {
		return errors.New("GET manifests/latest returned a different manifest")
	}
	return nil
}

// newGetTarget returns a target for s whose client counts its dials.
func newGetTarget(name string, s *Server) *authTarget {
	t := &authTarget{name: name, server: s, dials: &atomic.Int64{}}
	t.client = NewClient(s, authRepo)
	t.client.http.Transport = countingTransport(s.RootCAs, t.dials)
	return t
}

// newAuthTarget pushes the image with a push token from token, then
// switches the client to a pull-only token, as a pulling client holds.
func newAuthTarget(ctx context.Context, name string, s *Server, token func(scope string) (string, error)) (*authTarget, error) {
	t := newGetTarget(name, s)
	var err error
	if t.client.bearer, err = token("repository:" + authRepo + ":pull,push"); err != nil {
		return nil, fmt.Errorf("%s push token: %w", name, err)
	}
	if t.manifest, err = pushImage(ctx, t.client); err != nil {
		return nil, fmt.Errorf("%s: pushing the image: %w", name, err)
	}
	if t.client.bearer, err = token("repository:" + authRepo + ":pull"); err != nil {
		return nil, fmt.Errorf("%s pull token: %w", name, err)
	}
	return t, t.get(ctx)
}

// berthLogin gets registry tokens from berth the way `berth acr login` and
// docker do: a directory token for the bootstrap administrator, exchanged
// for a refresh token, traded for an access token per scope.
type berthLogin struct {
	http      *http.Client
	base      string
	boot      bootstrap
	directory string // the directory token, valid for the whole run
	dials     atomic.Int64
}

func newBerthLogin(ctx context.Context, s *Server) (*berthLogin, error) {
	boot, err := readBootstrap(s)
	if err != nil {
		return nil, err
	}
	l := &berthLogin{base: s.URL, boot: boot}
	l.http = &http.Client{Transport: countingTransport(s.RootCAs, &l.dials)}
	l.directory, err = l.post(ctx, "/"+boot.TenantID+"/oauth2/token", "access_token", url.Values{
		"grant_type":    {"client_credentials"},
		"client_id":     {s.User},
		"client_secret": {s.Password},
		"resource":      {directoryResource},
	})
	if err != nil {
		return nil, fmt.Errorf("directory token: %w", err)
	}
	return l, nil
}

// token runs one exchange and one token request: what a client does when
// it logs in and pulls.
func (l *berthLogin) token(ctx context.Context, scope string) (string, error) {
	refresh, err := l.post(ctx, "/oauth2/exchange", "refresh_token", url.Values{
		"grant_type":   {"access_token"},
		"service":      {l.boot.LoginServer},
		"access_token": {l.directory},
	})
	if err != nil {
		return "", err
	}
	return l.post(ctx, "/oauth2/token", "access_token", url.Values{
		"grant_type":    {"refresh_token"},
		"service":       {l.boot.LoginServer},
		"scope":         {scope},
		"refresh_token": {refresh},
	})
}

// post sends a form and returns the named string field of the JSON answer.
func (l *berthLogin) post(ctx context.Context, path, field string, form url.Values) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, l.base+path, strings.NewReader(form.Encode()))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return tokenField(l.http, req, field)
}

// tokenField sends req and returns the named string field of its JSON
// answer, which must be 200 and carry it.
func tokenField(c *http.Client, req *http.Request, field string) (string, error) {
	resp, err := c.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("%s %s: %s: %.300s", req.Method, req.URL.Path, resp.Status, body)
	}
	var out map[string]any
	if err := json.Unmarshal(body, &out); err != nil {
		return "", fmt.Errorf("%s %s: %w", req.Method, req.URL.Path, err)
	}
	v, _ := out[field].(string)
	if v == "" {
		return "", fmt.Errorf("%s %s: no %s in %.300s", req.Method, req.URL.Path, field, body)
	}
	return v, nil
}

// distToken asks the token issuer for a token, as docker asks a realm.
func distToken(ctx context.Context, s *Server, issuer *TokenIssuer, scope string) (string, error) {
	q := url.Values{"service": {issuer.Service}, "scope": {scope}}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, issuer.URL+"/token?"+q.Encode(), nil)
	if err != nil {
		return "", err
	}
	c := &http.Client{Transport: newTransport(s.RootCAs)}
	defer c.CloseIdleConnections()
	return tokenField(c, req, "token")
}

// measureFor runs op on conc goroutines for d, recording each call's
// latency; calls in flight at the deadline finish and count. The first
// error cancels the rest.
func measureFor(ctx context.Context, conc int, d time.Duration, op func(ctx context.Context) error) Timed {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	lat := make([][]time.Duration, conc)
	var wg sync.WaitGroup
	cpu := selfCPU()
	start := time.Now()
	deadline := start.Add(d)
	for w := range conc {
		wg.Go(func() {
			for ctx.Err() == nil {
				t0 := time.Now()
				if t0.After(deadline) {
					return
				}
				if err := op(ctx); err != nil {
					cancel(err)
					return
				}
				lat[w] = append(lat[w], time.Since(t0))
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	all := slices.Concat(lat...)
	slices.Sort(all)
	return Timed{
		Result:    Result{Ops: len(all), Elapsed: elapsed, Err: context.Cause(ctx)},
		Latencies: all,
		CPU:       selfCPU() - cpu,
	}
}

// sampleRow warms up, then times op, with the server's CPU time and the
// client's dials counted.
func sampleRow(ctx context.Context, serverCPU func() (time.Duration, error), dials *atomic.Int64, conc int, warmup, d time.Duration, op func(ctx context.Context) error) (AuthSample, error) {
	if w := measureFor(ctx, conc, warmup, op); w.Err != nil {
		return AuthSample{}, fmt.Errorf("warm-up: %w", w.Err)
	}
	cpu, err := serverCPU()
	if err != nil {
		return AuthSample{}, err
	}
	before := dials.Load()
	t := measureFor(ctx, conc, d, op)
	if t.Err != nil {
		return AuthSample{}, t.Err
	}
	after, err := serverCPU()
	if err != nil {
		return AuthSample{}, err
	}
	return AuthSample{Timed: t, ServerCPU: after - cpu, Dials: dials.Load() - before}, nil
}

// RunAuth starts berth from berthBin and Distribution from distBin with
// token auth, pushes the same image to both, and measures authenticated
// manifest GETs by tag on each and on the ceiling server, taking turns,
// then berth's exchange + token issuance. Progress goes to log.
func RunAuth(ctx context.Context, plan AuthPlan, berthBin, distBin, scratch string, ca *CA, log io.Writer) (*AuthReport, error) {
	start := time.Now()
	logf := func(format string, args ...any) {
		fmt.Fprintf(log, "[%6.1fs] %s\n", time.Since(start).Seconds(), fmt.Sprintf(format, args...))
	}
	rep := &AuthReport{Plan: plan, Get: map[string][]AuthSample{}}

	issuer, err := NewTokenIssuer(ca, distService)
	if err != nil {
		return nil, err
	}
	defer issuer.Close()
	dir, err := os.MkdirTemp(scratch, "distribution-")
	if err != nil {
		return nil, err
	}
	dist, err := StartDistributionTokenAuth(ctx, distBin, dir, ca, issuer)
	if err != nil {
		return nil, fmt.Errorf("starting Distribution: %w", err)
	}
	defer dist.Close()

	var debugAddr string
	var extra []string
	if plan.CPUProfile != "" {
		if debugAddr, err = freeLoopbackAddr(); err != nil {
			return nil, err
		}
		extra = []string{"--debug-listen", debugAddr}
	}
	if dir, err = os.MkdirTemp(scratch, "berth-"); err != nil {
		return nil, err
	}
	berth, err := StartBerth(ctx, berthBin, dir, extra...)
	if err != nil {
		return nil, fmt.Errorf("starting berth: %w", err)
	}
	defer berth.Close()
	login, err := newBerthLogin(ctx, berth)
	if err != nil {
		return nil, err
	}
	defer login.http.CloseIdleConnections()

	b, err := newAuthTarget(ctx, authCandidate, berth, func(scope string) (string, error) { return login.token(ctx, scope) })
	if err != nil {
		return nil, err
	}
	defer b.client.http.CloseIdleConnections()
	d, err := newAuthTarget(ctx, authBaseline, dist, func(scope string) (string, error) { return distToken(ctx, dist, issuer, scope) })
	if err != nil {
		return nil, err
	}
	defer d.client.http.CloseIdleConnections()
	if dir, err = os.MkdirTemp(scratch, "ceiling-"); err != nil {
		return nil, err
	}
	cs, err := StartCeiling(ctx, dir, ca, d.manifest)
	if err != nil {
		return nil, fmt.Errorf("starting the ceiling server: %w", err)
	}
	defer cs.Close()
	ceiling := newGetTarget(authCeiling, cs)
	ceiling.manifest = d.manifest
	defer ceiling.client.http.CloseIdleConnections()
	if err := ceiling.get(ctx); err != nil {
		return nil, err
	}

	order := []*authTarget{d, b, ceiling}
	for round := range plan.Rounds {
		for _, t := range order {
			var stopProfile func() error
			if t == b && round == 0 && plan.CPUProfile != "" {
				stopProfile = startProfile(ctx, debugAddr, plan.GetDuration, plan.CPUProfile+"-get.pprof")
				rep.Profiled = true
			}
			s, err := sampleRow(ctx, t.server.CPU, t.dials, plan.GetConc, plan.Warmup, plan.GetDuration, t.get)
			if err != nil {
				return nil, fmt.Errorf("%s manifest GET round %d: %w", t.name, round+1, err)
			}
			if stopProfile != nil {
				if err := stopProfile(); err != nil {
					return nil, fmt.Errorf("berth CPU profile: %w", err)
				}
			}
			rep.Get[t.name] = append(rep.Get[t.name], s)
			logf("%s manifest GET conc=%d round %d: %.0f/s, p50 %v, p99 %v, server CPU %v/req, client CPU %v/req",
				t.name, plan.GetConc, round+1, s.OpsPerSec(), s.Percentile(0.5), s.Percentile(0.99), s.ServerCPUPerOp(), s.CPUPerOp())
		}
		slices.Reverse(order)
	}

	for i, conc := range plan.IssueConc {
		var stopProfile func() error
		if i == len(plan.IssueConc)-1 && plan.CPUProfile != "" {
			stopProfile = startProfile(ctx, debugAddr, plan.IssueDuration, plan.CPUProfile+"-issue.pprof")
		}
		s, err := sampleRow(ctx, berth.CPU, &login.dials, conc, plan.Warmup, plan.IssueDuration, func(ctx context.Context) error {
			_, err := login.token(ctx, "repository:"+authRepo+":pull")
			return err
		})
		if stopProfile != nil {
			if err := stopProfile(); err != nil {
				return nil, fmt.Errorf("berth CPU profile: %w", err)
			}
		}
		if err != nil {
			return nil, fmt.Errorf("berth exchange + token conc=%d: %w", conc, err)
		}
		rep.Issue = append(rep.Issue, s)
		logf("berth exchange + token conc=%d: %.0f/s, p50 %v, p99 %v", conc, s.OpsPerSec(), s.Percentile(0.5), s.Percentile(0.99))
	}
	return rep, nil
}

// startProfile fetches a CPU profile of d from berth's debug listener
// into path; the returned function waits for it.
func startProfile(ctx context.Context, addr string, d time.Duration, path string) (wait func() error) {
	done := make(chan error, 1)
	go func() {
		done <- func() error {
			seconds := max(1, int(d.Seconds()))
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", addr, seconds), nil)
			if err != nil {
				return err
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				return err
			}
			defer resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				return fmt.Errorf("GET /debug/pprof/profile: %s", resp.Status)
			}
			f, err := os.Create(path)
			if err != nil {
				return err
			}
			if _, err := io.Copy(f, resp.Body); err != nil {
				f.Close()
				return err
			}
			return f.Close()
		}()
	}()
	return func() error { return <-done }
}

// GetTarget is the authenticated manifest GET rate berth must reach at
// concurrency 32 (issue 5).
const GetTarget = 20_000

// premiumReadsPerMinute is the anchor: the public service's premium tier
// allows this many reads per minute.
const premiumReadsPerMinute = 10_000

// median returns the sample with the median rate (the lower middle one of
// an even count), and the lowest and highest rates.
func median(samples []AuthSample) (mid AuthSample, lo, hi float64) {
	s := slices.Clone(samples)
	slices.SortFunc(s, func(a, b AuthSample) int { return cmp.Compare(a.OpsPerSec(), b.OpsPerSec()) })
	return s[(len(s)-1)/2], s[0].OpsPerSec(), s[len(s)-1].OpsPerSec()
}

// WriteMarkdown renders the report as docs/benchmarks.md shows it.
func (rep *AuthReport) WriteMarkdown(w io.Writer) {
	p := &printer{w: w}
	bm, blo, bhi := median(rep.Get[authCandidate])
	dm, dlo, dhi := median(rep.Get[authBaseline])
	cm, clo, chi := median(rep.Get[authCeiling])
	conc := fmt.Sprint(rep.Plan.GetConc)
	rate := func(m AuthSample, lo, hi float64) string {
		return fmt.Sprintf("%.0f (%.0f–%.0f)", m.OpsPerSec(), lo, hi)
	}
	p.row("manifest GET by tag, Bearer token", "conc", authBaseline, authCandidate, authCandidate+" / "+authBaseline, authCeiling)
	p.row("---", "---:", "---:", "---:", "---:", "---:")
	p.row("requests/s", conc, rate(dm, dlo, dhi), rate(bm, blo, bhi), fmt.Sprintf("%.2f", bm.OpsPerSec()/dm.OpsPerSec()), rate(cm, clo, chi))
	p.row("p50", conc, ms(dm.Percentile(0.5)), ms(bm.Percentile(0.5)), "", ms(cm.Percentile(0.5)))
	p.row("p99", conc, ms(dm.Percentile(0.99)), ms(bm.Percentile(0.99)), "", ms(cm.Percentile(0.99)))
	p.row("server CPU per request", conc, us(dm.ServerCPUPerOp()), us(bm.ServerCPUPerOp()), "", us(cm.ServerCPUPerOp()))
	p.row("client CPU per request", conc, us(dm.CPUPerOp()), us(bm.CPUPerOp()), "", us(cm.CPUPerOp()))
	p.line("")
	p.line(fmt.Sprintf("Each server ran %d rows of %v, taking turns in an order that reverses every round; the table shows the median row (requests/s: median, then lowest–highest), with its latencies and CPU. Each row followed %v of untimed warm-up. %q is a minimal Go net/http TLS server, a child process like the registries, answering every GET with the same manifest from memory and checking nothing: the ceiling for a Go registry on this machine with this client.", rep.Plan.Rounds, rep.Plan.GetDuration, rep.Plan.Warmup, authCeiling))
	if rep.Profiled {
		p.line("berth's first row ran with its CPU profiler attached.")
	}
	var ops, dials []string
	for _, name := range []string{authBaseline, authCandidate, authCeiling} {
		ops = append(ops, name+" "+eachSample(rep.Get[name], sampleOps))
		dials = append(dials, name+" "+eachSample(rep.Get[name], sampleDials))
	}
	p.line(fmt.Sprintf("Requests per row: %s. New connections during the timed rows: %s (0: every request reused a warm keep-alive connection).",
		strings.Join(ops, "; "), strings.Join(dials, "; ")))
	p.line("")

	p.row("berth token issuance", "conc", "iterations", "iterations/s", "p50", "p99", "berth CPU per iteration")
	p.row("---", "---:", "---:", "---:", "---:", "---:", "---:")
	for i, c := range rep.Plan.IssueConc {
		s := rep.Issue[i]
		p.row("POST /oauth2/exchange + POST /oauth2/token", fmt.Sprint(c), fmt.Sprint(s.Ops), fmt.Sprintf("%.0f", s.OpsPerSec()),
			ms(s.Percentile(0.5)), ms(s.Percentile(0.99)), ms(s.ServerCPUPerOp()))
	}
	p.line("")
	p.line(fmt.Sprintf("One row of %v per concurrency, after %v of warm-up; each iteration exchanges the same directory token for a refresh token and trades it for a pull token. New connections during the rows: %s.", rep.Plan.IssueDuration, rep.Plan.Warmup, eachSample(rep.Issue, sampleDials)))
	p.line("")

	status := func(ok bool) string {
		if ok {
			return "met"
		}
		return "**not met**"
	}
	anchor := float64(premiumReadsPerMinute) / 60
	p.row("target", "status")
	p.row("---", "---")
	p.row(fmt.Sprintf("berth ≥ %s authenticated manifest GETs/s at concurrency %d", grouped(GetTarget), rep.Plan.GetConc),
		fmt.Sprintf("%s: %.0f/s (%.0f–%.0f)", status(bm.OpsPerSec() >= GetTarget), bm.OpsPerSec(), blo, bhi))
	p.row("berth ≥ Distribution with token auth", fmt.Sprintf("%s: %.2f×", status(bm.OpsPerSec() >= dm.OpsPerSec()), bm.OpsPerSec()/dm.OpsPerSec()))
	p.row("for context: berth as a share of the ceiling server", fmt.Sprintf("%.0f%%", 100*bm.OpsPerSec()/cm.OpsPerSec()))
	p.row(fmt.Sprintf("anchor: the public service's premium tier allows %s reads per minute (%.0f/s)", grouped(premiumReadsPerMinute), anchor),
		fmt.Sprintf("berth served %.0f× that; exchange + token at concurrency %d ran at %.1f× that rate",
			bm.OpsPerSec()/anchor, rep.Plan.IssueConc[len(rep.Plan.IssueConc)-1], rep.Issue[len(rep.Issue)-1].OpsPerSec()/anchor))
}

// eachSample lists f of every sample, comma-separated.
func eachSample(samples []AuthSample, f func(AuthSample) int64) string {
	s := make([]string, len(samples))
	for i, x := range samples {
		s[i] = fmt.Sprint(f(x))
	}
	return strings.Join(s, ", ")
}

func sampleOps(s AuthSample) int64   { return int64(s.Ops) }
func sampleDials(s AuthSample) int64 { return s.Dials }

// grouped writes n with thousands separators, as the docs do.
func grouped(n int) string {
	s := fmt.Sprint(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

func us(d time.Duration) string {
	return fmt.Sprintf("%.0f µs", float64(d)/float64(time.Microsecond))
}
