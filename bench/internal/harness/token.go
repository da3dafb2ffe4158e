package harness

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

// TokenPlan fixes the work of the token benchmark. Counts are fixed rather
// than time-boxed so runs are comparable request for request.
type TokenPlan struct {
	// Conc lists the client concurrency levels of the token rows;
	// Requests and Warmup are indexed like it.
	Conc     []int
	Requests []int
	// Warmup requests precede each row, untimed, so the row starts with
	// every keep-alive connection open and berth's caches warm.
	Warmup []int
	// SignOps is the number of RSA signatures per signing sample, at
	// concurrency 1 and at GOMAXPROCS.
	SignOps []int
	// PerfData, when set, is where `perf record` writes a CPU profile of
	// the berth process during the last (highest-concurrency) token row.
	PerfData string
}

// DefaultTokenPlan is the published token benchmark: every row lasts a few
// seconds on two cores.
func DefaultTokenPlan() TokenPlan {
	return TokenPlan{
		Conc:     []int{1, 16},
		Requests: []int{2000, 20000},
		Warmup:   []int{200, 1600},
		SignOps:  []int{2000, 4000},
	}
}

// QuickTokenPlan exercises every code path in about a second; its numbers
// mean nothing.
func QuickTokenPlan() TokenPlan {
	return TokenPlan{
		Conc:     []int{1, 4},
		Requests: []int{20, 80},
		// Enough that every one of the 4 clients has a request in
		// flight at once and opens its connection: with 8, one client
		// sometimes took another's turns and opened its own only in the
		// timed row, which the test reads as keep-alive failing.
		Warmup:  []int{4, 64},
		SignOps: []int{20, 40},
	}
}

// signConc are the concurrency levels of the signing limit: one goroutine,
// and one per CPU the scheduler will use, the most the machine can sign.
func signConc() []int {
	if n := runtime.GOMAXPROCS(0); n > 1 {
		return []int{1, n}
	}
	return []int{1}
}

// Timed is a Result with its per-operation latencies, sorted, and the CPU
// time the measuring process spent on it.
type Timed struct {
	Result
	Latencies []time.Duration
	CPU       time.Duration
}

// CPUPerOp is the measuring process's CPU time per operation.
func (t Timed) CPUPerOp() time.Duration { return t.CPU / time.Duration(max(t.Ops, 1)) }

// Percentile returns the latency below which a fraction p of operations
// finished (nearest rank).
func (t Timed) Percentile(p float64) time.Duration {
	if len(t.Latencies) == 0 {
		return 0
	}
	i := int(float64(len(t.Latencies))*p+0.999999) - 1
	return t.Latencies[min(max(i, 0), len(t.Latencies)-1)]
}

// measureTimed is measure that also records how long each operation took.
func measureTimed(ctx context.Context, conc, ops int, op func(ctx context.Context, i int) error) Timed {
	lat := make([]time.Duration, ops)
	cpu := selfCPU()
	r := measure(ctx, conc, ops, func(ctx context.Context, i int) (int64, error) {
		start := time.Now()
		err := op(ctx, i)
		lat[i] = time.Since(start)
		return 0, err
	})
	cpu = selfCPU() - cpu
	slices.Sort(lat)
	return Timed{Result: r, Latencies: lat, CPU: cpu}
}

// selfCPU is this process's user and system CPU time so far.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// clockTick is the unit of /proc/PID/stat CPU times: USER_HZ, 100 on every
// Linux architecture Go supports.
const clockTick = 10 * time.Millisecond

// CPU returns the server process's user and system CPU time so far, summed
// over its threads.
func (s *Server) CPU() (time.Duration, error) {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", s.cmd.Process.Pid))
	if err != nil {
		return 0, err
	}
	// The command name may hold spaces; the fields after it do not.
	_, rest, ok := strings.Cut(string(stat), ") ")
	f := strings.Fields(rest)
	if !ok || len(f) < 13 {
		return 0, fmt.Errorf("malformed /proc/%d/stat", s.cmd.Process.Pid)
	}
	var utime, stime int64
	if _, err := fmt.Sscan(f[11]+" "+f[12], &utime, &stime); err != nil {
		return 0, fmt.Errorf("/proc/%d/stat: %w", s.cmd.Process.Pid, err)
	}
	return time.Duration(utime+stime) * clockTick, nil
}

