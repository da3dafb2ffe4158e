package haproxytest

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"text/template"
	"time"

	"github.com/berthhq/berth/internal/testutil/proc"
)

const (
	requireEnv = "BERTH_REQUIRE_TOOLS"

	startAttempts = 5
	readyTimeout  = 30 * time.Second
	stopTimeout   = 10 * time.Second
)

// Backend is one server behind the proxy.
type Backend struct {
	Name string
	// Addr is host:port.
	Addr string
}

// Config is what the proxy checks and trusts.
type Config struct {
	Backends []Backend
	// CheckPath is the path of the health check, a GET over HTTPS
	// answered 200 when the backend is ready.
	CheckPath string
	// LivePath, if set, is the path of a second check, answered 200
	// when the backend is alive though maybe not ready. While no backend
	// is ready, clients go to the live ones (which answer that they
	// cannot serve) rather than having their connections closed.
	LivePath string
	// CAFile is the CA the backends' certificates chain to; the health
	// check verifies them, for the host name CheckHost.
	CAFile, CheckHost string
}

// Proxy is a running HAProxy.
type Proxy struct {
	// Addr is 127.0.0.1:PORT, where clients connect.
	Addr string

	stats string // the statistics page's URL, as CSV
	dir   string
	proc  *proc.Process
}

// The checks run often and take a backend out after two failures, so
// that a killed backend leaves the rotation within a second; connections
// refused meanwhile are sent to another backend (redispatch).
var configTemplate = template.Must(template.New("haproxy.cfg").Parse(`{{define "backend"}}
  balance roundrobin
  option httpchk
  http-check send meth GET uri {{.Path}} ver HTTP/1.1 hdr Host {{.CheckHost}}
  http-check expect status 200
  default-server check check-ssl verify required ca-file {{.CAFile}} verifyhost {{.CheckHost}} inter 250ms fall 2 rise 2
{{- range .Backends}}
  server {{.Name}} {{.Addr}}
{{- end}}
{{end}}global
  maxconn 4096

defaults
  mode tcp
  timeout connect 2s
  timeout client 5m
  timeout server 5m
  timeout check 2s
  retries 3
  option redispatch

frontend clients
  bind {{.Addr}}
{{- if .LivePath}}
  use_backend ready if { nbsrv(ready) gt 0 }
  default_backend live
{{- else}}
  default_backend ready
{{- end}}

backend ready
{{- template "backend" (.Check .CheckPath)}}
{{- if .LivePath}}
backend live
{{- template "backend" (.Check .LivePath)}}
{{- end}}

frontend stats
  mode http
  timeout client 10s
  bind {{.StatsAddr}}
  stats enable
  stats uri /stats
  stats refresh 0
`))

// Start runs a proxy in front of cfg's backends for the duration of tb.
// It returns once the proxy listens; backends come into rotation as their
// checks pass (WaitStatus).
func Start(tb testing.TB, cfg Config) *Proxy {
	tb.Helper()
	bin, err := binary()
	if err != nil {
		if os.Getenv(requireEnv) == "1" {
			tb.Fatalf("haproxytest: %v (fatal because %s=1)", err, requireEnv)
		}
		tb.Skipf("haproxytest: skipping: %v (set %s=1 to fail instead)", err, requireEnv)
	}
	p := &Proxy{dir: tb.TempDir()}
	tb.Cleanup(func() {
		if err := p.proc.Stop(stopTimeout); err != nil {
			tb.Errorf("haproxytest: %v", err)
		}
	})
	for attempt := 1; ; attempt++ {
		err = p.start(bin, cfg)
		if err == nil {
			return p
		}
		p.proc.Stop(stopTimeout)
		if !errors.Is(err, proc.ErrPortTaken) || attempt == startAttempts {
			tb.Fatalf("haproxytest: %v", err)
		}
	}
}

// Available reports whether HAProxy is installed, as a test condition:
// its absence is an error only when BERTH_REQUIRE_TOOLS=1.
func Available() (bool, error) {
	if _, err := binary(); err != nil {
		if os.Getenv(requireEnv) == "1" {
			return false, fmt.Errorf("%v (required because %s=1)", err, requireEnv)
		}
		return false, nil
	}
	return true, nil
}

