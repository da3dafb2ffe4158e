package kubetest

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

// errPortTaken marks a start that failed because another process bound a
// port between our picking it and the server binding it.
var errPortTaken = errors.New("port taken")

// process is a server binary running with its output in a log file.
type process struct {
	name string
	log  string
	cmd  *exec.Cmd
	done chan struct{}
}

func startProcess(name, bin, log string, args ...string) (*process, error) {
	f, err := os.Create(log)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = f, f
	// A test binary that dies without its cleanups (a timeout's panic, a
	// kill) takes the servers with it instead of leaving them running.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	p := &process{name: name, log: log, cmd: cmd, done: make(chan struct{})}
	go func() { cmd.Wait(); close(p.done) }()
	return p, nil
}

// waitReady polls ready until it succeeds, the process exits, or
// readyTimeout passes.
func (p *process) waitReady(ready func() error) error {
	deadline := time.Now().Add(readyTimeout)
	for {
		err := ready()
		if err == nil {
			return nil
		}
		select {
		case <-p.done:
			log := p.logTail()
			if strings.Contains(log, "address already in use") {
				return fmt.Errorf("%s: %w", p.name, errPortTaken)
			}
			return fmt.Errorf("%s exited before it was ready (%v):\n%s", p.name, p.cmd.ProcessState, log)
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not ready after %v: %v\n%s", p.name, readyTimeout, err, p.logTail())
		}
	}
}

// stop ends the process with SIGTERM, or SIGKILL when it does not stop in
// time; a nil process is already stopped.
func (p *process) stop() error {
	if p == nil {
		return nil
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		return nil
	case <-time.After(stopTimeout):
		p.cmd.Process.Kill()
		<-p.done
		return fmt.Errorf("%s did not stop within %v of SIGTERM", p.name, stopTimeout)
	}
}

// logTail is the end of the process's log, for error messages.
func (p *process) logTail() string {
	b, err := os.ReadFile(p.log)
	if err != nil {
		return fmt.Sprintf("(%v)", err)
	}
	const limit = 8 << 10
	if len(b) > limit {
		b = b[len(b)-limit:]
	}
	return string(b)
}
