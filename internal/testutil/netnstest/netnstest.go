// Package netnstest makes the network of a Kubernetes node for tests, on
// this machine: a node is a network namespace, each of its pods a
// namespace with a veth into the node and a /32 route to it there, as
// Azure CNI and calico make them. Tests run real programs inside them
// with Command, and reach servers of the test's own process from inside
// with Forward. It needs root and iproute2; Require skips a test
// without them.
package netnstest

import (
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"

	"golang.org/x/sys/unix"
)

// Require skips the test unless this process can make namespaces and
// the tools are there.
func Require(tb testing.TB, tools ...string) {
	tb.Helper()
	if os.Geteuid() != 0 {
		tb.Skip("network namespaces (ip netns add) need root")
	}
	for _, tool := range append([]string{"ip"}, tools...) {
		if _, err := exec.LookPath(tool); err != nil {
			tb.Skipf("the test's network needs the %s command", tool)
		}
	}
}

var seq atomic.Int64

// Node is a node's network namespace.
type Node struct {
	tb testing.TB
	// Name is the namespace's name.
	Name string
}

// NewNode makes a node's namespace, its loopback up with the extra
// addresses (169.254.169.254 for its metadata agent, say); it is
// deleted when the test ends.
func NewNode(tb testing.TB, addrs ...string) *Node {
	tb.Helper()
	n := &Node{tb: tb, Name: fmt.Sprintf("bn%d-%d", os.Getpid(), seq.Add(1))}
	IP(tb, "netns", "add", n.Name)
	tb.Cleanup(func() { exec.Command("ip", "netns", "del", n.Name).Run() })
	IP(tb, "-n", n.Name, "link", "set", "lo", "up")
	for _, a := range addrs {
		IP(tb, "-n", n.Name, "addr", "add", a+"/32", "dev", "lo")
	}
	return n
}

// Pod makes a pod's namespace: eth0 with addr/32 and a default route
// through it; the node's end is named iface (15 characters at most: a
// node's pod interface prefix and a short name) with a /32 route to addr.
// It returns the pod's namespace.
func (n *Node) Pod(iface, addr string) string {
	n.tb.Helper()
	ns := fmt.Sprintf("bp%d-%d", os.Getpid(), seq.Add(1))
	IP(n.tb, "netns", "add", ns)
	n.tb.Cleanup(func() { exec.Command("ip", "netns", "del", ns).Run() })
	IP(n.tb, "-n", n.Name, "link", "add", iface, "type", "veth", "peer", "name", "eth0", "netns", ns)
	IP(n.tb, "-n", ns, "link", "set", "lo", "up")
	IP(n.tb, "-n", ns, "link", "set", "eth0", "up")
	IP(n.tb, "-n", ns, "addr", "add", addr+"/32", "dev", "eth0")
	IP(n.tb, "-n", ns, "route", "add", "default", "dev", "eth0")
	IP(n.tb, "-n", n.Name, "link", "set", iface, "up")
	IP(n.tb, "-n", n.Name, "route", "add", addr+"/32", "dev", iface)
	return ns
}

// IP runs the ip command; a failure fails the test.
func IP(tb testing.TB, args ...string) {
	tb.Helper()
	if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
		tb.Fatalf("ip %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// Command is name run inside the namespace ns.
func Command(ns, name string, args ...string) *exec.Cmd {
	return exec.Command("ip", append([]string{"netns", "exec", ns, name}, args...)...)
}

// Forward makes addr (HOST:PORT of a server of this machine's namespace,
// on loopback) reachable at the same address inside the namespace ns,
// until the test ends: same address, same certificate names.
func Forward(tb testing.TB, ns, addr string) {
	tb.Helper()
	ln, err := ListenIn(ns, addr)
	if err != nil {
		tb.Fatalf("listening on %s in %s: %v", addr, ns, err)
	}
	tb.Cleanup(func() { ln.Close() })
	go func() {
		for {
			in, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer in.Close()
				out, err := net.Dial("tcp", addr)
				if err != nil {
					return
				}
				defer out.Close()
				go func() { io.Copy(out, in); out.(*net.TCPConn).CloseWrite() }()
				io.Copy(in, out)
			}()
		}
	}()
}

// ListenIn opens a listening socket in the namespace ns: a socket stays
// in the namespace it was made in, whichever thread uses it. The thread
// that switched goes back to this process's namespace before it is given
// back to the runtime. It must not end instead, as a locked thread whose
// goroutine returns does: a child started from that thread with a
// parent-death signal (kubetest's API server and etcd) would be killed
// with it, since the signal follows the thread, not the process.
func ListenIn(ns, addr string) (net.Listener, error) {
	type result struct {
		ln  net.Listener
		err error
	}
	ch := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		own, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			runtime.UnlockOSThread()
			ch <- result{nil, err}
			return
		}
		defer own.Close()
		f, err := os.Open(filepath.Join("/run/netns", ns))
		if err != nil {
			runtime.UnlockOSThread()
			ch <- result{nil, err}
			return
		}
		defer f.Close()
		if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			ch <- result{nil, fmt.Errorf("setns: %w", err)}
			return
		}
		ln, err := net.Listen("tcp", addr)
		// Only a thread back in its own namespace may run other
		// goroutines; one that cannot go back ends with this one.
		if unix.Setns(int(own.Fd()), unix.CLONE_NEWNET) == nil {
			runtime.UnlockOSThread()
		}
		ch <- result{ln, err}
	}()
	r := <-ch
	return r.ln, r.err
}
