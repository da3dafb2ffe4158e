package pgtest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

const (
	// dbUser is the cluster's bootstrap superuser; naming it after the
	// project (rather than "postgres") keeps DSNs independent of which OS
	// account happens to run the server.
	dbUser = "berth"
	dbName = "berth"

	// sysUser is the account the server runs as when tests run as root,
	// because initdb and postgres refuse to run as root.
	sysUser = "postgres"

	requireEnv = "BERTH_REQUIRE_POSTGRES"

	// Picking a free port and binding it are not atomic, so a parallel test
	// process can steal the port in between; a few retries make that
	// practically impossible to hit twice.
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
	began := time.Now()

	binDir, err := findBinDir()
	if err != nil {
		if os.Getenv(requireEnv) == "1" {
			tb.Fatalf("pgtest: %v (fatal because %s=1)", err, requireEnv)
		}
		tb.Skipf("pgtest: skipping: %v (set %s=1 to fail instead)", err, requireEnv)
	}

	c := &cluster{binDir: binDir}
	var owner *account
	if os.Geteuid() == 0 {
		if owner, err = ensureSystemUser(sysUser); err != nil {
			tb.Fatalf("pgtest: running as root, so the server must run as user %q: %v", sysUser, err)
		}
		if c.runuser, err = lookSbin("runuser"); err != nil {
			tb.Fatalf("pgtest: running as root, so runuser is needed to drop to user %q: %v", sysUser, err)
		}
		c.runAs = sysUser
	}

	c.base, err = makeBaseDir(owner)
	if err != nil {
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

	if out, err := c.command(ctx, "initdb",
		"--pgdata", c.dataDir,
		"--username", dbUser,
		"--auth", "trust",
		"--encoding", "UTF8",
		// C is the only locale guaranteed to exist everywhere, and it keeps
		// server messages in English, which start() relies on.
		"--locale", "C",
		"--no-sync",
	).CombinedOutput(); err != nil {
		tb.Fatalf("pgtest: initdb: %v\n%s", err, out)
	}
	if err := c.writeConfig(); err != nil {
		tb.Fatalf("pgtest: %v", err)
	}

	// Registered before starting so that a server left running by a failed
	// or timed-out start is still stopped.
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
	if err := createDatabase(ctx, addr, dbUser, dbName); err != nil {
		tb.Fatalf("pgtest: creating database %q: %v\nserver log:\n%s", dbName, err, c.logTail())
	}

	tb.Logf("pgtest: PostgreSQL (%s) ready on %s in %v; files in %s",
		binDir, addr, time.Since(began).Round(time.Millisecond), c.base)
	return fmt.Sprintf("postgres://%s@%s/%s?sslmode=disable", dbUser, addr, dbName)
}

type cluster struct {
	binDir  string
	base    string // everything lives under here, including the socket
	dataDir string
	logFile string

	runAs   string // OS user to run the server binaries as; empty: as ourselves
	runuser string // path of runuser, when runAs is set
}

func (c *cluster) command(ctx context.Context, prog string, args ...string) *exec.Cmd {
	path := filepath.Join(c.binDir, prog)
	var cmd *exec.Cmd
	if c.runAs != "" {
		cmd = exec.CommandContext(ctx, c.runuser, append([]string{"-u", c.runAs, "--", path}, args...)...)
	} else {
		cmd = exec.CommandContext(ctx, path, args...)
	}
	// The test's working directory may not be accessible to the server's
	// user, and the binaries complain when they cannot stat their cwd.
	cmd.Dir = c.base
	cmd.Env = serverEnv()
	// pg_ctl hands the server's output to the log file, so nothing should
	// hold our pipes open; this is only a guard against hanging forever if
	// that assumption ever breaks.
	cmd.WaitDelay = 10 * time.Second
	return cmd
}

// serverEnv drops the PG* variables of the developer's environment
// (PGPORT, PGDATA, PGCTLTIMEOUT, ...), which the server binaries honour and
// which must not leak into the throwaway cluster.
func serverEnv() []string {
	return slices.DeleteFunc(os.Environ(), func(kv string) bool {
		return strings.HasPrefix(kv, "PG")
	})
}

func (c *cluster) writeConfig() error {
	// A unix socket path longer than sun_path (108 bytes on Linux) makes the
	// server refuse to start; nothing here needs the socket, it only makes
	// manual poking with psql -h easier, so drop it rather than fail.
	sockDir := c.base
	if len(sockDir)+len("/.s.PGSQL.65535") >= 108 {
		sockDir = ""
	}
	conf := fmt.Sprintf(`
# added by berth's pgtest
listen_addresses = '127.0.0.1'
unix_socket_directories = '%s'
# The data is thrown away after the test, so durability only costs time.
fsync = off
synchronous_commit = off
full_page_writes = off
`, strings.ReplaceAll(sockDir, "'", "''"))
	f, err := os.OpenFile(filepath.Join(c.dataDir, "postgresql.conf"), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return err
	}
	if _, err := f.WriteString(conf); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// start starts the server on a free port and returns the port.
func (c *cluster) start(ctx context.Context) (int, error) {
	for attempt := 1; ; attempt++ {
		port, err := freePort()
		if err != nil {
			return 0, err
		}
		// A fresh log per attempt, so that a retry is decided on this
		// attempt's messages only; pg_ctl -l appends.
		if err := os.Remove(c.logFile); err != nil && !errors.Is(err, os.ErrNotExist) {
			return 0, err
		}
		out, err := c.command(ctx, "pg_ctl", "start",
			"--wait", "--timeout", "60",
			"--pgdata", c.dataDir,
			"--log", c.logFile,
			"-o", "-p "+strconv.Itoa(port),
		).CombinedOutput()
		if err == nil {
			return port, nil
		}
		log := c.logTail()
		if attempt < maxStartAttempts && portTaken(log) {
			continue
		}
		return 0, fmt.Errorf("pg_ctl start (attempt %d, port %d): %v\n%s\nserver log:\n%s",
			attempt, port, err, bytes.TrimSpace(out), log)
	}
}

func portTaken(serverLog string) bool {
	return strings.Contains(serverLog, "could not bind") ||
		strings.Contains(serverLog, "Address already in use")
}

func (c *cluster) stop() error {
	// No pid file means the server never came up or already exited, and
	// pg_ctl stop would only complain about it.
	if _, err := os.Stat(filepath.Join(c.dataDir, "postmaster.pid")); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	// Cleanups run after the test's context is cancelled, hence a fresh one.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	// Immediate mode skips the shutdown checkpoint: the data is about to be
	// deleted, so there is nothing worth flushing.
	out, err := c.command(ctx, "pg_ctl", "stop",
		"--wait", "--timeout", "30",
		"--pgdata", c.dataDir,
		"--mode", "immediate",
	).CombinedOutput()
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
	const limit = 8 << 10
	if len(b) > limit {
		b = b[len(b)-limit:]
	}
	return string(b)
}

func freePort() (int, error) {
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("finding a free port: %w", err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	if err := l.Close(); err != nil {
		return 0, err
	}
	return port, nil
}

// findBinDir returns a directory holding both initdb and pg_ctl. They must
// come from the same installation: pg_ctl starts the postgres next to it,
// and a server refuses a data directory initialised by another major
// version.
func findBinDir() (string, error) {
	var dirs []string
	if p, err := exec.LookPath("initdb"); err == nil {
		dirs = append(dirs, filepath.Dir(p))
		// PATH often holds symlinks (e.g. /usr/local/bin/initdb) without
		// all their siblings next to them.
		if real, err := filepath.EvalSymlinks(p); err == nil {
			dirs = append(dirs, filepath.Dir(real))
		}
	}
	// Debian and Ubuntu install the server outside PATH, one directory per
	// major version; prefer the newest.
	versioned, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	slices.SortStableFunc(versioned, func(a, b string) int {
		return -compareVersions(filepath.Base(filepath.Dir(a)), filepath.Base(filepath.Dir(b)))
	})
	dirs = append(dirs, versioned...)

	for _, d := range dirs {
		if isExecutable(filepath.Join(d, "initdb")) && isExecutable(filepath.Join(d, "pg_ctl")) {
			return d, nil
		}
	}
	return "", errors.New("PostgreSQL server binaries (initdb, pg_ctl) not found on PATH or in /usr/lib/postgresql/*/bin")
}

// lookSbin is exec.LookPath that also tries the sbin directories, which a
// non-login PATH (as in many CI containers) may leave out.
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

// compareVersions orders directory names such as "9.6" and "16"
// numerically; names that are not versions sort first (lowest).
func compareVersions(a, b string) int {
	va, errA := strconv.ParseFloat(a, 64)
	vb, errB := strconv.ParseFloat(b, 64)
	switch {
	case errA != nil && errB != nil:
		return strings.Compare(a, b)
	case errA != nil:
		return -1
	case errB != nil:
		return 1
	case va < vb:
		return -1
	case va > vb:
		return 1
	}
	return 0
}

func isExecutable(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0
}

type account struct {
	uid, gid int
}

// userMu serialises user creation among parallel tests of one process;
// lockUserCreation does the same across processes.
var userMu sync.Mutex

// ensureSystemUser looks up the named OS user, creating it as a system user
// if it does not exist.
func ensureSystemUser(name string) (*account, error) {
	userMu.Lock()
	defer userMu.Unlock()
	if u, err := user.Lookup(name); err == nil {
		return parseAccount(u)
	}

	unlock, err := lockUserCreation()
	if err != nil {
		return nil, err
	}
	defer unlock()

	useradd, err := lookSbin("useradd")
	if err != nil {
		return nil, fmt.Errorf("user %s does not exist and cannot be created: %w", name, err)
	}
	var lastErr error
	for attempt := 0; attempt < 5; attempt++ {
		if u, err := user.Lookup(name); err == nil {
			return parseAccount(u)
		}
		args := []string{"--system", "--no-create-home", "--home-dir", "/nonexistent", "--shell", "/usr/sbin/nologin"}
		if _, err := user.LookupGroup(name); err == nil {
			args = append(args, "--gid", name)
		} else {
			args = append(args, "--user-group")
		}
		out, err := exec.Command(useradd, append(args, name)...).CombinedOutput()
		if err == nil {
			continue
		}
		// Someone else may be holding the /etc/passwd lock, or have
		// created the user meanwhile; the lookup at the top of the next
		// iteration sorts out which.
		lastErr = fmt.Errorf("useradd %s: %v: %s", name, err, bytes.TrimSpace(out))
		time.Sleep(time.Duration(attempt+1) * 100 * time.Millisecond)
	}
	if u, err := user.Lookup(name); err == nil {
		return parseAccount(u)
	}
	return nil, lastErr
}

// lockUserCreation serialises useradd across test processes. That matters:
// concurrent useradds of the same name can all succeed, each overwriting the
// previous entry with a new uid, after which a directory chowned to the
// earlier uid is unusable. A directory is used as the lock because mkdir is
// atomic and portable.
func lockUserCreation() (unlock func(), err error) {
	dir := filepath.Join(os.TempDir(), "berth-pgtest-useradd.lock")
	deadline := time.Now().Add(time.Minute)
	for {
		err := os.Mkdir(dir, 0o700)
		if err == nil {
			return func() { os.Remove(dir) }, nil
		}
		if !errors.Is(err, os.ErrExist) {
			return nil, err
		}
		// A holder that was killed leaves the lock behind; useradd takes
		// far less than this, so an older lock is stale.
		if fi, err := os.Stat(dir); err == nil && time.Since(fi.ModTime()) > 30*time.Second {
			os.Remove(dir)
			continue
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("timed out waiting for %s", dir)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func parseAccount(u *user.User) (*account, error) {
	uid, err := strconv.Atoi(u.Uid)
	if err != nil {
		return nil, fmt.Errorf("user %s: uid %q: %w", u.Username, u.Uid, err)
	}
	gid, err := strconv.Atoi(u.Gid)
	if err != nil {
		return nil, fmt.Errorf("user %s: gid %q: %w", u.Username, u.Gid, err)
	}
	return &account{uid: uid, gid: gid}, nil
}

// makeBaseDir creates the directory that holds the cluster. It does not use
// tb.TempDir: that path embeds the test name and can push the unix socket
// path past its length limit, and its parents are private to the test
// user, which the server's user must be able to traverse.
func makeBaseDir(owner *account) (string, error) {
	parents := []string{os.TempDir()}
	if owner != nil && parents[0] != "/tmp" {
		// Under root, TMPDIR may point into root's home, which the
		// server's user cannot enter.
		parents = append(parents, "/tmp")
	}
	var errs []error
	for _, parent := range parents {
		if owner != nil {
			if err := checkTraversable(parent); err != nil {
				errs = append(errs, err)
				continue
			}
		}
		dir, err := os.MkdirTemp(parent, "berth-pg-")
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if owner != nil {
			if err := os.Chown(dir, owner.uid, owner.gid); err != nil {
				os.RemoveAll(dir)
				return "", err
			}
		}
		return dir, nil
	}
	return "", fmt.Errorf("no usable temporary directory: %w", errors.Join(errs...))
}

// checkTraversable reports whether every directory from dir up to the root
// can be entered by any user, ignoring ACLs (a false negative only costs a
// fallback).
func checkTraversable(dir string) error {
	d, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return err
	}
	d, err = filepath.Abs(d)
	if err != nil {
		return err
	}
	for {
		fi, err := os.Stat(d)
		if err != nil {
			return err
		}
		if fi.Mode().Perm()&0o001 == 0 {
			return fmt.Errorf("%s is not traversable by user %s (mode %v)", d, sysUser, fi.Mode().Perm())
		}
		parent := filepath.Dir(d)
		if parent == d {
			return nil
		}
		d = parent
	}
}

// createDatabase runs CREATE DATABASE over a bare protocol-v3 connection.
// Speaking the few messages needed here directly keeps this package free of
// a driver dependency and of needing psql/createdb installed; it only
// handles trust authentication, which is all initdb set up.
func createDatabase(ctx context.Context, addr, user, name string) error {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	defer conn.Close()
	if deadline, ok := ctx.Deadline(); ok {
		if err := conn.SetDeadline(deadline); err != nil {
			return err
		}
	}
	r := bufio.NewReader(conn)

	startup := binary.BigEndian.AppendUint32(nil, 0) // length, patched below
	startup = binary.BigEndian.AppendUint32(startup, 3<<16)
	for _, s := range []string{"user", user, "database", "postgres", ""} {
		startup = append(append(startup, s...), 0)
	}
	binary.BigEndian.PutUint32(startup, uint32(len(startup)))
	if _, err := conn.Write(startup); err != nil {
		return err
	}
	if err := awaitReady(r); err != nil {
		return err
	}

	query := append([]byte{'Q', 0, 0, 0, 0}, "CREATE DATABASE "+name...)
	query = append(query, 0)
	binary.BigEndian.PutUint32(query[1:], uint32(len(query)-1))
	if _, err := conn.Write(query); err != nil {
		return err
	}
	if err := awaitReady(r); err != nil {
		return err
	}

	// Terminate, so the server does not log an unexpected EOF.
	_, err = conn.Write([]byte{'X', 0, 0, 0, 4})
	return err
}

// awaitReady reads messages until ReadyForQuery and returns the first error
// the server reported, if any.
func awaitReady(r *bufio.Reader) error {
	var serverErr error
	for {
		var hdr [5]byte
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			// After a fatal error the server closes the connection without
			// ReadyForQuery; its error says more than the EOF.
			if serverErr != nil {
				return serverErr
			}
			return err
		}
		n := binary.BigEndian.Uint32(hdr[1:])
		if n < 4 || n > 1<<20 {
			return fmt.Errorf("malformed message %q of length %d", hdr[0], n)
		}
		body := make([]byte, n-4)
		if _, err := io.ReadFull(r, body); err != nil {
			return err
		}
		switch hdr[0] {
		case 'R':
			if len(body) < 4 || binary.BigEndian.Uint32(body) != 0 {
				return errors.New("server requested a password, expected trust authentication")
			}
		case 'E':
			if serverErr == nil {
				serverErr = parseServerError(body)
			}
		case 'Z':
			return serverErr
		}
	}
}

func parseServerError(body []byte) error {
	fields := map[byte]string{}
	for len(body) > 1 && body[0] != 0 {
		code := body[0]
		s, rest, _ := bytes.Cut(body[1:], []byte{0})
		fields[code] = string(s)
		body = rest
	}
	return fmt.Errorf("%s: %s (SQLSTATE %s)", fields['S'], fields['M'], fields['C'])
}
