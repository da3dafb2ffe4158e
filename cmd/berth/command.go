package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os/signal"
	"slices"
	"strings"
	"syscall"

	"github.com/berthhq/berth/internal/cli"
)

// command is one entry of berth's command table: a command, or, when it
// has nothing to run, a group of commands, whose help lists them.
type command struct {
	// words name it, as typed after berth: "ad sp create-for-rbac".
	words   string
	summary string
	// more is said under the summary in the help.
	more string
	// args names the positional arguments, all required.
	args []string
	// argValues are the values the positional argument takes, when it
	// names one of a few things; completion offers them.
	argValues []string
	examples  []example
	// local commands run where the server or a node is: they take no
	// global arguments and print their own output.
	local bool
	// ownOutput commands print their output themselves and declare their
	// own --output.
	ownOutput bool
	// uses is what the runner builds from the login before run.
	uses uses
	// flags declares the command's flags and returns the function that
	// runs it with their values; run is that function for a command
	// without flags.
	flags func(f *flagSet) runFunc
	run   runFunc
}

type example struct{ what, line string }

// runFunc runs a command. A value it returns is printed by the one output
// path (--output, --query); a command that prints nothing returns nil.
type runFunc func(c *call) (any, error)

type uses int

const (
	usesNothing uses = iota
	usesLogin
	usesManagement
	usesDirectory
)

// call is a command's run: the arguments that are not flags, the streams,
// a context ended by SIGINT or SIGTERM, where berth is, and the login and
// clients the command uses.
type call struct {
	ctx      context.Context
	args     []string
	stdin    io.Reader
	stdout   io.Writer
	stderr   io.Writer
	endpoint cli.Endpoint
	p        *cli.Profile
	m        *cli.Management
	d        *cli.Directory
}

// globals are the arguments every client command takes.
type globals struct {
	endpoint      cli.Endpoint
	query, output string
}

func (g *globals) register(f *flagSet, c *command) {
	if c.local {
		return
	}
	f.StringVar(&g.endpoint.Server, "server", "Berth's address, https://HOST:PORT, if not the login's (for login: the current login's, "+
		"or the local server's).", global, fromEnv("BERTH_SERVER"))
	f.StringVar(&g.endpoint.CAFile, "ca-file", "The CA certificate berth's server certificate is signed by, if not the login's "+
		"(for login: the local data directory's).", global, fromEnv("BERTH_CA_FILE"))
	if c.ownOutput {
		return
	}
	f.StringVar(&g.query, "query", "JMESPath query string applied to the output, as in the cloud CLI.", global)
	g.output = "json"
	f.StringVar(&g.output, "output o", "Output format: json, tsv, table or none.", global)
	f.check(func() error { return cli.CheckOutput(g.query, g.output) })
}

// global marks one of the arguments every client command takes.
func global(s *flagSpec) { s.global = true }

// node is a place in the command tree: a group or a command.
type node struct {
	path     string // "berth ad app"
	name     string // "app"
	cmd      *command
	children []*node
}

func (n *node) isGroup() bool { return n.cmd.run == nil && n.cmd.flags == nil }

func (n *node) child(name string) *node {
	for _, c := range n.children {
		if c.name == name {
			return c
		}
	}
	return nil
}

// tree arranges the table by its words; the entry with no words is berth
// itself. Every command's group has an entry of its own.
func tree(table []command) *node {
	nodes := map[string]*node{}
	for i := range table {
		c := &table[i]
		if nodes[c.words] != nil {
			panic("command table: " + c.words + " twice")
		}
		path := strings.TrimSpace("berth " + c.words)
		nodes[c.words] = &node{path: path, name: path[strings.LastIndex(path, " ")+1:], cmd: c}
	}
	for words, n := range nodes {
		if words == "" {
			continue
		}
		parent := ""
		if i := strings.LastIndex(words, " "); i >= 0 {
			parent = words[:i]
		}
		p := nodes[parent]
		if p == nil || !p.isGroup() {
			panic("command table: " + words + " has no group " + parent)
		}
		p.children = append(p.children, n)
	}
	for _, n := range nodes {
		slices.SortFunc(n.children, func(a, b *node) int { return strings.Compare(a.name, b.name) })
	}
	return nodes[""]
}

