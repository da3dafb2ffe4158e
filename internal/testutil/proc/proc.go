// Package proc runs the servers the test harnesses start (etcd,
// kube-apiserver, MinIO, HAProxy) as processes: output to a log file, tied
// to the test binary's life, polled until ready, stopped with SIGTERM and
// then SIGKILL, and restarted on another port when the one picked was
// taken in between.
package proc

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

// ErrPortTaken marks a start that failed because another process bound a
// port between its picking (FreePorts) and the server binding it: a retry
// picks others.
var ErrPortTaken = errors.New("port taken")

// Process is a server started by Start.
type Process struct {
	name string
	log  string
	cmd  *exec.Cmd
	done chan struct{}
}

// Start runs cmd, named name in errors, with its output in the file log.
// A test binary that dies without its cleanups (a timeout's panic, a
// kill) takes the process with it instead of leaving it running.
func Start(name, log string, cmd *exec.Cmd) (*Process, error) {
	f, err := os.Create(log)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	p := &Process{name: name, log: log, cmd: cmd, done: make(chan struct{})}
	go func() { cmd.Wait(); close(p.done) }()
	return p, nil
}

// WaitReady polls ready every poll until it succeeds, the process exits,
// or timeout passes. An exit whose log says bindFailure (the server's
// words for a port in use) is ErrPortTaken.
func (p *Process) WaitReady(timeout, poll time.Duration, bindFailure string, ready func() error) error {
	deadline := time.Now().Add(timeout)
	for {
		err := ready()
		if err == nil {
			return nil
		}
		select {
		case <-p.done:
			log := p.LogTail()
			if strings.Contains(log, bindFailure) {
				return fmt.Errorf("%s: %w", p.name, ErrPortTaken)
			}
			return fmt.Errorf("%s exited before it was ready (%v):\n%s", p.name, p.cmd.ProcessState, log)
		case <-time.After(poll):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not ready after %v: %v\n%s", p.name, timeout, err, p.LogTail())
		}
	}
}

// Stop ends the process with SIGTERM, or SIGKILL when it has not stopped
// within timeout; a nil process is already stopped.
func (p *Process) Stop(timeout time.Duration) error {
	if p == nil {
		return nil
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		return nil
	case <-time.After(timeout):
		p.cmd.Process.Kill()
		<-p.done
		return fmt.Errorf("%s did not stop within %v of SIGTERM; killed", p.name, timeout)
	}
}

// Pid is the process's id.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// LogTail is the end of the process's log, for error messages.
func (p *Process) LogTail() string {
	b, err := os.ReadFile(p.log)
	if err != nil {
		return fmt.Sprintf("(%v)", err)
	}
	const limit = 8 << 10
	if len(b) > limit {
		b = b[len(b)-limit:]
	}
	return strings.TrimSpace(string(b))
}

// FreePorts returns n different loopback ports that were free a moment
// ago; the server binds them itself, and a start that loses the race
// gets ErrPortTaken.
func FreePorts(n int) ([]int, error) {
	var ports []int
	for range n {
		l, err := net.Listen("tcp4", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("finding a free port: %w", err)
		}
		// Held open until all are picked, so the n ports differ.
		defer l.Close()
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}