// TokenReport is everything one token run measured.
type TokenReport struct {
	Plan TokenPlan
	// Tokens holds one result per Plan.Conc entry.
	Tokens []Timed
	// SignConc are the signing concurrency levels; Sign holds the
	// samples for each, taken before every token row and after the last.
	SignConc []int
	Sign     [][]Timed
	// IdleRSS is berth's resident memory after start-up, PeakRSS its
	// high-water mark after every row.
	IdleRSS, PeakRSS int64
	// BerthCPU is berth's CPU time during each token row: with the
	// client's (Tokens[i].CPU) it splits the machine between the two.
	BerthCPU []time.Duration
	// Dials counts the TCP connections the client opened in each row
	// (after its warm-up): zero means every request reused a keep-alive
	// connection, so the rate excludes TLS handshakes.
	Dials []int64
}

// tokenClient requests client-credentials tokens from one berth.
type tokenClient struct {
	http  *http.Client
	url   string
	form  string
	dials atomic.Int64
}

func newTokenClient(s *Server, tenantID string) *tokenClient {
	c := &tokenClient{
		url: s.URL + "/" + tenantID + "/oauth2/v2.0/token",
		form: url.Values{
			"grant_type":    {"client_credentials"},
			"client_id":     {s.User},
			"client_secret": {s.Password},
			"scope":         {"https://management.azure.com/.default"},
		}.Encode(),
	}
	c.http = &http.Client{Transport: countingTransport(s.RootCAs, &c.dials)}
	return c
}

// countingTransport is newTransport counting the connections it opens in
// dials, so a row can show it reused warm keep-alive connections only.
func countingTransport(roots *x509.CertPool, dials *atomic.Int64) *http.Transport {
	t := newTransport(roots)
	dialer := &net.Dialer{}
	t.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		dials.Add(1)
		return dialer.DialContext(ctx, network, addr)
	}
	return t
}

// issue requests one token and checks the answer carries one.
func (c *tokenClient) issue(ctx context.Context) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url, strings.NewReader(c.form))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	// Read to EOF, so the connection goes back to the pool.
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("POST %s: %s: %.300s", req.URL.Path, resp.Status, body)
	}
	var tok struct {
		AccessToken string `json:"access_token"`
		TokenType   string `json:"token_type"`
	}
	if err := json.Unmarshal(body, &tok); err != nil {
		return fmt.Errorf("token response: %w", err)
	}
	if tok.AccessToken == "" || tok.TokenType != "Bearer" {
		return fmt.Errorf("token response without a bearer access_token: %.300s", body)
	}
	return nil
}

// signRate measures RSA-2048 PKCS#1 v1.5 SHA-256 signatures, the one
// expensive step of issuing a token, on conc goroutines: the ceiling for
// token issuance on this machine.
func signRate(ctx context.Context, key *rsa.PrivateKey, conc, ops int) Timed {
	return measureTimed(ctx, conc, ops, func(_ context.Context, i int) error {
		// A distinct message per signature, as every token's claims are.
		sum := sha256.Sum256(fmt.Appendf(nil, "token %d", i))
		_, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, sum[:])
		return err
	})
}

// bootstrap is what berth writes to bootstrap.json beside the credentials
// StartBerth already read.
type bootstrap struct {
	TenantID    string `json:"tenantId"`
	LoginServer string `json:"loginServer"`
}

func readBootstrap(s *Server) (bootstrap, error) {
	var b bootstrap
	raw, err := os.ReadFile(filepath.Join(s.dir, "data", "bootstrap.json"))
	if err != nil {
		return b, err
	}
	if err := json.Unmarshal(raw, &b); err != nil {
		return b, err
	}
	if b.TenantID == "" || b.LoginServer == "" {
		return b, errors.New("bootstrap.json lacks tenantId or loginServer")
	}
	return b, nil
}

