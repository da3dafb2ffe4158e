package harness

import (
	"bufio"
	"bytes"
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Server is a registry running as a child process. Both registries run out of
// process so their memory can be read the same way from /proc.
type Server struct {
	URL      string // https://127.0.0.1:PORT
	RootCAs  *x509.CertPool
	User     string // HTTP Basic credentials; empty when auth is off
	Password string
	Token    string // a Bearer token sent instead of Basic credentials

	cmd     *exec.Cmd
	exited  chan struct{}
	waitErr error
	dir     string
	logPath string
}

// startProcess runs cmd with its output appended to logPath. Callers that
// need to read stdout set cmd.Stdout themselves before calling.
func startProcess(name, dir string, cmd *exec.Cmd) (*Server, error) {
	s := &Server{cmd: cmd, exited: make(chan struct{}), dir: dir, logPath: dir + "/server.log"}
	logFile, err := os.OpenFile(s.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	if cmd.Stdout == nil {
		cmd.Stdout = logFile
	}
	cmd.Stderr = logFile
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	go func() {
		s.waitErr = cmd.Wait()
		logFile.Close()
		close(s.exited)
	}()
	return s, nil
}

// PeakRSS returns the process's high-water resident set size in bytes.
func (s *Server) PeakRSS() (int64, error) { return s.procStatus("VmHWM") }

// RSS returns the process's current resident set size in bytes.
func (s *Server) RSS() (int64, error) { return s.procStatus("VmRSS") }

func (s *Server) procStatus(field string) (int64, error) {
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", s.cmd.Process.Pid))
	if err != nil {
		return 0, err
	}
	for line := range strings.Lines(string(status)) {
		v, ok := strings.CutPrefix(line, field+":")
		if !ok {
			continue
		}
		kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("parsing %s %q: %w", field, v, err)
		}
		return kb << 10, nil
	}
	return 0, fmt.Errorf("%s not in /proc/%d/status", field, s.cmd.Process.Pid)
}

// Close stops the server and deletes its storage.
func (s *Server) Close() error {
	select {
	case <-s.exited:
	default:
		s.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-s.exited:
		case <-time.After(10 * time.Second):
			s.cmd.Process.Kill()
			<-s.exited
		}
	}
	return os.RemoveAll(s.dir)
}

// failed explains why a server did not come up, with the tail of its log.
func (s *Server) failed(err error) error {
	// A server that closed stdout is usually exiting; give it a moment so
	// the error can say how it exited.
	select {
	case <-s.exited:
		err = fmt.Errorf("%w (process exited: %v)", err, s.waitErr)
	case <-time.After(time.Second):
	}
	logTail, _ := os.ReadFile(s.logPath)
	if len(logTail) > 2000 {
		logTail = logTail[len(logTail)-2000:]
	}
	if logTail = bytes.TrimSpace(logTail); len(logTail) > 0 {
		err = fmt.Errorf("%w; log tail:\n%s", err, logTail)
	}
	s.Close()
	return err
}

// waitHealthy polls /v2/ until it answers 200 with the server's credentials
// or token.
func (s *Server) waitHealthy(ctx context.Context, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	c := NewClient(s, "")
	defer c.http.CloseIdleConnections()
	for {
		err := c.Ping(ctx)
		if err == nil {
			return nil
		}
		select {
		case <-s.exited:
			return errors.New("server exited before becoming healthy")
		case <-ctx.Done():
			return fmt.Errorf("not healthy after %v: %w", timeout, err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// watchStdout reads the server's stdout until EOF, appending it to the
// server log so the pipe never fills up and stalls the server, and sends the
// rest of the first line containing marker on found. found is closed at EOF.
func (s *Server) watchStdout(stdout *os.File, marker string, found chan<- string) {
	defer close(found)
	defer stdout.Close()
	var log io.Writer = io.Discard
	if f, err := os.OpenFile(s.logPath, os.O_WRONLY|os.O_APPEND, 0); err == nil {
		defer f.Close()
		log = f
	}
	sc := bufio.NewScanner(stdout)
	sent := false
	for sc.Scan() {
		line := sc.Text()
		fmt.Fprintln(log, line)
		if _, rest, ok := strings.Cut(line, marker); ok && !sent {
			found <- strings.TrimSpace(rest)
			sent = true
		}
	}
}
