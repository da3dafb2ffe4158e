// Package helm_test checks the chart deploy/helm/berth with the real
// tools: Helm (built from its Go module by scripts/helm.sh) lints and
// renders it, and a real API server (internal/testutil/kubetest) admits
// every rendered object in a server-side dry run.
package helm_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"maps"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/restmapper"

	"github.com/berthhq/berth/internal/testutil/kubetest"
)

const (
	chart       = "berth"
	everything  = "testdata/everything.yaml"
	helmEnv     = "BERTH_HELM"
	requireEnv  = "BERTH_REQUIRE_TOOLS"
	releaseName = "berth"
)

// helm runs the Helm binary scripts/helm.sh builds ($BERTH_HELM) with its
// state in a temporary directory. Without it the test is skipped, unless
// BERTH_REQUIRE_TOOLS=1, as in CI.
func helm(t *testing.T) func(args ...string) (string, error) {
	t.Helper()
	bin := os.Getenv(helmEnv)
	if bin == "" {
		if os.Getenv(requireEnv) == "1" {
			t.Fatalf("%s is required (%s=1): set it to the path scripts/helm.sh prints", helmEnv, requireEnv)
		}
		t.Skipf("%s is not set: run scripts/helm.sh", helmEnv)
	}
	home := t.TempDir()
	return func(args ...string) (string, error) {
		cmd := exec.Command(bin, args...)
		cmd.Env = append(os.Environ(), "HELM_CACHE_HOME="+filepath.Join(home, "cache"),
			"HELM_CONFIG_HOME="+filepath.Join(home, "config"), "HELM_DATA_HOME="+filepath.Join(home, "data"))
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Run(); err != nil {
			return stdout.String(), errors.New(strings.TrimSpace(stderr.String()))
		}
		return stdout.String(), nil
	}
}

// render is `helm template` of the chart into namespace, as objects.
func render(t *testing.T, run func(...string) (string, error), namespace string, args ...string) []*unstructured.Unstructured {
	t.Helper()
	out, err := run(append([]string{"template", releaseName, chart, "--namespace", namespace}, args...)...)
	if err != nil {
		t.Fatalf("helm template %v: %v", args, err)
	}
	var objs []*unstructured.Unstructured
	dec := utilyaml.NewYAMLOrJSONDecoder(strings.NewReader(out), 4096)
	for {
		var raw json.RawMessage
		err := dec.Decode(&raw)
		if errors.Is(err, io.EOF) {
			return objs
		}
		if err != nil {
			t.Fatalf("helm template %v: %v\n%s", args, err, out)
		}
		if len(raw) == 0 || string(raw) == "null" {
			continue
		}
		// Unstructured's own decoding keeps whole numbers int64, as the
		// API machinery's helpers read them.
		o := &unstructured.Unstructured{}
		if err := o.UnmarshalJSON(raw); err != nil {
			t.Fatalf("helm template %v: %v", args, err)
		}
		objs = append(objs, o)
	}
}

// kinds counts the objects of each kind.
func kinds(objs []*unstructured.Unstructured) map[string]int {
	n := map[string]int{}
	for _, o := range objs {
		n[o.GetKind()]++
	}
	return n
}

func find(t *testing.T, objs []*unstructured.Unstructured, kind, name string) *unstructured.Unstructured {
	t.Helper()
	for _, o := range objs {
		if o.GetKind() == kind && o.GetName() == name {
			return o
		}
	}
	t.Fatalf("no %s %s rendered", kind, name)
	return nil
}

// caBundle is base64 of a CA certificate's PEM, as the webhook
// configuration takes it.
func caBundle(t *testing.T) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "webhook CA"},
		NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
}

