package e2e

import (
	"bufio"
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/yaml"

	"github.com/berthhq/berth/internal/pki"
	"github.com/berthhq/berth/internal/testutil/berthtest"
	"github.com/berthhq/berth/internal/testutil/kubetest"
)

// TestWorkloadIdentityWebhook: berth workload-identity-webhook, deployed
// as docs/workload-identity-webhook.yaml says (its objects created in a
// real API server; the webhook binary runs here with that manifest's
// service account and RBAC), admits pods through the API server. A
// labelled pod comes back with its identity; a pod it cannot give one to
// is refused with its reason. Then the test does the kubelet's part,
// since no kubelet runs here: the token for the projected volume, from
// the TokenRequest API, in the file the pod's environment names. The
// cloud SDK's workload identity credential, configured only from the
// environment the webhook injected, gets the application's token from
// berth.
func TestWorkloadIdentityWebhook(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	cluster := kubetest.Start(t, kubetest.Options{Audiences: []string{tokenExchangeAudience}})
	e := newIdentityEnv(t, "wiwebhook", "--federation-ca-file", cluster.CAFile)
	app := e.principal("wi-webhook-app", "acrpull", "")
	params, _ := json.Marshal(map[string]any{"name": "kube", "issuer": cluster.Issuer, "subject": "system:serviceaccount:default:web", "audiences": []string{tokenExchangeAudience}})
	e.run("ad", "app", "federated-credential", "create", "--id", app.appID, "--parameters", string(params), "-o", "none")

	webhookConfig := applyManifest(t, cluster, "../docs/workload-identity-webhook.yaml")
	kubeconfig := serviceAccountKubeconfig(t, cluster, "berth-system", "berth-workload-identity-webhook")
	certFile, keyFile, caPEM := servingCertificate(t)
	addr, stop, err := startServing(berthtest.Binary(t), "workload-identity-webhook", "--listen", "127.0.0.1:0",
		"--tls-cert-file", certFile, "--tls-key-file", keyFile, "--kubeconfig", kubeconfig,
		"--authority-host", e.s.URL+"/", "--tenant-id", e.s.Boot.TenantID, "--log-level", "debug")
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if log := stop(); t.Failed() {
			t.Logf("berth workload-identity-webhook stderr:\n%s", log)
		}
	}()
	// The manifest's webhook, at this address instead of its Service.
	url := addr + "/mutate"
	webhookConfig.Webhooks[0].ClientConfig = admissionregistrationv1.WebhookClientConfig{URL: &url, CABundle: caPEM}
	webhookName := webhookConfig.Webhooks[0].Name
	if _, err := cluster.Client.AdmissionregistrationV1().MutatingWebhookConfigurations().Create(ctx, webhookConfig, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	pods := cluster.Client.CoreV1().Pods("default")
	for name, annotations := range map[string]map[string]string{
		"web":   {"azure.workload.identity/client-id": app.appID},
		"plain": nil,
	} {
		sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: name, Annotations: annotations}}
		if _, err := cluster.Client.CoreV1().ServiceAccounts("default").Create(ctx, sa, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	newPod := func(name, sa string, labels, annotations map[string]string) *corev1.Pod {
		return &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels, Annotations: annotations},
			Spec: corev1.PodSpec{
				ServiceAccountName: sa,
				InitContainers:     []corev1.Container{{Name: "setup", Image: "busybox"}},
				Containers: []corev1.Container{
					{Name: "app", Image: "app", Env: []corev1.EnvVar{{Name: "MODE", Value: "serve"}}},
					{Name: "proxy", Image: "proxy"},
				},
			},
		}
	}
	use := map[string]string{"azure.workload.identity/use": "true"}

	// The API server starts calling a new webhook within moments: until
	// a dry-run creation comes back changed, it has not yet.
	waitFor(t, 30*time.Second, "the webhook to be called", func() bool {
		p, err := pods.Create(ctx, newPod("probe", "web", use, nil), metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		return err == nil && len(p.Spec.Containers[0].Env) > 1
	})

	if _, err := pods.Create(ctx, newPod("web", "web", use, map[string]string{"azure.workload.identity/skip-containers": "proxy"}), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	pod, err := pods.Get(ctx, "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	wantEnv := map[string]string{
		"AZURE_CLIENT_ID": app.appID, "AZURE_TENANT_ID": e.s.Boot.TenantID, "AZURE_AUTHORITY_HOST": e.s.URL + "/",
		"AZURE_FEDERATED_TOKEN_FILE": "/var/run/secrets/azure/tokens/azure-identity-token",
	}
	for _, c := range []corev1.Container{pod.Spec.InitContainers[0], pod.Spec.Containers[0]} {
		env := map[string]string{}
		for _, v := range c.Env {
			env[v.Name] = v.Value
		}
		for k, v := range wantEnv {
			if env[k] != v {
				t.Errorf("container %s: %s=%q, want %q", c.Name, k, env[k], v)
			}
		}
		if m := tokenMount(c); m == nil || m.MountPath != "/var/run/secrets/azure/tokens" || !m.ReadOnly {
			t.Errorf("container %s mounts %+v", c.Name, c.VolumeMounts)
		}
	}
	if env := pod.Spec.Containers[0].Env; env[0].Name != "MODE" || len(env) != 5 {
		t.Errorf("app's environment: %+v", env)
	}
	if proxy := pod.Spec.Containers[1]; len(proxy.Env) != 0 || tokenMount(proxy) != nil {
		t.Errorf("the skipped container was changed: %+v", proxy)
	}
	projection := tokenProjection(pod)
	if projection == nil || projection.Audience != tokenExchangeAudience || projection.ExpirationSeconds == nil ||
		*projection.ExpirationSeconds != 3600 || projection.Path != "azure-identity-token" {
		t.Fatalf("token volume: %+v", pod.Spec.Volumes)
	}
	if !strings.HasPrefix(pod.Spec.Volumes[0].Name, "kube-api-access-") {
		t.Errorf("the API server's own token volume is gone: %+v", pod.Spec.Volumes)
	}

	// Unlabelled: the webhook is not asked.
	if p, err := pods.Create(ctx, newPod("other", "web", nil, nil), metav1.CreateOptions{}); err != nil || len(p.Spec.Containers[0].Env) != 1 || tokenProjection(p) != nil {
		t.Errorf("unlabelled pod: %v %+v", err, p)
	}

	// Refused, with the webhook's reason, and not created.
	for _, tc := range []struct {
		name, sa    string
		annotations map[string]string
		says        string
	}{
		{"no-client-id", "plain", nil,
			`container "setup" would run without AZURE_CLIENT_ID: service account default/plain has no annotation azure.workload.identity/client-id`},
		{"bad-expiration", "web", map[string]string{"azure.workload.identity/service-account-token-expiration": "600"},
			`annotation azure.workload.identity/service-account-token-expiration on the pod is "600": want a number of seconds from 3600 to 86400`},
	} {
		_, err := pods.Create(ctx, newPod(tc.name, tc.sa, use, tc.annotations), metav1.CreateOptions{})
		want := fmt.Sprintf("admission webhook %q denied the request: cannot give the pod a workload identity: %s", webhookName, tc.says)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v\nwant %s", tc.name, err, want)
		}
		if _, err := pods.Get(ctx, tc.name, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Errorf("%s: a refused pod exists: %v", tc.name, err)
		}
	}

	// The kubelet's part: the volume's token, bound to the pod, written
	// where the container's mount puts it (under a root directory here).
	tr, err := cluster.Client.CoreV1().ServiceAccounts("default").CreateToken(ctx, pod.Spec.ServiceAccountName, &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{
			Audiences: []string{projection.Audience}, ExpirationSeconds: projection.ExpirationSeconds,
			BoundObjectRef: &authenticationv1.BoundObjectReference{Kind: "Pod", APIVersion: "v1", Name: pod.Name, UID: pod.UID},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	mounted := filepath.Join(root, tokenMount(pod.Spec.Containers[0]).MountPath, projection.Path)
	os.MkdirAll(filepath.Dir(mounted), 0o755)
	if err := os.WriteFile(mounted, []byte(tr.Status.Token), 0o600); err != nil {
		t.Fatal(err)
	}

	// The SDK, from the app container's environment alone. Two things
	// are the pod's own, not the webhook's: its image trusts berth's CA
	// (the transport here), and its code turns off instance discovery,
	// which would otherwise ask the public cloud about berth's host.
	env := map[string]string{}
	for _, v := range pod.Spec.Containers[0].Env {
		env[v.Name] = v.Value
	}
	cred, err := azidentity.NewWorkloadIdentityCredential(&azidentity.WorkloadIdentityCredentialOptions{
		ClientOptions: azcore.ClientOptions{Cloud: cloud.Configuration{ActiveDirectoryAuthorityHost: env["AZURE_AUTHORITY_HOST"]}, Transport: e.s.Client()},
		ClientID:      env["AZURE_CLIENT_ID"], TenantID: env["AZURE_TENANT_ID"],
		TokenFilePath:            filepath.Join(root, env["AZURE_FEDERATED_TOKEN_FILE"]),
		DisableInstanceDiscovery: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{"https://management.azure.com/.default"}})
	if err != nil {
		t.Fatalf("the pod's credential: %v", err)
	}
	if got := tokenClaim(t, tok.Token, "appid"); got != app.appID {
		t.Errorf("token for %v, want the application %s", got, app.appID)
	}
	if got := tokenClaim(t, tok.Token, "tid"); got != e.s.Boot.TenantID {
		t.Errorf("token of tenant %v, want %s", got, e.s.Boot.TenantID)
	}
}

func tokenMount(c corev1.Container) *corev1.VolumeMount {
	for i, m := range c.VolumeMounts {
		if m.Name == "azure-identity-token" {
			return &c.VolumeMounts[i]
		}
	}
	return nil
}

func tokenProjection(p *corev1.Pod) *corev1.ServiceAccountTokenProjection {
	for _, v := range p.Spec.Volumes {
		if v.Name == "azure-identity-token" && v.Projected != nil && len(v.Projected.Sources) == 1 {
			return v.Projected.Sources[0].ServiceAccountToken
		}
	}
	return nil
}

// applyManifest creates the objects of a manifest file but its
// MutatingWebhookConfiguration, which it returns for the caller to point
// at where the webhook runs.
func applyManifest(t *testing.T, cluster *kubetest.Cluster, file string) *admissionregistrationv1.MutatingWebhookConfiguration {
	t.Helper()
	ctx := t.Context()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var webhook *admissionregistrationv1.MutatingWebhookConfiguration
	c := cluster.Client
	for doc := range strings.SplitSeq(string(b), "\n---\n") {
		j, err := yaml.YAMLToJSON([]byte(doc))
		if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		obj, _, err := scheme.Codecs.UniversalDeserializer().Decode(j, nil, nil)
		if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		opts := metav1.CreateOptions{FieldValidation: "Strict"}
		switch o := obj.(type) {
		case *corev1.Namespace:
			_, err = c.CoreV1().Namespaces().Create(ctx, o, opts)
		case *corev1.ServiceAccount:
			_, err = c.CoreV1().ServiceAccounts(o.Namespace).Create(ctx, o, opts)
		case *corev1.Service:
			_, err = c.CoreV1().Services(o.Namespace).Create(ctx, o, opts)
		case *appsv1.Deployment:
			if cmd := o.Spec.Template.Spec.Containers[0].Command; len(cmd) < 2 || cmd[1] != "workload-identity-webhook" {
				t.Errorf("%s: the Deployment runs %v", file, cmd)
			}
			_, err = c.AppsV1().Deployments(o.Namespace).Create(ctx, o, opts)
		case *rbacv1.ClusterRole:
			_, err = c.RbacV1().ClusterRoles().Create(ctx, o, opts)
		case *rbacv1.ClusterRoleBinding:
			_, err = c.RbacV1().ClusterRoleBindings().Create(ctx, o, opts)
		case *admissionregistrationv1.MutatingWebhookConfiguration:
			webhook = o
		default:
			err = fmt.Errorf("no case for %T", obj)
		}
		if err != nil {
			t.Fatalf("%s: %s: %v", file, obj.GetObjectKind().GroupVersionKind().Kind, err)
		}
	}
	if webhook == nil {
		t.Fatalf("%s has no MutatingWebhookConfiguration", file)
	}
	return webhook
}

// serviceAccountKubeconfig is a kubeconfig file acting as the service
// account, with a token from the TokenRequest API, as its pod would.
func serviceAccountKubeconfig(t *testing.T, cluster *kubetest.Cluster, namespace, name string) string {
	t.Helper()
	tr, err := cluster.Client.CoreV1().ServiceAccounts(namespace).CreateToken(t.Context(), name, &authenticationv1.TokenRequest{}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(map[string]any{
		"apiVersion":      "v1",
		"kind":            "Config",
		"clusters":        []any{map[string]any{"name": "c", "cluster": map[string]any{"server": cluster.URL, "certificate-authority": cluster.CAFile}}},
		"users":           []any{map[string]any{"name": "u", "user": map[string]any{"token": tr.Status.Token}}},
		"contexts":        []any{map[string]any{"name": "c", "context": map[string]any{"cluster": "c", "user": "u"}}},
		"current-context": "c",
	})
	f := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(f, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

// servingCertificate is a certificate for 127.0.0.1 from a CA of berth's
// kind, written as PEM files, and the CA's PEM.
func servingCertificate(t *testing.T) (certFile, keyFile string, caPEM []byte) {
	t.Helper()
	dir := t.TempDir()
	cert, err := pki.Ensure(dir, []string{"127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(cert.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Certificate[0]}), 0o644)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600)
	if caPEM, err = os.ReadFile(filepath.Join(dir, pki.CACertFile)); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile, caPEM
}

// startServing runs a berth command that prints "berth ... is serving at
// URL" once it listens, and returns that URL; stop ends it and returns
// what it wrote on stderr.
func startServing(bin string, args ...string) (url string, stop func() string, err error) {
	cmd := exec.Command(bin, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return "", nil, err
	}
	if err := cmd.Start(); err != nil {
		return "", nil, err
	}
	stop = func() string {
		cmd.Process.Kill()
		cmd.Wait()
		return stderr.String()
	}
	ready := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(out).ReadString('\n')
		ready <- line
		io.Copy(io.Discard, out)
	}()
	select {
	case line := <-ready:
		if _, url, ok := strings.Cut(strings.TrimSpace(line), " is serving at "); ok {
			return url, stop, nil
		}
		return "", nil, fmt.Errorf("berth %s did not start: %q\n%s", args[0], line, stop())
	case <-time.After(30 * time.Second):
		return "", nil, fmt.Errorf("berth %s did not start within 30s\n%s", args[0], stop())
	}
}

// waitFor polls until ok, failing the test after limit.
func waitFor(t *testing.T, limit time.Duration, what string, ok func() bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), limit)
	defer cancel()
	for !ok() {
		select {
		case <-ctx.Done():
			t.Fatalf("waited %v for %s", limit, what)
		case <-time.After(100 * time.Millisecond):
		}
	}
}
