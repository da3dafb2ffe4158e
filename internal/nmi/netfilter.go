package nmi

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
)

// Chain is the name of NMI's iptables chains: in the nat table, the
// redirection of pods' metadata requests to NMI; in the filter table,
// who may reach NMI's port.
const Chain = "BERTH-NMI"

// metadataIP and metadataPort are where pods send metadata requests.
const (
	metadataIP   = "169.254.169.254"
	metadataPort = "80"
)

// rules installs and removes NMI's iptables rules.
type rules struct {
	prefixes []string // interface name prefixes, without iptables' "+"
	to       string   // HOST:PORT the pods' requests go to
	port     string
}

func iptables(args ...string) error {
	out, err := exec.Command("iptables", append([]string{"-w"}, args...)...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("iptables %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// install makes the chains hold exactly NMI's rules and jumps to them,
// whatever was there before (a killed NMI's rules, another port's).
func (r *rules) install() error {
	jumps := r.jumps()
	for _, table := range []string{"nat", "filter"} {
		if iptables("-t", table, "-n", "-L", Chain) != nil {
			if err := iptables("-t", table, "-N", Chain); err != nil {
				return err
			}
		}
		if err := iptables("-t", table, "-F", Chain); err != nil {
			return err
		}
	}
	var add [][]string
	for _, p := range r.prefixes {
		add = append(add, []string{"-t", "nat", "-A", Chain, "-i", p + "+", "-p", "tcp", "-d", metadataIP, "--dport", metadataPort, "-j", "DNAT", "--to-destination", r.to})
	}
	// NMI knows a pod by its source address, which only the pods'
	// interfaces (where reverse-path filtering vouches for it) and the
	// node itself may reach it with.
	add = append(add, []string{"-t", "filter", "-A", Chain, "-i", "lo", "-j", "RETURN"})
	for _, p := range r.prefixes {
		add = append(add, []string{"-t", "filter", "-A", Chain, "-i", p + "+", "-j", "RETURN"})
	}
	add = append(add, []string{"-t", "filter", "-A", Chain, "-j", "DROP"})
	for _, a := range add {
		if err := iptables(a...); err != nil {
			return err
		}
	}
	// A killed NMI's jumps may name another port: all go, then NMI's.
	if err := removeJumps(); err != nil {
		return err
	}
	for _, j := range jumps {
		if err := iptables(append([]string{"-t", j[0], "-I", j[1], "1"}, j[2:]...)...); err != nil {
			return err
		}
	}
	return nil
}

// builtins are the chains that jump to NMI's, by table.
var builtins = [][2]string{{"nat", "PREROUTING"}, {"filter", "INPUT"}}

// removeJumps deletes every rule of the built-in chains that jumps to
// NMI's, whatever else it says.
func removeJumps() error {
	for _, b := range builtins {
		out, err := exec.Command("iptables", "-w", "-t", b[0], "-S", b[1]).Output()
		if err != nil {
			return fmt.Errorf("iptables -t %s -S %s: %v", b[0], b[1], err)
		}
		for _, line := range strings.Split(string(out), "\n") {
			f := strings.Fields(line)
			if len(f) < 2 || f[0] != "-A" || !slices.Contains(f, Chain) {
				continue
			}
			if err := iptables(append([]string{"-t", b[0], "-D"}, f[1:]...)...); err != nil {
				return err
			}
		}
	}
	return nil
}

// jumps are the rules of the built-in chains that lead to NMI's: table,
// chain, rule.
func (r *rules) jumps() [][]string {
	return [][]string{
		{"nat", "PREROUTING", "-p", "tcp", "-d", metadataIP, "--dport", metadataPort, "-j", Chain},
		{"filter", "INPUT", "-p", "tcp", "--dport", r.port, "-j", Chain},
	}
}

// remove takes NMI's rules away; what is already gone is no error.
func (r *rules) remove() error {
	errs := []error{removeJumps()}
	for _, table := range []string{"nat", "filter"} {
		if iptables("-t", table, "-n", "-L", Chain) == nil {
			errs = append(errs, iptables("-t", table, "-F", Chain), iptables("-t", table, "-X", Chain))
		}
	}
	return errors.Join(errs...)
}

// sysctlDir is where the IPv4 interface settings are, for NMI's network
// namespace.
const sysctlDir = "/proc/sys/net/ipv4/conf"

// Reverse-path filtering modes (rp_filter).
const (
	rpOff    = 0
	rpStrict = 1
	rpLoose  = 2
)

// guard keeps the pods' interfaces under strict reverse-path filtering
// and says when they are not: then NMI cannot trust a source address.
type guard struct {
	prefixes    []string
	allowBridge bool
	log         *slog.Logger

	mu   sync.Mutex
	seen map[string]bool // interfaces NMI has set strict
	// unsafe is why source addresses cannot be trusted now; nil: they can.
	unsafe atomic.Pointer[string]
}

func rpFilter(iface string) (int, error) {
	b, err := os.ReadFile(filepath.Join(sysctlDir, iface, "rp_filter"))
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(strings.TrimSpace(string(b)))
}

func setRPFilter(iface string, v int) error {
	return os.WriteFile(filepath.Join(sysctlDir, iface, "rp_filter"), []byte(strconv.Itoa(v)), 0o644)
}

// prepare sets strict filtering where the effective value of the pods'
// interfaces comes from: "default" (which new interfaces copy), and
// "all" when it is loose (the effective value is the larger of "all"
// and the interface's). It refuses bridges unless allowed, before it
// changes anything.
func (g *guard) prepare() error {
	if !g.allowBridge {
		ifs, err := g.podInterfaces()
		if err != nil {
			return err
		}
		for _, name := range ifs {
			if why := bridged(name); why != "" {
				return fmt.Errorf("the pod interface %s %s: on a bridge, reverse-path filtering cannot tell one pod from another, so a pod could take another's address and tokens; docs/pod-identity.md says what --allow-bridge accepts", name, why)
			}
		}
	}
	if err := setRPFilter("default", rpStrict); err != nil {
		return fmt.Errorf("setting strict reverse-path filtering for new interfaces: %w", err)
	}
	all, err := rpFilter("all")
	if err != nil {
		return err
	}
	if all > rpStrict {
		g.log.Warn("reverse-path filtering was loose on every interface (net.ipv4.conf.all.rp_filter=2); NMI makes it strict, so that the pods' interfaces are", "was", all)
		if err := setRPFilter("all", rpStrict); err != nil {
			return err
		}
	}
	g.check()
	return nil
}

// bridged says how an interface is part of a bridge, or "".
func bridged(name string) string {
	if _, err := os.Stat(filepath.Join("/sys/class/net", name, "bridge")); err == nil {
		return "is a bridge"
	}
	if _, err := os.Stat(filepath.Join("/sys/class/net", name, "brport")); err == nil {
		return "is a bridge's port"
	}
	return ""
}

func (g *guard) podInterfaces() ([]string, error) {
	ifs, err := net.Interfaces()
	if err != nil {
		return nil, err
	}
	var names []string
	for _, i := range ifs {
		for _, p := range g.prefixes {
			if strings.HasPrefix(i.Name, p) {
				names = append(names, i.Name)
				break
			}
		}
	}
	return names, nil
}

// check sets strict filtering on pod interfaces it has not seen, then
// reads every pod interface's effective value and records whether all
// are strict. It does not set an interface again: one loosened after NMI
// set it was loosened on purpose, and NMI refuses to serve until it is
// strict again.
func (g *guard) check() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.seen == nil {
		g.seen = map[string]bool{}
	}
	names, err := g.podInterfaces()
	if err != nil {
		g.setUnsafe("listing the node's interfaces: " + err.Error())
		return
	}
	var bad []string
	all, err := rpFilter("all")
	if err != nil {
		g.setUnsafe("reading net.ipv4.conf.all.rp_filter: " + err.Error())
		return
	}
	for _, name := range names {
		if !g.seen[name] {
			if err := setRPFilter(name, rpStrict); err != nil && !os.IsNotExist(err) {
				g.log.Error("setting strict reverse-path filtering", "interface", name, "err", err)
			}
			g.seen[name] = true
		}
		v, err := rpFilter(name)
		if os.IsNotExist(err) {
			continue // gone since listed
		}
		if err != nil || max(all, v) != rpStrict {
			bad = append(bad, fmt.Sprintf("%s (rp_filter %d, all %d)", name, v, all))
		}
		if !g.allowBridge && bridged(name) != "" {
			bad = append(bad, name+" ("+bridged(name)+")")
		}
	}
	for name := range g.seen {
		if !slices.Contains(names, name) {
			delete(g.seen, name)
		}
	}
	if len(bad) > 0 {
		g.setUnsafe("reverse-path filtering is not strict on the pod interfaces " + strings.Join(bad, ", ") +
			"; a pod could send from another pod's address, so NMI serves no pod until it is (sysctl net.ipv4.conf.<interface>.rp_filter=1)")
		return
	}
	if g.unsafe.Swap(nil) != nil {
		g.log.Info("reverse-path filtering is strict on every pod interface again; serving pods")
	}
}

func (g *guard) setUnsafe(why string) {
	if old := g.unsafe.Swap(&why); old == nil || *old != why {
		g.log.Error("refusing to serve pods", "reason", why)
	}
}
