package main

import (
	"fmt"
	"io"

	"github.com/berthhq/berth/internal/cli"
	"github.com/docker/docker-credential-helpers/credentials"
)

// credentialHelperName is the name docker clients run a helper by, for
// "credHelpers": {"<registry>": "berth"}.
const credentialHelperName = "docker-credential-berth"

// credentialHelper speaks the docker credential helper protocol: the
// action as the one argument, its input on stdin, the answer (or the
// error) on stdout.
func credentialHelper(args []string, stdin io.Reader, stdout io.Writer) int {
	if len(args) != 1 {
		fmt.Fprintf(stdout, "Usage: %s <store|get|erase|list|version>\n", credentialHelperName)
		return 1
	}
	if args[0] == "version" || args[0] == "--version" || args[0] == "-v" {
		fmt.Fprintln(stdout, credentialHelperName, moduleVersion())
		return 0
	}
	ctx, stop := signalContext()
	defer stop()
	if err := credentials.HandleCommand(cli.CredentialHelper{Ctx: ctx}, args[0], stdin, stdout); err != nil {
		fmt.Fprintln(stdout, err)
		return 1
	}
	return 0
}