func binary() (string, error) {
	if p, err := exec.LookPath("haproxy"); err == nil {
		return p, nil
	}
	// A non-login PATH may leave out sbin.
	for _, dir := range []string{"/usr/sbin", "/sbin"} {
		p := filepath.Join(dir, "haproxy")
		if fi, err := os.Stat(p); err == nil && fi.Mode().Perm()&0o111 != 0 {
			return p, nil
		}
	}
	return "", errors.New("HAProxy is not installed (Debian package haproxy)")
}

func (p *Proxy) start(bin string, cfg Config) error {
	ports, err := proc.FreePorts(2)
	if err != nil {
		return err
	}
	addrs := []string{net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[0])), net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[1]))}
	p.Addr, p.stats = addrs[0], "http://"+addrs[1]+"/stats;csv"
	var conf bytes.Buffer
	if err := configTemplate.Execute(&conf, templateData{cfg, addrs[0], addrs[1]}); err != nil {
		return err
	}
	confPath := filepath.Join(p.dir, "haproxy.cfg")
	if err := os.WriteFile(confPath, conf.Bytes(), 0o600); err != nil {
		return err
	}
	// -db: in the foreground, logging to stderr.
	if p.proc, err = proc.Start("haproxy", filepath.Join(p.dir, "haproxy.log"), exec.Command(bin, "-db", "-f", confPath)); err != nil {
		return err
	}
	return p.proc.WaitReady(readyTimeout, 50*time.Millisecond, "cannot bind socket", func() error {
		_, err := p.Stats()
		return err
	})
}

type templateData struct {
	Config
	Addr, StatsAddr string
}

// Check is what one backend section of the configuration needs.
func (d templateData) Check(path string) struct {
	Config
	Path string
} {
	return struct {
		Config
		Path string
	}{d.Config, path}
}

// Server is one backend as the proxy sees it.
type Server struct {
	// Status is UP, DOWN, or a transition ("UP 1/2", "DOWN 1/2").
	Status string
	// Sessions is how many connections the proxy has sent it.
	Sessions int
}

// Stats reads the proxy's view of its backends, by name: whether they
// are ready (the CheckPath check), and how many connections they took.
func (p *Proxy) Stats() (map[string]Server, error) {
	c := &http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get(p.stats)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("statistics: %s", resp.Status)
	}
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	// The header line starts "# ".
	r := csv.NewReader(bytes.NewReader(bytes.TrimPrefix(b, []byte("# "))))
	r.FieldsPerRecord = -1
	rows, err := r.ReadAll()
	if err != nil || len(rows) == 0 {
		return nil, fmt.Errorf("statistics: %q: %v", b, err)
	}
	col := func(name string) int { return slices.Index(rows[0], name) }
	px, sv, status, stot := col("pxname"), col("svname"), col("status"), col("stot")
	if min(px, sv, status, stot) < 0 {
		return nil, fmt.Errorf("statistics: columns %q", rows[0])
	}
	out := map[string]Server{}
	for _, row := range rows[1:] {
		if len(row) <= max(px, sv, status, stot) || (row[px] != "ready" && row[px] != "live") || row[sv] == "BACKEND" {
			continue
		}
		n, _ := strconv.Atoi(row[stot])
		s := out[row[sv]]
		if row[px] == "ready" {
			s.Status = row[status]
		}
		s.Sessions += n
		out[row[sv]] = s
	}
	return out, nil
}

// WaitStatus waits until the proxy says backend name is status (UP or
// DOWN), and fails tb after a minute.
func (p *Proxy) WaitStatus(tb testing.TB, name, status string) {
	tb.Helper()
	deadline := time.Now().Add(time.Minute)
	var last map[string]Server
	for {
		st, err := p.Stats()
		if err == nil && st[name].Status == status {
			return
		}
		last = st
		if time.Now().After(deadline) {
			tb.Fatalf("haproxytest: backend %s not %s after a minute: %v, %v\n%s", name, status, last, err, p.Log())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Pid is the proxy's process id.
func (p *Proxy) Pid() int { return p.proc.Pid() }

// Log is what HAProxy printed (warnings, alerts, backends going up and
// down).
func (p *Proxy) Log() string { return p.proc.LogTail() }
