package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
)

// words splits "berth group create --name x" style arguments into the
// command words and the flags after them.
func words(args []string) (string, []string) {
	var cmd []string
	for len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		cmd, args = append(cmd, args[0]), args[1:]
	}
	return strings.Join(cmd, " "), args
}

// parseAz parses flags the way the cloud CLI's grammar needs them parsed.
func parseAz(fs *flag.FlagSet, args []string, multi ...string) error {
	return parse(fs, azArgs(fs, args, multi...))
}

// azArgs rewrites the cloud CLI's flag grammar into Go's: the flags named
// in multi take every bare word after them (--scopes A B becomes --scopes
// A --scopes B), and a boolean flag takes a following true or false
// (--admin-enabled true).
func azArgs(fs *flag.FlagSet, args []string, multi ...string) []string {
	var norm []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		name := strings.TrimLeft(a, "-")
		f := fs.Lookup(name)
		if !strings.HasPrefix(a, "-") || a == "--" || f == nil {
			norm = append(norm, a)
			continue
		}
		if b, ok := f.Value.(interface{ IsBoolFlag() bool }); ok && b.IsBoolFlag() {
			if i+1 < len(args) && (strings.EqualFold(args[i+1], "true") || strings.EqualFold(args[i+1], "false")) {
				a, i = a+"="+strings.ToLower(args[i+1]), i+1
			}
			norm = append(norm, a)
			continue
		}
		norm = append(norm, a)
		if i+1 < len(args) {
			norm, i = append(norm, args[i+1]), i+1
		}
		for slices.Contains(multi, name) && i+1 < len(args) && !strings.HasPrefix(args[i+1], "-") {
			norm, i = append(norm, a, args[i+1]), i+1
		}
	}
	return norm
}

// stringFlag registers one string flag under several names (--name, -n).
func stringFlag(fs *flag.FlagSet, p *string, usage string, names ...string) {
	for _, n := range names {
		fs.StringVar(p, n, "", usage)
	}
}

// required reports the first empty flag among name/value pairs.
func required(cmd string, pairs ...string) error {
	for i := 0; i+1 < len(pairs); i += 2 {
		if pairs[i+1] == "" {
			return fmt.Errorf("%s: --%s is required", cmd, pairs[i])
		}
	}
	return nil
}

func signalContext() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
}

// confirm asks before a deletion unless --yes was given, as the cloud CLI
// does; without an answer (no terminal, end of input) nothing is deleted.
func confirm(stderr io.Writer, yes bool) error {
	if yes {
		return nil
	}
	fmt.Fprint(stderr, "Are you sure you want to perform this operation? (y/n): ")
	line, _ := bufio.NewReader(os.Stdin).ReadString('\n')
	if a := strings.ToLower(strings.TrimSpace(line)); a == "y" || a == "yes" {
		return nil
	}
	return fmt.Errorf("operation cancelled (pass --yes to skip the question)")
}
