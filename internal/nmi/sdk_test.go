package nmi_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
)

// podEnv tells the re-executed test binary it runs inside a pod's
// network namespace.
const podEnv = "BERTH_NMI_POD"

// TestSDKInPod is the cloud SDK's managed identity credential in a pod,
// unmodified: TestNMIOnANode runs it inside pod a's namespace, where the
// metadata address is NMI's. It prints the token's object id.
func TestSDKInPod(t *testing.T) {
	if os.Getenv(podEnv) == "" {
		t.Skip("run by TestNMIOnANode inside a pod's network namespace")
	}
	cred, err := azidentity.NewManagedIdentityCredential(nil)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := cred.GetToken(context.Background(), policy.TokenRequestOptions{Scopes: []string{management + ".default"}})
	if err != nil {
		t.Fatal(err)
	}
	fmt.Printf("oid=%s\n", claims(t, tok.Token)["oid"])
}

// podClientEnv is this process's environment without what would send
// the SDK elsewhere than the metadata address, and with podEnv.
func podClientEnv() []string {
	env := []string{podEnv + "=1"}
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		switch strings.ToUpper(name) {
		case "IDENTITY_ENDPOINT", "IDENTITY_HEADER", "MSI_ENDPOINT", "MSI_SECRET", "IMDS_ENDPOINT",
			"HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "AZURE_CLIENT_ID", "AZURE_TENANT_ID", "AZURE_FEDERATED_TOKEN_FILE":
			continue
		}
		env = append(env, kv)
	}
	return env
}
