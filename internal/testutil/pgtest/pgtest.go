package pgtest

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

const (
	// dbUser is the cluster's bootstrap superuser; naming it after the
	// project rather than the OS account keeps DSNs the same whoever runs
	// the server.
	dbUser = "berth"
	dbName = "berth"

	// sysUser runs the server when tests run as root: initdb and postgres
	// refuse to run as root.
	sysUser = "postgres"

	requireEnv = "BERTH_REQUIRE_POSTGRES"

	// Picking a free port and binding it are not atomic, so a parallel
	// test process can take the port in between; a retry picks another.
	maxStartAttempts = 10
)

// Start runs a fresh PostgreSQL server for the duration of tb and returns a
// DSN for an empty database on it, owned by a superuser. The server is
// stopped and its files deleted by tb.Cleanup.
//
// It skips tb when the PostgreSQL binaries are not installed, unless
// BERTH_REQUIRE_POSTGRES=1, in which case it fails tb.
func Start(tb testing.TB) (dsn string) {
	tb.Helper()
	return StartServer(tb).DSN
}

// Server is a running PostgreSQL server that a test may stop and start
// again, as an operator restarts a database under its clients.
type Server struct {
	// DSN names the empty database Start made; it stays valid across
	// restarts (same address).
	DSN  string
	c    *cluster
	port int
}

// StartServer is Start, returning the server for Stop and Restart.
func StartServer(tb testing.TB) *Server {
	tb.Helper()
	began := time.Now()
	binDir, err := findBinDir()
	if err != nil {
		if os.Getenv(requireEnv) == "1" {
			tb.Fatalf("pgtest: %v (fatal because %s=1)", err, requireEnv)
		}
		tb.Skipf("pgtest: skipping: %v (set %s=1 to fail instead)", err, requireEnv)
	}
	c := &cluster{binDir: binDir}
	if os.Geteuid() == 0 {
		if err := c.runAsSystemUser(); err != nil {
			tb.Fatalf("pgtest: running as root, so the server must run as user %q: %v", sysUser, err)
		}
	}
	if c.base, err = c.makeBaseDir(); err != nil {
		tb.Fatalf("pgtest: %v", err)
	}
	tb.Cleanup(func() {
		if err := os.RemoveAll(c.base); err != nil {
			tb.Errorf("pgtest: %v", err)
		}
	})
	c.dataDir = filepath.Join(c.base, "data")
	c.logFile = filepath.Join(c.base, "postgres.log")

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if out, err := c.command(ctx, "initdb", "--pgdata", c.dataDir, "--username", dbUser, "--auth", "trust",
		// C is the one locale that exists everywhere, and it keeps server
		// messages in English, which start reads.
		"--encoding", "UTF8", "--locale", "C", "--no-sync",
	).CombinedOutput(); err != nil {
		tb.Fatalf("pgtest: initdb: %v\n%s", err, out)
	}
	if err := c.writeConfig(); err != nil {
		tb.Fatalf("pgtest: %v", err)
	}
	// Registered before starting, so that a server left running by a
	// failed start is stopped too.
	tb.Cleanup(func() {
		if err := c.stop(); err != nil {
			tb.Errorf("pgtest: %v", err)
		}
	})
	port, err := c.start(ctx)
	if err != nil {
		tb.Fatalf("pgtest: %v", err)
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	if err := createDatabase(ctx, addr, dbName); err != nil {
		tb.Fatalf("pgtest: creating database %q: %v\nserver log:\n%s", dbName, err, c.logTail())
	}
	tb.Logf("pgtest: PostgreSQL (%s) ready on %s in %v; files in %s", binDir, addr, time.Since(began).Round(time.Millisecond), c.base)
	return &Server{DSN: dsnFor(addr, dbName), c: c, port: port}
}

// Pid is the server's main process (the postmaster), whose children are
// the sessions.
func (s *Server) Pid() (int, error) {
	b, err := os.ReadFile(filepath.Join(s.c.dataDir, "postmaster.pid"))
	if err != nil {
		return 0, err
	}
	line, _, _ := strings.Cut(string(b), "\n")
	return strconv.Atoi(strings.TrimSpace(line))
}

// Stop shuts the server down as an operator's restart does (pg_ctl's fast
// mode): open sessions are ended, committed data stays.
func (s *Server) Stop() error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if out, err := s.c.command(ctx, "pg_ctl", "stop", "--wait", "--timeout", "30", "--pgdata", s.c.dataDir, "--mode", "fast").CombinedOutput(); err != nil {
		return fmt.Errorf("pg_ctl stop: %v\n%s", err, bytes.TrimSpace(out))
	}
	return nil
}

