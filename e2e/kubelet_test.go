package e2e

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/rogpeppe/go-internal/testscript"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/berthhq/berth/internal/testutil/berthtest"
	"github.com/berthhq/berth/internal/testutil/kubetest"
)

const kubeletDriverEnv = "BERTH_KUBELET_CREDENTIAL_DRIVER"

// kubeletDriver is the kubelet credential driver that
// scripts/kubelet-credential-driver.sh builds: the kubelet's own
// credential provider code, run for one image pull. Empty when
// $BERTH_KUBELET_CREDENTIAL_DRIVER is unset, so that the tests using it
// are skipped, and an error instead when BERTH_REQUIRE_TOOLS=1, as in CI.
func kubeletDriver() (string, error) {
	p := os.Getenv(kubeletDriverEnv)
	if p == "" {
		if os.Getenv("BERTH_REQUIRE_TOOLS") == "1" {
			return "", fmt.Errorf("%s is required (BERTH_REQUIRE_TOOLS=1): set it to the path scripts/kubelet-credential-driver.sh prints", kubeletDriverEnv)
		}
		return "", nil
	}
	if _, err := exec.LookPath(p); err != nil {
		return "", fmt.Errorf("%s: %v", kubeletDriverEnv, err)
	}
	return p, nil
}

// kubelet is the kubelet's credential provider code configured as a
// node's kubelet would be: its CredentialProviderConfig file, and a
// provider directory (--image-credential-provider-bin-dir) holding berth
// under the provider's name "berth".
type kubelet struct {
	driver, binDir, config string
	// dir is the kubelet's working directory, where the configuration's
	// relative paths start; env is added to the kubelet's environment,
	// which the providers inherit.
	dir string
	env []string
	// kubeconfig is the kubelet's access to the API server, for pulls on
	// behalf of a pod.
	kubeconfig string
}

// newKubelet is the kubelet of config, a CredentialProviderConfig file,
// running berth binary bin as its provider. It returns nil when the
// driver is not installed (see kubeletDriver).
func newKubelet(driver, bin, config string) (*kubelet, error) {
	binDir, err := os.MkdirTemp("", "kubelet-providers-")
	if err != nil {
		return nil, err
	}
	if err := os.Symlink(bin, filepath.Join(binDir, "berth")); err != nil {
		return nil, err
	}
	return &kubelet{driver: driver, binDir: binDir, config: config}, nil
}

func (k *kubelet) close() { os.RemoveAll(k.binDir) }