// The chart carries the pod identity CRDs as a file of its own (a chart
// cannot read outside its directory); it must be docs' generated file.
func TestCRDsAreDocs(t *testing.T) {
	docs, err := os.ReadFile("../../docs/pod-identity-crds.yaml")
	if err != nil {
		t.Fatal(err)
	}
	own, err := os.ReadFile(filepath.Join(chart, "files", "pod-identity-crds.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(docs, own) {
		t.Fatal("deploy/helm/berth/files/pod-identity-crds.yaml differs from docs/pod-identity-crds.yaml: copy it")
	}
}

func TestLint(t *testing.T) {
	run := helm(t)
	for _, args := range [][]string{nil, {"--values", everything, "--set", "workloadIdentityWebhook.caBundle=" + caBundle(t)}} {
		if out, err := run(append([]string{"lint", "--strict", chart}, args...)...); err != nil {
			t.Errorf("helm lint %v: %v\n%s", args, err, out)
		}
	}
}

func TestTemplateDefaults(t *testing.T) {
	objs := render(t, helm(t), "registry")
	want := map[string]int{"ServiceAccount": 1, "Deployment": 1, "Service": 1}
	if got := kinds(objs); !maps.Equal(got, want) {
		t.Fatalf("default values render %v, want the server alone: %v", got, want)
	}
	d := find(t, objs, "Deployment", "berth-server")
	spec := podSpec(t, d)
	if _, ok := spec["initContainers"]; ok {
		t.Error("without server.pki.existingSecret there is nothing to copy, yet an init container runs")
	}
	c := container(t, spec, "berth")
	args := strings.Join(stringSlice(c["args"]), " ")
	for _, want := range []string{"serve", "--listen=0.0.0.0:8443", "--data-dir=/var/lib/berth", "--host=berth.registry.svc"} {
		if !strings.Contains(args, want) {
			t.Errorf("server args %q lack %q", args, want)
		}
	}
	if strings.Contains(args, "--database") || strings.Contains(args, "--blob-store") {
		t.Errorf("default server args %q name stores that were not configured", args)
	}
	for probe, path := range map[string]string{"readinessProbe": "/readyz", "livenessProbe": "/healthz"} {
		got, _, _ := unstructured.NestedString(c, probe, "httpGet", "path")
		scheme, _, _ := unstructured.NestedString(c, probe, "httpGet", "scheme")
		if got != path || scheme != "HTTPS" {
			t.Errorf("%s is %s %s, want HTTPS %s", probe, scheme, got, path)
		}
	}
	if uid, _, _ := unstructured.NestedInt64(c, "securityContext", "runAsUser"); uid != 65532 {
		t.Errorf("server runs as %d, want the image's user 65532", uid)
	}
}

func TestTemplateEverything(t *testing.T) {
	objs := render(t, helm(t), "berth-system", "--values", everything, "--set", "workloadIdentityWebhook.caBundle="+caBundle(t))
	got := kinds(objs)
	want := map[string]int{
		"CustomResourceDefinition":     4,
		"AzureIdentity":                2,
		"AzureIdentityBinding":         2,
		"Deployment":                   3, // server, mic, webhook
		"DaemonSet":                    2, // nmi, imds
		"Service":                      2, // server, webhook
		"PodDisruptionBudget":          2, // server, webhook
		"ServiceMonitor":               1,
		"Ingress":                      1,
		"MutatingWebhookConfiguration": 1,
		"ServiceAccount":               4, // server, mic, nmi, webhook
		"ClusterRole":                  3,
		"ClusterRoleBinding":           3,
		"Role":                         1,
		"RoleBinding":                  1,
	}
	if !maps.Equal(got, want) {
		t.Fatalf("everything on renders %v, want %v", got, want)
	}

	server := find(t, objs, "Deployment", "berth-server")
	if n, _, _ := unstructured.NestedInt64(server.Object, "spec", "replicas"); n != 3 {
		t.Errorf("server replicas %d, want 3", n)
	}
	spec := podSpec(t, server)
	c := container(t, spec, "berth")
	args := stringSlice(c["args"])
	for _, want := range []string{"--database=$(BERTH_DATABASE_URL)", "--blob-store=s3://berth/blobs?endpoint=https://s3.example.com&region=r1", "--host=berth.example.com", "--registry-rate=50"} {
		if !slices.Contains(args, want) {
			t.Errorf("server args %q lack %q", args, want)
		}
	}
	env := map[string]string{}
	for _, e := range c["env"].([]any) {
		e := e.(map[string]any)
		if name, ok, _ := unstructured.NestedString(e, "valueFrom", "secretKeyRef", "name"); ok {
			env[e["name"].(string)] = name
		}
	}
	if want := map[string]string{"BERTH_DATABASE_URL": "berth-database", "AWS_ACCESS_KEY_ID": "berth-s3", "AWS_SECRET_ACCESS_KEY": "berth-s3"}; !maps.Equal(env, want) {
		t.Errorf("server environment from Secrets %v, want %v", env, want)
	}
	inits, _, _ := unstructured.NestedSlice(spec, "initContainers")
	if len(inits) != 1 {
		t.Fatalf("%d init containers, want the one copying the CA", len(inits))
	}
	script := strings.Join(stringSlice(inits[0].(map[string]any)["command"]), " ")
	for _, want := range []string{"/var/lib/berth/ca.crt", "/var/lib/berth/pki/ca.key", "/var/lib/berth/bootstrap.json"} {
		if !strings.Contains(script, want) {
			t.Errorf("the init container's command %q does not write %s", script, want)
		}
	}

	nmi := podSpec(t, find(t, objs, "DaemonSet", "berth-nmi"))
	if hn, _, _ := unstructured.NestedBool(nmi, "hostNetwork"); !hn {
		t.Error("nmi is not on the node's network")
	}
	caps, _, _ := unstructured.NestedStringSlice(container(t, nmi, "nmi"), "securityContext", "capabilities", "add")
	if !slices.Contains(caps, "NET_ADMIN") {
		t.Errorf("nmi has capabilities %v, without NET_ADMIN", caps)
	}
	webhook := container(t, podSpec(t, find(t, objs, "Deployment", "berth-workload-identity-webhook")), "webhook")
	if args := stringSlice(webhook["args"]); args[0] != "workload-identity-webhook" || !slices.Contains(args, "--authority-host=https://berth.example.com/") {
		t.Errorf("the webhook runs %v", args)
	}
	imds := stringSlice(container(t, podSpec(t, find(t, objs, "DaemonSet", "berth-imds")), "imds")["args"])
	if imds[0] != "imds" || slices.ContainsFunc(imds, func(a string) bool { return strings.HasPrefix(a, "--vm") }) {
		t.Errorf("imds runs %v: every node must get the same arguments, its machine from its credential file", imds)
	}
}

// Replicas that would each make their own CA, or keep their own SQLite
// database, are refused with the reason.
func TestTemplateRefusesUnsharedReplicas(t *testing.T) {
	run := helm(t)
	for _, args := range [][]string{
		{"--set", "server.replicas=2"},
		{"--set", "server.replicas=2", "--set", "server.database.secretName=db", "--set", "server.blobStore.url=s3://b/p"},
	} {
		_, err := run(append([]string{"template", releaseName, chart}, args...)...)
		if err == nil || !strings.Contains(err.Error(), "server.pki.existingSecret") {
			t.Errorf("helm template %v: %v, want a refusal naming server.pki.existingSecret", args, err)
		}
	}
}

// values.schema.json refuses a misspelt value rather than ignoring it.
func TestTemplateRefusesUnknownValues(t *testing.T) {
	run := helm(t)
	for _, set := range []string{"server.replica=3", "nmi.enable=true", "server.blobStore.url=https://bucket"} {
		if _, err := run("template", releaseName, chart, "--set", set); err == nil || !strings.Contains(err.Error(), "schema") {
			t.Errorf("helm template --set %s: %v, want a refusal by the values' schema", set, err)
		}
	}
}

// Every rendered object, default and everything on, is admitted by a real
// API server in a dry run, with strict field validation; the CRDs (the
// chart's own, and a stand-in for the Prometheus Operator's) are created
// first so that the custom resources are validated against them.
func TestServerSideDryRun(t *testing.T) {
	run := helm(t)
	cluster := kubetest.Start(t, kubetest.Options{})
	ctx := t.Context()
	dyn, err := dynamic.NewForConfig(cluster.Config)
	if err != nil {
		t.Fatal(err)
	}
	defaults := render(t, run, "registry")
	all := render(t, run, "berth-system", "--values", everything, "--set", "workloadIdentityWebhook.caBundle="+caBundle(t))

	crdGVR := schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}
	standIn, err := os.ReadFile("testdata/servicemonitor-crd.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var sm unstructured.Unstructured
	if err := utilyaml.Unmarshal(standIn, &sm.Object); err != nil {
		t.Fatal(err)
	}
	crds := []*unstructured.Unstructured{&sm}
	var rest []*unstructured.Unstructured
	served := []schema.GroupVersionResource{{Group: "monitoring.coreos.com", Version: "v1", Resource: "servicemonitors"}}
	for _, o := range all {
		if o.GetKind() != "CustomResourceDefinition" {
			rest = append(rest, o)
			continue
		}
		crds = append(crds, o)
		plural, _, _ := unstructured.NestedString(o.Object, "spec", "names", "plural")
		served = append(served, schema.GroupVersionResource{Group: "aadpodidentity.k8s.io", Version: "v1", Resource: plural})
	}
	for _, crd := range crds {
		if _, err := dyn.Resource(crdGVR).Create(ctx, crd, metav1.CreateOptions{FieldValidation: "Strict"}); err != nil {
			t.Fatalf("CustomResourceDefinition %s: %v", crd.GetName(), err)
		}
	}
	cluster.WaitServed(t, served...)

	// Namespaced objects are admitted only into namespaces that exist.
	for _, ns := range []string{"registry", "berth-system"} {
		if _, err := cluster.Client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	mapper := restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(cluster.Client.Discovery()))
	objs := slices.Concat(defaults, rest)
	t.Logf("dry run of %d objects after %d CRDs", len(objs), len(crds))
	for _, o := range objs {
		gvk := o.GroupVersionKind()
		m, err := mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
		if err != nil {
			t.Errorf("%s %s: %v", gvk.Kind, o.GetName(), err)
			continue
		}
		r := dyn.Resource(m.Resource)
		var client dynamic.ResourceInterface = r
		if m.Scope.Name() == "namespace" {
			if o.GetNamespace() == "" {
				t.Errorf("%s %s is namespaced but names no namespace", gvk.Kind, o.GetName())
				continue
			}
			client = r.Namespace(o.GetNamespace())
		}
		_, err = client.Create(ctx, o, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}, FieldValidation: "Strict"})
		if err != nil {
			t.Errorf("%s %s/%s refused: %v", gvk.Kind, o.GetNamespace(), o.GetName(), err)
		}
	}

	// The dry run stored nothing; and the check refuses what it should:
	// a field the schema does not know.
	if _, err := dyn.Resource(schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "deployments"}).Namespace("berth-system").
		Get(ctx, "berth-server", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("after the dry run, getting the server Deployment: %v, want not found", err)
	}
	bad := find(t, rest, "AzureIdentity", "web").DeepCopy()
	unstructured.SetNestedField(bad.Object, "x", "spec", "clientId")
	if _, err := dyn.Resource(schema.GroupVersionResource{Group: "aadpodidentity.k8s.io", Version: "v1", Resource: "azureidentities"}).
		Namespace("berth-system").Create(ctx, bad, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}, FieldValidation: "Strict"}); err == nil {
		t.Error("an AzureIdentity with the unknown field spec.clientId was admitted: the dry run validates nothing")
	}
}

func podSpec(t *testing.T, o *unstructured.Unstructured) map[string]any {
	t.Helper()
	spec, ok, _ := unstructured.NestedMap(o.Object, "spec", "template", "spec")
	if !ok {
		t.Fatalf("%s %s has no pod template", o.GetKind(), o.GetName())
	}
	return spec
}

func container(t *testing.T, spec map[string]any, name string) map[string]any {
	t.Helper()
	cs, _, _ := unstructured.NestedSlice(spec, "containers")
	for _, c := range cs {
		if c := c.(map[string]any); c["name"] == name {
			return c
		}
	}
	t.Fatalf("no container %s", name)
	return nil
}

func stringSlice(v any) []string {
	var out []string
	for _, s := range v.([]any) {
		out = append(out, s.(string))
	}
	return out
}
