package main

import (
	"context"
	"flag"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/berthhq/berth/internal/imds"
	"github.com/berthhq/berth/internal/server"
)

func imdsAgent(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("berth imds", flag.ContinueOnError)
	fs.SetOutput(stderr)
	vm := fs.String("vm", "", "the virtual machine's resource id (required)")
	credPath := fs.String("credential", "", "the machine's credential file, as written by berth vm create (required)")
	listen := fs.String("listen", "", "address to serve on (default "+imds.DefaultAddress+" when that address is local)")
	header := fs.String("identity-header", "", "secret App Service-style clients send as X-IDENTITY-HEADER; enables IDENTITY_ENDPOINT=http://ADDR"+imds.AppServicePath+" (default $IDENTITY_HEADER)")
	logFormat := fs.String("log-format", "text", "log format: text or json")
	logLevel := fs.String("log-level", "info", "log level: debug, info, warn, error")
	if err := parse(fs, args); err != nil {
		return err
	}
	// Read after parsing, not as the flag's default, which -h would print;
	// the environment keeps the secret out of the process list.
	if *header == "" {
		*header = os.Getenv("IDENTITY_HEADER")
	}
	if *vm == "" || *credPath == "" {
		fs.Usage()
		return errUsage
	}
	cred, err := imds.LoadCredentialFile(*credPath)
	if err != nil {
		return err
	}
	log, err := server.NewLogger(stderr, *logFormat, *logLevel)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	return imds.Serve(ctx, imds.Options{VM: *vm, Credential: cred, Listen: *listen, IdentityHeader: *header}, stdout, log)
}
