package e2e

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/Azure/azure-sdk-for-go/sdk/containers/azcontainerregistry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berthhq/berth/internal/testutil/kubetest"
)

const tokenExchangeAudience = "api://AzureADTokenExchange"

// podTokenFile writes a token of c's service account namespace/name for
// audience where a pod's projected volume would hold it (the kubelet's
// part: none runs here), and returns its path.
func podTokenFile(t *testing.T, c *kubetest.Cluster, namespace, name, audience string) string {
	t.Helper()
	f := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(f, []byte(c.ServiceAccountToken(t, namespace, name, 0, audience)), 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

// workloadCredential is the cloud SDK's workload identity credential as
// a pod the webhook configured has it: clientID's tokens in e's tenant,
// for the token in file.
func (e *identityEnv) workloadCredential(clientID, file string) *azidentity.WorkloadIdentityCredential {
	e.t.Helper()
	cred, err := azidentity.NewWorkloadIdentityCredential(&azidentity.WorkloadIdentityCredentialOptions{
		ClientOptions: azcore.ClientOptions{Cloud: cloudAt(e.s), Transport: e.client()},
		ClientID:      clientID, TenantID: e.s.Boot.TenantID, TokenFilePath: file, DisableInstanceDiscovery: true,
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return cred
}

// pullManifestWith gets repo:tag's manifest from e's registry with the
// registry SDK authenticating as cred, and checks it is img's.
func (e *identityEnv) pullManifestWith(ctx context.Context, cred azcore.TokenCredential, repo, tag string, img v1.Image) error {
	e.t.Helper()
	cfg := cloudAt(e.s)
	cfg.Services[azcontainerregistry.ServiceName] = cloud.ServiceConfiguration{Audience: "https://containerregistry.azure.net"}
	client, err := azcontainerregistry.NewClient("https://"+e.loginServer, cred,
		&azcontainerregistry.ClientOptions{ClientOptions: azcore.ClientOptions{Cloud: cfg, Transport: e.client()}})
	if err != nil {
		e.t.Fatal(err)
	}
	m, err := client.GetManifest(ctx, repo, tag, &azcontainerregistry.ClientGetManifestOptions{Accept: ptr(string(ocispec.MediaTypeImageManifest))})
	if err != nil {
		return err
	}
	got, _ := io.ReadAll(m.ManifestData)
	if want, _ := img.RawManifest(); string(got) != string(want) {
		e.t.Errorf("manifest %s, want %s", got, want)
	}
	return nil
}

// wantRefused checks that cred gets no token, refused with the
// AADSTS code.
func wantRefused(ctx context.Context, t *testing.T, what string, cred azcore.TokenCredential, code string) {
	t.Helper()
	_, err := cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{"https://management.azure.com/.default"}})
	var re *azidentity.AuthenticationFailedError
	if !errors.As(err, &re) || re.RawResponse == nil || !strings.Contains(err.Error(), "AADSTS"+code) {
		t.Errorf("%s: %v, want AADSTS%s", what, err, code)
	}
}
