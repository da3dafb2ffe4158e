package e2e

import (
	"encoding/json"
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
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/berthhq/berth/internal/testutil/kubetest"
)

const tokenExchangeAudience = "api://AzureADTokenExchange"

// Workload identity with a real API server: an application trusts the
// cluster's service account tokens through a federated credential; the
// cloud SDK's workload identity credential, configured only as the
// webhook configures pods, gets the application's token with the
// account's token and the registry SDK pulls with it. No secret anywhere.
func TestWorkloadIdentityWithRealAPIServer(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	cluster := kubetest.Start(t, kubetest.Options{Audiences: []string{tokenExchangeAudience}})
	e := newIdentityEnv(t, "wiregistry", "--federation-ca-file", cluster.CAFile)
	pusher := e.principal("wi-pusher", "acrpush", "")
	img := ociImage(t, v1.Platform{OS: "linux", Architecture: "amd64"}, 512)
	e.pushAs(pusher, "apps/web:v1", img)

	// The workload's application: AcrPull, and no secret it will use.
	app := e.principal("wi-workload", "acrpull", "")
	trust := func(name, issuer, subject string) {
		params, _ := json.Marshal(map[string]any{"name": name, "issuer": issuer, "subject": subject, "audiences": []string{tokenExchangeAudience}})
		e.run("ad", "app", "federated-credential", "create", "--id", app.appID, "--parameters", string(params), "-o", "none")
	}
	trust("kube", cluster.Issuer, "system:serviceaccount:default:workload")

	tokenFile := func(sa, audience string) string {
		t.Helper()
		_, err := cluster.Client.CoreV1().ServiceAccounts("default").Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: sa}}, metav1.CreateOptions{})
		if err != nil && !strings.Contains(err.Error(), "already exists") {
			t.Fatal(err)
		}
		tr, err := cluster.Client.CoreV1().ServiceAccounts("default").CreateToken(ctx, sa, &authenticationv1.TokenRequest{
			Spec: authenticationv1.TokenRequestSpec{Audiences: []string{audience}},
		}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		f := filepath.Join(t.TempDir(), "token")
		if err := os.WriteFile(f, []byte(tr.Status.Token), 0o600); err != nil {
			t.Fatal(err)
		}
		return f
	}
	credential := func(file string) *azidentity.WorkloadIdentityCredential {
		t.Helper()
		cred, err := azidentity.NewWorkloadIdentityCredential(&azidentity.WorkloadIdentityCredentialOptions{
			ClientOptions: azcore.ClientOptions{Cloud: cloudAt(e.s), Transport: e.client()},
			ClientID:      app.appID, TenantID: e.s.Boot.TenantID, TokenFilePath: file, DisableInstanceDiscovery: true,
		})
		if err != nil {
			t.Fatal(err)
		}
		return cred
	}

	cred := credential(tokenFile("workload", tokenExchangeAudience))
	cfg := cloudAt(e.s)
	cfg.Services[azcontainerregistry.ServiceName] = cloud.ServiceConfiguration{Audience: "https://containerregistry.azure.net"}
	opts := azcore.ClientOptions{Cloud: cfg, Transport: e.client()}
	client, err := azcontainerregistry.NewClient("https://"+e.loginServer, cred, &azcontainerregistry.ClientOptions{ClientOptions: opts})
	if err != nil {
		t.Fatal(err)
	}
	m, err := client.GetManifest(ctx, "apps/web", "v1", &azcontainerregistry.ClientGetManifestOptions{Accept: ptr(string(ocispec.MediaTypeImageManifest))})
	if err != nil {
		t.Fatalf("pull with the workload's identity: %v", err)
	}
	got, _ := io.ReadAll(m.ManifestData)
	if want, _ := img.RawManifest(); string(got) != string(want) {
		t.Errorf("manifest %s, want %s", got, want)
	}

	// Refused, each with the cloud's code.
	refused := func(name, file, code string) {
		t.Helper()
		_, err := credential(file).GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{"https://management.azure.com/.default"}})
		var re *azidentity.AuthenticationFailedError
		if !errors.As(err, &re) || re.RawResponse == nil || !strings.Contains(err.Error(), "AADSTS"+code) {
			t.Errorf("%s: %v, want AADSTS%s", name, err, code)
		}
	}
	refused("another service account's token", tokenFile("intruder", tokenExchangeAudience), "700213")
	refused("a token for another audience", tokenFile("workload", "https://kubernetes.default.svc"), "700212")

	// A credential trusting an issuer whose documents cannot be
	// fetched: the other cluster's tokens name an address nothing
	// answers at.
	other := kubetest.Start(t, kubetest.Options{Issuer: "https://127.0.0.1:1/unreachable", Audiences: []string{tokenExchangeAudience}})
	trust("unreachable", other.Issuer, "system:serviceaccount:default:default")
	tr, err := other.Client.CoreV1().ServiceAccounts("default").CreateToken(ctx, "default", &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{Audiences: []string{tokenExchangeAudience}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	unreachable := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(unreachable, []byte(tr.Status.Token), 0o600); err != nil {
		t.Fatal(err)
	}
	refused("a token of an issuer berth cannot reach", unreachable, "90061")

	e.run("ad", "app", "federated-credential", "delete", "--id", app.appID, "--federated-credential-id", "kube", "-o", "none")
	refused("after the federated credential was deleted", tokenFile("workload", tokenExchangeAudience), "700211")
}
