package main

import (
	"encoding/json"
	"fmt"
	"io"

	"github.com/berthhq/berth/internal/cli"
)

// credentialProvider answers the kubelet's CredentialProviderRequest for
// the node file named by the one argument.
func credentialProvider(c *call) (any, error) {
	var req cli.CredentialProviderRequest
	if err := json.NewDecoder(io.LimitReader(c.stdin, 1<<20)).Decode(&req); err != nil {
		return nil, fmt.Errorf("reading the CredentialProviderRequest: %w", err)
	}
	if req.APIVersion != cli.CredentialProviderAPI || req.Kind != "CredentialProviderRequest" {
		return nil, fmt.Errorf("a %s %s is not a CredentialProviderRequest of %s", req.APIVersion, req.Kind, cli.CredentialProviderAPI)
	}
	// Read at every call: a node file replaced after update-credentials
	// takes effect without restarting the kubelet.
	n, err := cli.LoadNodeConfig(c.args[0])
	if err != nil {
		return nil, err
	}
	resp, err := cli.ProvideCredentials(c.ctx, n, req)
	if err != nil {
		return nil, err
	}
	return nil, json.NewEncoder(c.stdout).Encode(resp)
}
