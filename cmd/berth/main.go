package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strings"
)

func main() {
	if filepath.Base(os.Args[0]) == credentialHelperName {
		os.Exit(credentialHelper(os.Args[1:], os.Stdin, os.Stdout))
	}
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// run is berth with args, returning the exit code.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	switch {
	case len(args) > 0 && args[0] == "--version":
		args = []string{"version"}
	case len(args) > 0 && args[0] == "help":
		args = append(slices.Clone(args[1:]), "--help")
	}
	return dispatch(tree(commands()), args, streams{stdin, stdout, stderr})
}

// commands is berth's command table.
func commands() []command {
	return slices.Concat(rootCommands, serverCommands, accountCommands, adCommands, groupCommands, acrCommands,
		identityCommands, roleCommands, vmCommands, aksCommands, monitorCommands, nodeCommands, webhookCommands, micCommands, nmiCommands, demoCommands, envCommands, completionCommands())
}

var rootCommands = []command{
	{
		summary: "A private OCI registry with cloud-style identity, in one binary.",
		more: "The server and its maintenance run where its data is; the client commands speak to it as " +
			"the cloud CLI speaks to the cloud, with --query and --output. Invoked as " + credentialHelperName +
			", the binary is a docker credential helper.",
	},
	{
		words:   "version",
		summary: "Show berth's version: the module version and the revision it was built from.",
		examples: []example{
			{"Show the version and the revision it was built from.", "berth version"},
		},
		local: true,
		run: func(c *call) (any, error) {
			bi, _ := debug.ReadBuildInfo()
			fmt.Fprint(c.stdout, versionText(bi))
			return nil, nil
		},
	},
}

// confirm asks before a deletion unless --yes was given, as the cloud CLI
// does; without an answer (no terminal, end of input) nothing is deleted.
func confirm(c *call, yes bool) error {
	if yes {
		return nil
	}
	fmt.Fprint(c.stderr, "Are you sure you want to perform this operation? (y/n): ")
	line, _ := bufio.NewReader(c.stdin).ReadString('\n')
	if a := strings.ToLower(strings.TrimSpace(line)); a == "y" || a == "yes" {
		return nil
	}
	return fmt.Errorf("operation cancelled (pass --yes to skip the question)")
}

// yesFlag is --yes (-y) of the commands that delete.
func yesFlag(f *flagSet) *bool {
	return f.Bool("yes y", "Do not prompt for confirmation.")
}