// writeNodeFile writes the node file of a cluster that runs as the
// service principal p, as berth aks get-node-config does, and returns
// its path.
func writeNodeFile(t *testing.T, e *identityEnv, p principal) string {
	t.Helper()
	ca, err := os.ReadFile(e.s.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	f := filepath.Join(t.TempDir(), "azure.json")
	b, _ := json.Marshal(map[string]any{"cloud": "AzurePublicCloud", "tenantId": e.s.Boot.TenantID, "aadClientId": p.appID,
		"aadClientSecret": p.secret, "berthServer": e.s.URL, "berthCA": string(ca), "registrySuffix": "cr.localhost"})
	if err := os.WriteFile(f, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

// kubeletCredential is what the kubelet would pull with: the credentials
// a provider answered, and the service account they are for (in service
// account mode).
type kubeletCredential struct {
	Username, Password, ServiceAccount string
}

// credentials asks the kubelet for the credentials it would pull image
// with, for pod (NAMESPACE/NAME, or empty: no pod); stderr is what the
// kubelet logged, where a failing provider's message is.
func (k *kubelet) credentials(image, pod string) (creds []kubeletCredential, stderr string, err error) {
	args := []string{"--config", k.config, "--bin-dir", k.binDir}
	if pod != "" {
		args = append(args, "--kubeconfig", k.kubeconfig, "--pod", pod)
	}
	cmd := exec.Command(k.driver, append(args, image)...)
	cmd.Dir, cmd.Env = k.dir, append(os.Environ(), k.env...)
	var out, errs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errs
	if err := cmd.Run(); err != nil {
		return nil, errs.String(), fmt.Errorf("kubelet-credential-driver: %v: %s", err, errs.String())
	}
	if err := json.Unmarshal(out.Bytes(), &creds); err != nil {
		return nil, errs.String(), fmt.Errorf("kubelet-credential-driver printed %q: %v", out.String(), err)
	}
	return creds, errs.String(), nil
}

// podsKubeletConfig is the kubelet configuration with which pods pull as
// their own workload identities, as docs/kubernetes.md shows it; the
// test puts its own node file and registries' port in.
const podsKubeletConfig = `apiVersion: kubelet.config.k8s.io/v1
kind: CredentialProviderConfig
providers:
  - name: berth
    apiVersion: credentialprovider.kubelet.k8s.io/v1
    matchImages:
      - "*.cr.localhost"
    defaultCacheDuration: "10m"
    args:
      - credential-provider
      - /etc/kubernetes/azure.json
    tokenAttributes:
      serviceAccountTokenAudience: api://AzureADTokenExchange
      cacheType: ServiceAccount
      requireServiceAccount: true
      requiredServiceAccountAnnotationKeys:
        - azure.workload.identity/client-id
      optionalServiceAccountAnnotationKeys:
        - azure.workload.identity/tenant-id
`

// The kubelet's own credential provider code, with tokenAttributes in
// its configuration, hands berth credential-provider a token of the
// pulling pod's service account, bound to the pod, which it requests
// from the real API server; berth exchanges it through workload identity
// federation for registry credentials of the pod's own identity. A pod
// whose identity may not pull gets nothing, although the node's identity
// may pull.
func TestKubeletPullsAsThePodsIdentity(t *testing.T) {
	t.Parallel()
	driver, err := kubeletDriver()
	if err != nil {
		t.Fatal(err)
	}
	if driver == "" {
		t.Skipf("the kubelet credential driver is not built: set %s (scripts/kubelet-credential-driver.sh)", kubeletDriverEnv)
	}
	ctx := t.Context()
	cluster := kubetest.Start(t, kubetest.Options{Audiences: []string{tokenExchangeAudience}})
	e := newIdentityEnv(t, "kubeletregistry", "--federation-ca-file", cluster.CAFile)
	pusher := e.principal("kp-pusher", "acrpush", "")
	e.pushAs(pusher, "apps/api:v1", ociImage(t, v1.Platform{OS: "linux", Architecture: "amd64"}, 256))
	image := e.loginServer + "/apps/api:v1"

	node := e.principal("kp-node", "acrpull", "")
	puller := e.principal("kp-puller", "acrpull", "")
	e.run("group", "create", "-n", "elsewhere", "-l", "westeurope", "-o", "none")
	stranger := e.principal("kp-stranger", "reader", "/subscriptions/"+e.s.Boot.SubscriptionID+"/resourceGroups/elsewhere")
	for sa, app := range map[string]principal{"puller": puller, "stranger": stranger} {
		params, _ := json.Marshal(map[string]any{"name": "kube", "issuer": cluster.Issuer,
			"subject": "system:serviceaccount:default:" + sa, "audiences": []string{tokenExchangeAudience}})
		e.run("ad", "app", "federated-credential", "create", "--id", app.appID, "--parameters", string(params), "-o", "none")
	}
	// A pod per service account, as the workload identity webhook's users
	// annotate them; "impostor" names the puller's application, which
	// does not trust its tokens.
	for sa, clientID := range map[string]string{"puller": puller.appID, "stranger": stranger.appID, "impostor": puller.appID, "plain": ""} {
		account := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: sa}}
		if clientID != "" {
			account.Annotations = map[string]string{"azure.workload.identity/client-id": clientID}
		}
		if _, err := cluster.Client.CoreV1().ServiceAccounts("default").Create(ctx, account, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: sa}, Spec: corev1.PodSpec{ServiceAccountName: sa,
			Containers: []corev1.Container{{Name: "api", Image: image}}}}
		if _, err := cluster.Client.CoreV1().Pods("default").Create(ctx, pod, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}

	dir := t.TempDir()
	nodeFile := writeNodeFile(t, e, node)
	_, port, _ := strings.Cut(e.loginServer, ":")
	config := func(name, text string) *kubelet {
		t.Helper()
		f := filepath.Join(dir, name)
		if err := os.WriteFile(f, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		k, err := newKubelet(driver, berthtest.Binary(t), f)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(k.close)
		k.kubeconfig = cluster.Kubeconfig
		return k
	}
	nodes := config("node.yaml", fmt.Sprintf(`apiVersion: kubelet.config.k8s.io/v1
kind: CredentialProviderConfig
providers:
  - name: berth
    apiVersion: credentialprovider.kubelet.k8s.io/v1
    matchImages: ["*.cr.localhost:%s"]
    defaultCacheDuration: "10m"
    args: [credential-provider, %s]
`, port, nodeFile))
	docs, err := os.ReadFile(filepath.Join("..", "docs", "kubernetes.md"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(docs), "```yaml\n"+podsKubeletConfig+"```\n") {
		t.Errorf("docs/kubernetes.md does not show the configuration this test uses:\n%s", podsKubeletConfig)
	}
	pods := config("pods.yaml", strings.NewReplacer(
		"/etc/kubernetes/azure.json", nodeFile,
		`"*.cr.localhost"`, `"*.cr.localhost:`+port+`"`,
	).Replace(podsKubeletConfig))

	pull := func(c kubeletCredential) error {
		_, err := remote.Image(e.ref("apps/api:v1"), e.ggcr(ctx, authn.AuthConfig{Username: c.Username, Password: c.Password})...)
		return err
	}
	one := func(k *kubelet, pod string) (kubeletCredential, string, error) {
		t.Helper()
		creds, stderr, err := k.credentials(image, pod)
		if err != nil {
			t.Fatal(err)
		}
		switch len(creds) {
		case 0:
			return kubeletCredential{}, stderr, errors.New("no credentials")
		case 1:
			return creds[0], stderr, nil
		}
		t.Fatalf("the kubelet has %d credentials for %s: %+v", len(creds), image, creds)
		return kubeletCredential{}, "", nil
	}

	// The node's identity may pull, for any pod, the stranger's too.
	c, stderr, err := one(nodes, "default/stranger")
	if err != nil || c.Username != node.appID || c.ServiceAccount != "" || pull(c) != nil {
		t.Fatalf("the node's identity: %+v %v\n%s", c, err, stderr)
	}
	// A pod whose identity may pull does, as itself.
	c, stderr, err = one(pods, "default/puller")
	if err != nil {
		t.Fatalf("a pod whose identity may pull: %v\n%s", err, stderr)
	}
	if c.Username != "00000000-0000-0000-0000-000000000000" || c.ServiceAccount != "default/puller" {
		t.Errorf("the pod's credentials: user %s for %q, want the null user's refresh token for default/puller", c.Username, c.ServiceAccount)
	}
	if err := pull(c); err != nil {
		t.Errorf("pull with the pod's credentials: %v", err)
	}
	// Refused with the reason in the kubelet's log: the pod gets no
	// credentials, not the node's.
	for pod, reason := range map[string]string{
		"default/stranger": "no role assignment",
		// The application does not trust the impostor's tokens.
		"default/impostor": "AADSTS700213",
	} {
		if c, stderr, err := one(pods, pod); err == nil || !strings.Contains(stderr, reason) {
			t.Errorf("pod %s: %+v %v, want no credentials and %q in the kubelet's log:\n%s", pod, c, err, reason, stderr)
		}
	}
	// Without the required annotation the kubelet does not run the
	// provider at all.
	if c, stderr, err := one(pods, "default/plain"); err == nil || stderr != "" {
		t.Errorf("pod default/plain: %+v %v, want no credentials and nothing logged:\n%s", c, err, stderr)
	}
}

// kubeletCommand is the scenario scripts' kubelet, its own credential
// provider code with berth as the provider "berth" (see kubelet):
//
//	kubelet pull CONFIG REF
//	    pull REF with the credentials the kubelet configured by the
//	    CredentialProviderConfig file CONFIG finds for it, for no pod,
//	    printing the user it pulls as; what the kubelet logged (a failing
//	    provider's message) goes to stderr. $VAR and ${VAR} in CONFIG are
//	    the script's variables: registries answer at $BERTH_PORT, which
//	    matchImages must name.
//
// Scripts guard it with the condition [kubelet].
func kubeletCommand(ts *testscript.TestScript, s *berthtest.Server, bin, driver string, args []string) error {
	if len(args) != 3 || args[0] != "pull" {
		return errors.New("usage: kubelet pull CONFIG REF")
	}
	if driver == "" {
		return fmt.Errorf("kubelet: the driver is not built (set %s); guard the command with [kubelet]", kubeletDriverEnv)
	}
	config := filepath.Join(ts.Getenv("WORK"), ".kubelet.yaml")
	if err := os.WriteFile(config, []byte(os.Expand(ts.ReadFile(args[1]), ts.Getenv)), 0o600); err != nil {
		return err
	}
	k, err := newKubelet(driver, bin, config)
	if err != nil {
		return err
	}
	defer k.close()
	k.dir = ts.Getenv("WORK")
	ref := args[2]
	creds, stderr, err := k.credentials(ref, "")
	fmt.Fprint(ts.Stderr(), stderr)
	if err != nil {
		return err
	}
	if len(creds) == 0 {
		return fmt.Errorf("the kubelet has no credentials for %s", ref)
	}
	fmt.Fprintf(ts.Stdout(), "pulling %s as %s\n", ref, creds[0].Username)
	return imageCommand(ts, s, bin, []string{"pull", ref, creds[0].Username, creds[0].Password})
}
