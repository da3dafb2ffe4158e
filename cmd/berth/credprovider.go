package main

import (
	"encoding/json"
	"fmt"
	"io"

	"github.com/berthhq/berth/internal/cli"
)

// credentialProvider is "berth credential-provider NODE_FILE", run by the
// kubelet: a CredentialProviderRequest on stdin, the response on stdout,
// and on failure a message on stderr and a non-zero exit, which the
// kubelet logs and does not cache.
func credentialProvider(args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) != 1 || args[0] == "-h" || args[0] == "--help" {
		fmt.Fprintln(stderr, "usage: berth credential-provider NODE_FILE  (run by the kubelet: a CredentialProviderRequest on stdin)")
		return errUsage
	}
	var req cli.CredentialProviderRequest
	if err := json.NewDecoder(io.LimitReader(stdin, 1<<20)).Decode(&req); err != nil {
		return fmt.Errorf("reading the CredentialProviderRequest: %w", err)
	}
	if req.APIVersion != cli.CredentialProviderAPI || req.Kind != "CredentialProviderRequest" {
		return fmt.Errorf("a %s %s is not a CredentialProviderRequest of %s", req.APIVersion, req.Kind, cli.CredentialProviderAPI)
	}
	// Read at every call: a node file replaced after update-credentials
	// takes effect without restarting the kubelet.
	n, err := cli.LoadNodeConfig(args[0])
	if err != nil {
		return err
	}
	ctx, stop := signalContext()
	defer stop()
	resp, err := cli.ProvideCredentials(ctx, n, req.Image)
	if err != nil {
		return err
	}
	return json.NewEncoder(stdout).Encode(resp)
}
