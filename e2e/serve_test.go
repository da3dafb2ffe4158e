package e2e

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/berthhq/berth/internal/oci"
	"github.com/berthhq/berth/internal/testutil/berthtest"
	"github.com/berthhq/berth/internal/testutil/pgtest"
)

func get(t *testing.T, s *berthtest.Server, path string) (int, string) {
	t.Helper()
	resp, err := s.Do(context.Background(), "GET", path, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// pushBlob uploads content monolithically and returns its digest.
func pushBlob(t *testing.T, s *berthtest.Server, repo string, content []byte) oci.Digest {
	t.Helper()
	d := oci.FromBytes(oci.SHA256, content)
	resp, err := s.Do(context.Background(), "POST", "/v2/"+repo+"/blobs/uploads/?digest="+d.String(), bytes.NewReader(content), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("push blob: %d", resp.StatusCode)
	}
	return d
}

func TestServeFirstStartAndRestart(t *testing.T) {
	s := berthtest.Start(t)
	boot := s.Boot
	if boot.TenantID == "" || boot.SubscriptionID == "" || boot.ClientID == "" || len(boot.ClientSecret) < 43 ||
		!strings.HasPrefix(boot.AdminUser, "admin@") || len(boot.AdminPassword) < 43 {
		t.Fatalf("bootstrap.json incomplete: %+v", boot)
	}
	if boot.LoginServer != "default.cr.localhost" {
		t.Errorf("loginServer = %q", boot.LoginServer)
	}
	fi, err := os.Stat(filepath.Join(s.DataDir, "bootstrap.json"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("bootstrap.json mode %v (%v)", fi.Mode().Perm(), err)
	}
	for _, p := range []string{"/healthz", "/readyz"} {
		if code, _ := get(t, s, p); code != 200 {
			t.Errorf("%s = %d", p, code)
		}
	}
	d := pushBlob(t, s, "keep/me", []byte("survives restarts"))
	code, body := get(t, s, "/metrics")
	if code != 200 || !strings.Contains(body, `berth_http_requests_total{code="201",method="POST",surface="registry"}`) {
		t.Errorf("/metrics does not count the push: %d\n%s", code, body)
	}
	caBefore, _ := os.ReadFile(s.CAFile)

	s.Stop()
	s.Restart()
	if s.Boot != boot {
		t.Fatalf("bootstrap changed across restarts:\n%+v\n%+v", boot, s.Boot)
	}
	if caAfter, _ := os.ReadFile(s.CAFile); !bytes.Equal(caBefore, caAfter) {
		t.Fatal("CA re-created on restart")
	}
	if code, _ := get(t, s, "/v2/keep/me/blobs/"+d.String()); code != 200 {
		t.Fatalf("blob after restart: %d", code)
	}
}

func TestServeRoutesByLoginServer(t *testing.T) {
	s := berthtest.Start(t)
	d := pushBlob(t, s, "routed", []byte("by host"))
	// The same registry answers at its login server name, with the
	// certificate's wildcard covering it.
	dial := func(ctx context.Context, network, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, network, s.Host)
	}
	client := &http.Client{Transport: &http.Transport{DialContext: dial, TLSClientConfig: &tls.Config{RootCAs: s.Roots}}}
	for host, want := range map[string]int{s.Boot.LoginServer: 200, "nosuchregistry.cr.localhost": 404} {
		req, _ := http.NewRequest("HEAD", "https://"+host+"/v2/routed/blobs/"+d.String(), nil)
		req.SetBasicAuth(s.Boot.ClientID, s.Boot.ClientSecret)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("%s: %v", host, err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("HEAD at %s = %d, want %d", host, resp.StatusCode, want)
		}
	}
	// Wrong credentials get the Basic challenge naming the registry.
	req, _ := http.NewRequest("GET", s.URL+"/v2/", nil)
	req.SetBasicAuth(s.Boot.ClientID, "wrong")
	resp, err := s.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 || resp.Header.Get("WWW-Authenticate") != `Basic realm="default.cr.localhost"` ||
		resp.Header.Get("Docker-Distribution-Api-Version") != "registry/2.0" {
		t.Errorf("bad credentials: %d %q", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
	}
}

// TestServeGracefulShutdown sends SIGTERM while a slow upload is in flight:
// the upload completes and the server then exits cleanly.
func TestServeGracefulShutdown(t *testing.T) {
	s := berthtest.Start(t)
	content := bytes.Repeat([]byte("x"), 4<<20)
	d := oci.FromBytes(oci.SHA256, content)
	pr, pw := io.Pipe()
	done := make(chan *http.Response, 1)
	go func() {
		resp, err := s.Do(context.Background(), "POST", "/v2/slow/blobs/uploads/?digest="+d.String(), pr, nil)
		if err != nil {
			t.Error(err)
			done <- nil
			return
		}
		resp.Body.Close()
		done <- resp
	}()
	pw.Write(content[:1<<20])
	// SIGTERM only once the handler is writing the upload: a request the
	// server has not started on is one HTTP/2 lets it refuse.
	for start := time.Now(); ; time.Sleep(10 * time.Millisecond) {
		datas, _ := filepath.Glob(filepath.Join(s.DataDir, "blobs", "uploads", "*", "data"))
		if len(datas) > 0 {
			if fi, err := os.Stat(datas[0]); err == nil && fi.Size() > 0 {
				break
			}
		}
		if time.Since(start) > 10*time.Second {
			t.Fatal("the upload never reached the server")
		}
	}
	stopped := make(chan struct{})
	go func() { s.Stop(); close(stopped) }()
	// The listener closes at once; the in-flight request goes on.
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", s.Host, time.Second)
		if err != nil {
			break
		}
		c.Close()
		if time.Now().After(deadline) {
			t.Fatal("server still accepting 10s after SIGTERM")
		}
		time.Sleep(20 * time.Millisecond)
	}
	pw.Write(content[1<<20:])
	pw.Close()
	if resp := <-done; resp == nil || resp.StatusCode != http.StatusCreated {
		t.Fatalf("in-flight upload during shutdown: %+v", resp)
	}
	<-stopped
	s.Restart()
	if code, _ := get(t, s, "/v2/slow/blobs/"+d.String()); code != 200 {
		t.Fatalf("upload finished during shutdown is gone: %d", code)
	}
}

func TestServeOnPostgres(t *testing.T) {
	dsn := pgtest.Start(t)
	s := berthtest.Start(t, "--database", dsn)
	d := pushBlob(t, s, "pg/repo", []byte("in postgres"))
	s.Stop()
	s.Restart()
	if code, _ := get(t, s, "/v2/pg/repo/blobs/"+d.String()); code != 200 {
		t.Fatalf("blob on PostgreSQL after restart: %d", code)
	}
	if _, err := os.Stat(filepath.Join(s.DataDir, "berth.db")); err == nil {
		t.Error("an SQLite database was created although --database names PostgreSQL")
	}

	// Maintenance commands, and the server itself, on the data directory
	// without the server's --database refuse rather than work on a new,
	// empty SQLite database that nothing reads.
	s.Stop()
	for _, args := range [][]string{{"tenant", "create", "--domain", "lost.example"}, {"gc"}, {"fsck"}, {"keys", "rotate"}, {"serve", "--listen", "127.0.0.1:0"}} {
		out, err := operator(t, s, args...)
		if err == nil || !strings.Contains(out, "give this command the server's --database") {
			t.Errorf("berth %s without --database: err %v, output %s", args[0], err, out)
		}
	}
	if _, err := os.Stat(filepath.Join(s.DataDir, "berth.db")); err == nil {
		t.Fatal("a refused command created an SQLite database")
	}
	// A data directory from before it recorded its stores is known by
	// what it lacks.
	if err := os.Remove(filepath.Join(s.DataDir, "stores.json")); err != nil {
		t.Fatal(err)
	}
	if out, err := operator(t, s, "tenant", "create", "--domain", "lost.example"); err == nil || !strings.Contains(out, "it has no berth.db") {
		t.Errorf("tenant create on an unrecorded PostgreSQL data directory: err %v, output %s", err, out)
	}
	if out, err := operator(t, s, "tenant", "create", "--domain", "found.example", "--database", dsn); err != nil {
		t.Fatalf("tenant create with the server's --database: %v\n%s", err, out)
	}
	record, err := os.ReadFile(filepath.Join(s.DataDir, "stores.json"))
	if err != nil || !strings.Contains(string(record), `"metadata": "postgres://`) {
		t.Fatalf("stores.json after a command with --database: %s (%v)", record, err)
	}
}

func TestServeRefusesPlainHTTPOffLoopback(t *testing.T) {
	out, err := newCLI(t, "").try("serve", "--data-dir", t.TempDir(), "--listen", "0.0.0.0:0", "--insecure-http")
	if err == nil || !strings.Contains(out, "only allowed on a loopback address") {
		t.Fatalf("serve --insecure-http on 0.0.0.0: err %v, output %s", err, out)
	}
}

// TestServeDebugListener: the profiler answers on its own loopback
// listener and not on the public one.
func TestServeDebugListener(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	s := berthtest.Start(t, "--debug-listen", addr)
	resp, err := http.Get("http://" + addr + "/debug/pprof/cmdline")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("debug listener: %d", resp.StatusCode)
	}
	if code, _ := get(t, s, "/debug/pprof/cmdline"); code != 404 {
		t.Fatalf("profiler on the public listener: %d", code)
	}
}

// TestTwoServersOnPostgres: two `berth serve` processes on one database,
// as two replicas. They bootstrap once between them; a role assignment
// made through A grants at B's registry, and removed through A, stops
// granting at B within the store's bound (1 s, polled with a few seconds'
// slack for a loaded machine).
func TestTwoServersOnPostgres(t *testing.T) {
	dsn := pgtest.Start(t)
	a := berthtest.Start(t, "--database", dsn)
	b := berthtest.Start(t, "--database", dsn)
	if a.Boot.TenantID != b.Boot.TenantID || a.Boot.ClientID != b.Boot.ClientID {
		t.Fatalf("the replicas bootstrapped apart: %s/%s and %s/%s", a.Boot.TenantID, a.Boot.ClientID, b.Boot.TenantID, b.Boot.ClientID)
	}
	// Blobs stay in each server's data directory here; the repository's
	// tags are metadata, which the two share.
	pushBlob(t, a, "shared/repo", []byte("pushed through A"))
	admin := adminCLI(t, a)
	registryID := admin.run("acr", "show", "-n", a.Boot.Registry, "--query", "id", "-o", "tsv")
	var sp struct{ AppID, Password string }
	if err := json.Unmarshal([]byte(admin.run("ad", "sp", "create-for-rbac", "--name", "puller", "--role", "acrpull", "--scopes", registryID)), &sp); err != nil || sp.AppID == "" {
		t.Fatalf("create-for-rbac: %v %+v", err, sp)
	}
	pullAtB := func() int {
		req, err := http.NewRequest("GET", b.URL+"/v2/shared/repo/tags/list", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.SetBasicAuth(sp.AppID, sp.Password)
		resp, err := b.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	const within = time.Second + 4*time.Second
	poll := func(what string, done func(code int) bool) {
		t.Helper()
		deadline := time.Now().Add(within)
		for code := pullAtB(); !done(code); code = pullAtB() {
			if time.Now().After(deadline) {
				t.Fatalf("%s: still %d after %v", what, code, within)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	poll("B lets the puller pull what A assigned", func(code int) bool { return code == http.StatusOK })
	admin.run("role", "assignment", "delete", "--assignee", sp.AppID, "--role", "acrpull", "--scope", registryID, "-o", "none")
	poll("B refuses the puller once A removed the assignment", func(code int) bool {
		return code == http.StatusUnauthorized || code == http.StatusForbidden
	})
}