// flagSet declares the command's flags, the global ones after its own.
func (n *node) flagSet(g *globals) (*flagSet, runFunc) {
	f := newFlagSet(n.path)
	run := n.cmd.run
	if n.cmd.flags != nil {
		run = n.cmd.flags(f)
	}
	g.register(f, n.cmd)
	return f, run
}

// streams are a run's standard input and outputs.
type streams struct {
	stdin          io.Reader
	stdout, stderr io.Writer
}

// exitUsage is the exit code of a command line that names no command, or
// names one with arguments it does not take.
const exitUsage = 2

// dispatch finds the command args name and runs it: a group name alone
// prints the group's help, -h or --help the help of what precedes it.
func dispatch(root *node, args []string, s streams) int {
	n := root
	for n.isGroup() {
		switch {
		case len(args) == 0:
			writeGroupHelp(s.stderr, n)
			return exitUsage
		case args[0] == "-h" || args[0] == "--help":
			writeGroupHelp(s.stdout, n)
			return 0
		}
		c := n.child(args[0])
		if c == nil {
			msg := fmt.Sprintf("%s: %q is not a command", n.path, args[0])
			if near := nearest(args[0], names(n.children)); near != "" {
				msg += fmt.Sprintf("; did you mean %q?", near)
			}
			fmt.Fprintf(s.stderr, "%s\nRun '%s --help' for its commands.\n", msg, n.path)
			return exitUsage
		}
		n, args = c, args[1:]
	}
	return n.exec(args, s)
}

func names(nodes []*node) []string {
	out := make([]string, len(nodes))
	for i, n := range nodes {
		out[i] = n.name
	}
	return out
}

// exec parses the command's arguments, checks them, builds what the
// command uses from the login, runs it and prints what it returns.
func (n *node) exec(args []string, s streams) int {
	var g globals
	f, run := n.flagSet(&g)
	rest, err := f.parse(args)
	if err == nil {
		err = n.positional(rest)
	}
	var ue *usageError
	switch {
	case errors.Is(err, errHelp):
		writeCommandHelp(s.stdout, n)
		return 0
	case errors.As(err, &ue):
		fmt.Fprintf(s.stderr, "%s\nRun '%s --help' for its arguments.\n", ue.msg, n.path)
		return exitUsage
	case err != nil:
		return fail(s.stderr, err)
	}
	if err := f.validate(); err != nil {
		return fail(s.stderr, err)
	}
	ctx, stop := signalContext()
	defer stop()
	c := &call{ctx: ctx, args: rest, stdin: s.stdin, stdout: s.stdout, stderr: s.stderr, endpoint: g.endpoint}
	if err := c.open(n.cmd.uses); err != nil {
		return fail(s.stderr, err)
	}
	v, err := run(c)
	if err == nil && v != nil {
		err = cli.Output(s.stdout, v, g.query, g.output)
	}
	if err != nil {
		return fail(s.stderr, err)
	}
	return 0
}

func (n *node) positional(rest []string) error {
	want := n.cmd.args
	switch {
	case len(rest) > len(want):
		return usagef("%s: unexpected arguments: %s", n.path, strings.Join(rest[len(want):], " "))
	case len(rest) < len(want):
		return usagef("%s: %s is missing", n.path, want[len(rest)])
	case len(rest) > 0 && len(n.cmd.argValues) > 0 && !slices.Contains(n.cmd.argValues, rest[0]):
		return usagef("%s: %s must be one of %s, not %q", n.path, want[0], strings.Join(n.cmd.argValues, ", "), rest[0])
	}
	return nil
}

// open loads the login, reached at c.endpoint, and builds the client the
// command uses.
func (c *call) open(u uses) error {
	if u == usesNothing {
		return nil
	}
	p, err := cli.LoadLogin(c.endpoint)
	if err != nil {
		return err
	}
	c.p = p
	switch u {
	case usesManagement:
		c.m, err = p.Management()
	case usesDirectory:
		c.d, err = p.Directory()
	}
	return err
}

// signalContext ends at SIGINT or SIGTERM.
func signalContext() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
}

func fail(stderr io.Writer, err error) int {
	fmt.Fprintln(stderr, "berth:", err)
	return 1
}