// Restart starts a stopped server again on its port, so that DSN reaches
// it.
func (s *Server) Restart() error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if out, err := s.c.command(ctx, "pg_ctl", "start", "--wait", "--timeout", "60", "--pgdata", s.c.dataDir,
		"--log", s.c.logFile, "-o", "-p "+strconv.Itoa(s.port)).CombinedOutput(); err != nil {
		return fmt.Errorf("pg_ctl start (port %d): %v\n%s\nserver log:\n%s", s.port, err, bytes.TrimSpace(out), s.c.logTail())
	}
	return nil
}

func dsnFor(addr, db string) string {
	return fmt.Sprintf("postgres://%s@%s/%s?sslmode=disable", dbUser, addr, db)
}

// createDatabase connects to the maintenance database that initdb made and
// creates db.
func createDatabase(ctx context.Context, addr, db string) error {
	conn, err := pgx.Connect(ctx, dsnFor(addr, "postgres"))
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	_, err = conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{db}.Sanitize())
	return err
}

type cluster struct {
	binDir  string
	base    string // everything of the cluster lives under here
	dataDir string
	logFile string
	// owner is the account the server runs as, when it is not this
	// process's; runuser switches to it.
	owner   *user.User
	runuser string
}

func (c *cluster) runAsSystemUser() error {
	u, err := user.Lookup(sysUser)
	if err != nil {
		return fmt.Errorf("%w (the PostgreSQL server package creates it)", err)
	}
	if c.runuser, err = lookSbin("runuser"); err != nil {
		return err
	}
	c.owner = u
	return nil
}

func (c *cluster) command(ctx context.Context, prog string, args ...string) *exec.Cmd {
	path := filepath.Join(c.binDir, prog)
	cmd := exec.CommandContext(ctx, path, args...)
	if c.owner != nil {
		cmd = exec.CommandContext(ctx, c.runuser, append([]string{"-u", c.owner.Username, "--", path}, args...)...)
	}
	// The test's working directory may be closed to the server's user,
	// and the binaries fail when they cannot read their own.
	cmd.Dir = c.base
	// The developer's PG* variables (PGPORT, PGDATA, ...) steer the server
	// binaries: none may reach the throwaway cluster.
	cmd.Env = slices.DeleteFunc(os.Environ(), func(kv string) bool { return strings.HasPrefix(kv, "PG") })
	// pg_ctl hands the server's output to the log file; this only guards
	// against a child that keeps our pipes open.
	cmd.WaitDelay = 10 * time.Second
	return cmd
}

// makeBaseDir makes the directory that holds the cluster. Not tb.TempDir:
// its parents are private to the test's user, which the server's user
// must be able to traverse.
func (c *cluster) makeBaseDir() (string, error) {
	parent := os.TempDir()
	if c.owner != nil && !traversable(parent) {
		// Under root, TMPDIR may be in root's home.
		parent = "/tmp"
	}
	dir, err := os.MkdirTemp(parent, "berth-pg-")
	if err != nil || c.owner == nil {
		return dir, err
	}
	uid, _ := strconv.Atoi(c.owner.Uid)
	gid, _ := strconv.Atoi(c.owner.Gid)
	if err := os.Chown(dir, uid, gid); err != nil {
		os.RemoveAll(dir)
		return "", err
	}
	return dir, nil
}

// traversable reports whether any user may enter dir and each of its
// parents (ignoring ACLs: a false answer only costs the fallback).
func traversable(dir string) bool {
	d, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return false
	}
	for d, _ = filepath.Abs(d); ; d = filepath.Dir(d) {
		fi, err := os.Stat(d)
		if err != nil || fi.Mode().Perm()&0o001 == 0 {
			return false
		}
		if d == filepath.Dir(d) {
			return true
		}
	}
}