// RunTokens starts one berth from bin under scratch and measures its token
// endpoint at each concurrency of plan, sampling the machine's signing rate
// in this process before every row and after the last, so that other load
// on a shared machine shows up as spread rather than as a wrong ceiling.
// Progress goes to log.
func RunTokens(ctx context.Context, plan TokenPlan, bin, scratch string, log io.Writer) (*TokenReport, error) {
	start := time.Now()
	logf := func(format string, args ...any) {
		fmt.Fprintf(log, "[%6.1fs] %s\n", time.Since(start).Seconds(), fmt.Sprintf(format, args...))
	}
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	rep := &TokenReport{Plan: plan, SignConc: signConc()}
	rep.Sign = make([][]Timed, len(rep.SignConc))
	sample := func() error {
		for i, conc := range rep.SignConc {
			r := signRate(ctx, key, conc, plan.SignOps[i])
			if r.Err != nil {
				return fmt.Errorf("RSA signing: %w", r.Err)
			}
			rep.Sign[i] = append(rep.Sign[i], r)
			logf("RSA-2048 sign conc=%d: %.0f/s", conc, r.OpsPerSec())
		}
		return nil
	}

	dir, err := os.MkdirTemp(scratch, "berth-")
	if err != nil {
		return nil, err
	}
	s, err := StartBerth(ctx, bin, dir)
	if err != nil {
		return nil, fmt.Errorf("starting berth: %w", err)
	}
	defer s.Close()
	if rep.IdleRSS, err = s.RSS(); err != nil {
		return nil, err
	}
	boot, err := readBootstrap(s)
	if err != nil {
		return nil, err
	}
	c := newTokenClient(s, boot.TenantID)
	defer c.http.CloseIdleConnections()

	for i, conc := range plan.Conc {
		if err := sample(); err != nil {
			return nil, err
		}
		warm := measure(ctx, conc, plan.Warmup[i], func(ctx context.Context, _ int) (int64, error) { return 0, c.issue(ctx) })
		if warm.Err != nil {
			return nil, fmt.Errorf("token warm-up conc=%d: %w", conc, warm.Err)
		}
		var stopPerf func() error
		if plan.PerfData != "" && i == len(plan.Conc)-1 {
			if stopPerf, err = startPerf(s, plan.PerfData); err != nil {
				return nil, err
			}
		}
		dials := c.dials.Load()
		cpu, err := s.CPU()
		if err != nil {
			return nil, err
		}
		r := measureTimed(ctx, conc, plan.Requests[i], func(ctx context.Context, _ int) error { return c.issue(ctx) })
		rep.Dials = append(rep.Dials, c.dials.Load()-dials)
		cpuAfter, err := s.CPU()
		if err != nil {
			return nil, err
		}
		rep.BerthCPU = append(rep.BerthCPU, cpuAfter-cpu)
		if stopPerf != nil {
			if err := stopPerf(); err != nil {
				logf("perf: %v", err)
			}
		}
		if r.Err != nil {
			return nil, fmt.Errorf("tokens conc=%d: %w", conc, r.Err)
		}
		rep.Tokens = append(rep.Tokens, r)
		logf("tokens conc=%d: %.0f/s, p50 %v, p99 %v, CPU per token: berth %v, client %v", conc, r.OpsPerSec(), r.Percentile(0.50), r.Percentile(0.99),
			rep.BerthCPUPerToken(i), r.CPUPerOp())
	}
	if rep.PeakRSS, err = s.PeakRSS(); err != nil {
		return nil, err
	}
	if err := sample(); err != nil {
		return nil, err
	}
	return rep, nil
}

// startPerf records the berth process's on-CPU stacks until the returned
// function is called. berth has no profiling endpoint, and the benchmark
// must measure it unchanged, so the profile comes from outside.
func startPerf(s *Server, out string) (stop func() error, err error) {
	cmd := exec.Command("perf", "record", "-F", "999", "-g", "-o", out, "-p", fmt.Sprint(s.cmd.Process.Pid))
	cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("perf record: %w", err)
	}
	// perf attaches asynchronously; give it a moment so the row's first
	// requests are in the profile.
	time.Sleep(200 * time.Millisecond)
	return func() error {
		cmd.Process.Signal(syscall.SIGINT)
		err := cmd.Wait()
		// perf writes its data and then lets the interrupt end it.
		if ee, ok := errors.AsType[*exec.ExitError](err); ok {
			if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() && ws.Signal() == syscall.SIGINT {
				return nil
			}
		}
		return err
	}, nil
}

// bestTimed returns the fastest sample.
func bestTimed(samples []Timed) Timed {
	var b Timed
	for _, r := range samples {
		if b.Elapsed == 0 || r.OpsPerSec() > b.OpsPerSec() {
			b = r
		}
	}
	return b
}

// worstTimed returns the slowest sample.
func worstTimed(samples []Timed) Timed {
	var w Timed
	for _, r := range samples {
		if w.Elapsed == 0 || r.OpsPerSec() < w.OpsPerSec() {
			w = r
		}
	}
	return w
}

// TokenTarget is the share of the machine's signing rate token issuance
// should reach: signing is the only step that must cost much.
const TokenTarget = 0.70

// signFor is the signing concurrency a token row is compared with: the same
// concurrency when the machine has that many CPUs, else all of them, since
// berth cannot sign faster than every CPU signing.
func (rep *TokenReport) signFor(conc int) int {
	i := len(rep.SignConc) - 1
	for i > 0 && rep.SignConc[i] > conc {
		i--
	}
	return i
}

// BerthCPUPerToken is berth's CPU time per token in row i.
func (rep *TokenReport) BerthCPUPerToken(i int) time.Duration {
	return rep.BerthCPU[i] / time.Duration(max(rep.Tokens[i].Ops, 1))
}

// WriteMarkdown renders the report as docs/benchmarks.md shows it.
func (rep *TokenReport) WriteMarkdown(w io.Writer) {
	p := &printer{w: w}
	p.row("row", "conc", "ops", "rate", "p50", "p99")
	p.row("---", "---:", "---:", "---:", "---:", "---:")
	for i, conc := range rep.Plan.Conc {
		r := rep.Tokens[i]
		p.row("client-credentials token", fmt.Sprint(conc), fmt.Sprint(r.Ops), fmt.Sprintf("%.0f tokens/s", r.OpsPerSec()), ms(r.Percentile(0.50)), ms(r.Percentile(0.99)))
	}
	for i, conc := range rep.SignConc {
		b := bestTimed(rep.Sign[i])
		p.row("RSA-2048 PKCS#1 v1.5 SHA-256 sign", fmt.Sprint(conc), fmt.Sprint(b.Ops),
			fmt.Sprintf("%.0f sigs/s (%.0f)", b.OpsPerSec(), worstTimed(rep.Sign[i]).OpsPerSec()), ms(b.Percentile(0.50)), ms(b.Percentile(0.99)))
	}
	p.line("")
	p.line(fmt.Sprintf("Signing is the best of %d samples taken in the benchmark process before each token row and after the last, with the slowest in brackets; its top concurrency is GOMAXPROCS (%d).", len(rep.Sign[0]), rep.SignConc[len(rep.SignConc)-1]))
	p.line("")
	p.row("token conc", "vs signing at conc", "tokens / signatures", fmt.Sprintf("target ≥ %.0f%%", 100*TokenTarget))
	p.row("---:", "---:", "---:", "---")
	for i, conc := range rep.Plan.Conc {
		si := rep.signFor(conc)
		share := rep.Tokens[i].OpsPerSec() / bestTimed(rep.Sign[si]).OpsPerSec()
		met := "met"
		if share < TokenTarget {
			met = "**not met**"
		}
		p.row(fmt.Sprint(conc), fmt.Sprint(rep.SignConc[si]), fmt.Sprintf("%.0f%%", 100*share), met)
	}
	p.line("")
	sig := bestTimed(rep.Sign[0])
	p.row("token conc", "berth CPU per token", "client CPU per token", "berth CPU share", "one signature's CPU / berth CPU per token")
	p.row("---:", "---:", "---:", "---:", "---:")
	for i, conc := range rep.Plan.Conc {
		r := rep.Tokens[i]
		berth := rep.BerthCPUPerToken(i)
		p.row(fmt.Sprint(conc), ms(berth), ms(r.CPUPerOp()),
			fmt.Sprintf("%.0f%%", 100*float64(rep.BerthCPU[i])/float64(rep.BerthCPU[i]+r.CPU)),
			fmt.Sprintf("%.0f%%", 100*float64(sig.CPUPerOp())/float64(berth)))
	}
	p.line("")
	p.line(fmt.Sprintf("CPU is user plus system time, berth's from /proc/PID/stat (10 ms ticks), the client's from getrusage; one signature costs %s of CPU (the best conc-1 sample). The client shares the machine with berth, so berth's share of the CPU caps the tokens/s any server could reach here; the last column is the share of the signing rate berth would reach with every CPU to itself.", ms(sig.CPUPerOp())))
	p.line("")
	p.line(fmt.Sprintf("berth memory: %d MiB resident after start-up, %d MiB peak (VmHWM) after every row.", rep.IdleRSS>>20, rep.PeakRSS>>20))
	dials := make([]string, len(rep.Dials))
	for i, d := range rep.Dials {
		dials[i] = fmt.Sprint(d)
	}
	p.line(fmt.Sprintf("New connections during the timed rows: %s (every request reused a warm keep-alive connection when 0).", strings.Join(dials, ", ")))
}

func ms(d time.Duration) string {
	return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond))
}