func (c *cluster) writeConfig() error {
	f, err := os.OpenFile(filepath.Join(c.dataDir, "postgresql.conf"), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return err
	}
	// TCP on loopback only, no unix socket (its path could exceed the
	// system's limit); the data is thrown away, so durability only costs
	// time.
	_, err = f.WriteString(`
listen_addresses = '127.0.0.1'
unix_socket_directories = ''
fsync = off
synchronous_commit = off
full_page_writes = off
`)
	return errors.Join(err, f.Close())
}

// start starts the server on a free port and returns the port.
func (c *cluster) start(ctx context.Context) (int, error) {
	for attempt := 1; ; attempt++ {
		l, err := net.Listen("tcp4", "127.0.0.1:0")
		if err != nil {
			return 0, fmt.Errorf("finding a free port: %w", err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		l.Close()
		// A fresh log per attempt (pg_ctl -l appends), so that a retry is
		// decided on this attempt's messages.
		if err := os.Remove(c.logFile); err != nil && !errors.Is(err, os.ErrNotExist) {
			return 0, err
		}
		out, err := c.command(ctx, "pg_ctl", "start", "--wait", "--timeout", "60", "--pgdata", c.dataDir,
			"--log", c.logFile, "-o", "-p "+strconv.Itoa(port)).CombinedOutput()
		if err == nil {
			return port, nil
		}
		log := c.logTail()
		if attempt < maxStartAttempts && (strings.Contains(log, "could not bind") || strings.Contains(log, "Address already in use")) {
			continue
		}
		return 0, fmt.Errorf("pg_ctl start (attempt %d, port %d): %v\n%s\nserver log:\n%s", attempt, port, err, bytes.TrimSpace(out), log)
	}
}

func (c *cluster) stop() error {
	// No pid file: the server never came up, or has exited.
	if _, err := os.Stat(filepath.Join(c.dataDir, "postmaster.pid")); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	// Cleanups run after the test's context is done, hence a fresh one.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	// Immediate mode skips the shutdown checkpoint: the data is about to
	// be deleted.
	out, err := c.command(ctx, "pg_ctl", "stop", "--wait", "--timeout", "30", "--pgdata", c.dataDir, "--mode", "immediate").CombinedOutput()
	if err != nil {
		return fmt.Errorf("pg_ctl stop: %v\n%s", err, bytes.TrimSpace(out))
	}
	return nil
}

// logTail returns the end of the server log, for error messages.
func (c *cluster) logTail() string {
	b, err := os.ReadFile(c.logFile)
	if err != nil {
		return fmt.Sprintf("(%v)", err)
	}
	return string(b[max(0, len(b)-8<<10):])
}

// findBinDir returns a directory holding both initdb and pg_ctl, from one
// installation: pg_ctl starts the postgres beside it, and a server refuses
// a data directory that another major version made.
func findBinDir() (string, error) {
	var dirs []string
	if p, err := exec.LookPath("initdb"); err == nil {
		// PATH often holds a symlink without its siblings beside it.
		real, _ := filepath.EvalSymlinks(p)
		dirs = append(dirs, filepath.Dir(p), filepath.Dir(real))
	}
	// Debian installs each major version outside PATH; the newest first.
	versioned, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	version := func(dir string) float64 {
		v, _ := strconv.ParseFloat(filepath.Base(filepath.Dir(dir)), 64)
		return v
	}
	slices.SortStableFunc(versioned, func(a, b string) int { return cmp.Compare(version(b), version(a)) })
	for _, d := range append(dirs, versioned...) {
		if isExecutable(filepath.Join(d, "initdb")) && isExecutable(filepath.Join(d, "pg_ctl")) {
			return d, nil
		}
	}
	return "", errors.New("PostgreSQL server binaries (initdb, pg_ctl) not found on PATH or in /usr/lib/postgresql/*/bin")
}

// lookSbin is exec.LookPath that also tries the sbin directories, which a
// non-login PATH may leave out.
func lookSbin(name string) (string, error) {
	p, err := exec.LookPath(name)
	if err == nil {
		return p, nil
	}
	for _, dir := range []string{"/usr/sbin", "/sbin"} {
		if p := filepath.Join(dir, name); isExecutable(p) {
			return p, nil
		}
	}
	return "", err
}

func isExecutable(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0
}
