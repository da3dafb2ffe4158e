package mic_test

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"

	"github.com/berthhq/berth/internal/cli"
	"github.com/berthhq/berth/internal/mic"
	"github.com/berthhq/berth/internal/podidentity"
	"github.com/berthhq/berth/internal/testutil/berthtest"
	"github.com/berthhq/berth/internal/testutil/kubetest"
)

func TestMain(m *testing.M) { berthtest.Main(m) }

var (
	gv          = podidentity.GroupVersion
	identityGVR = podidentity.IdentitiesGVR
	bindingGVR  = podidentity.BindingsGVR
	assignedGVR = podidentity.AssignedIdentitiesGVR
)

// world is a real API server with the pod identity definitions, a real
// berth with a resource group "nodes", the cluster's service principal
// (Virtual Machine Contributor and Managed Identity Operator on the
// group, as the cloud grants a cluster's identity) and its node file.
// No kubelet runs: Node and Pod objects are written as a kubelet would.
type world struct {
	t       testing.TB
	kube    *kubetest.Cluster
	dyn     dynamic.Interface
	s       *berthtest.Server
	config  string // the administrator's CLI configuration
	group   string // the group's resource id
	node    cli.NodeConfig
	proxy   *proxy
	nodeDir string
}

func newWorld(t testing.TB) *world {
	t.Helper()
	w := &world{t: t, kube: kubetest.Start(t, kubetest.Options{}), s: berthtest.Start(t), config: t.TempDir(), nodeDir: t.TempDir()}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("berth log:\n%s", w.s.Log.String())
		}
	})
	var err error
	if w.dyn, err = dynamic.NewForConfig(w.kube.Config); err != nil {
		t.Fatal(err)
	}
	w.kubectl("apply", "-f", filepath.Join("..", "..", "docs", "pod-identity-crds.yaml"))
	w.kubectl("wait", "--for", "condition=established", "--timeout", "60s", "crd/azureidentities."+podidentity.Group,
		"crd/azureidentitybindings."+podidentity.Group, "crd/azureassignedidentities."+podidentity.Group)
	// No controller manager makes namespaces' default service
	// accounts, which pods run as.
	for _, ns := range []string{"apps", "other"} {
		w.kubectl("create", "namespace", ns)
		w.kubectl("create", "serviceaccount", "default", "-n", ns)
	}

	w.berth("login", "--data-dir", w.s.DataDir, "-o", "none")
	w.berth("group", "create", "-n", "nodes", "-l", "here", "-o", "none")
	w.group = w.berth("group", "show", "-n", "nodes", "--query", "id", "-o", "tsv")
	app := w.berth("ad", "app", "create", "--display-name", "cluster", "--query", "appId", "-o", "tsv")
	w.berth("ad", "sp", "create", "--id", app, "-o", "none")
	secret := w.berth("ad", "app", "credential", "reset", "--id", app, "--query", "password", "-o", "tsv")
	for _, role := range []string{"Virtual Machine Contributor", "Managed Identity Operator"} {
		w.berth("role", "assignment", "create", "--assignee", app, "--role", role, "--scope", w.group, "-o", "none")
	}
	ca, err := os.ReadFile(w.s.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	w.node = cli.NodeConfig{Cloud: "berth", TenantID: w.s.Boot.TenantID, SubscriptionID: w.s.Boot.SubscriptionID, ResourceGroup: "nodes",
		AADClientID: app, AADClientSecret: secret, BerthServer: w.s.URL, BerthCA: string(ca), RegistrySuffix: "cr.localhost"}
	w.proxy = newProxy(t, w.s)
	return w
}

func (w *world) kubectl(args ...string) string { return w.kube.Kubectl(w.t, args...) }

// berth runs the CLI as the administrator and returns its trimmed stdout.
func (w *world) berth(args ...string) string { return berthtest.CLI(w.t, w.config, args...) }

// identity makes a user-assigned identity in the group; its resource id.
func (w *world) identity(name string) string {
	return w.berth("identity", "create", "-g", "nodes", "-n", name, "--query", "id", "-o", "tsv")
}

// machine makes a virtual machine with the user-assigned identities own
// (its own, before MIC) and registers it as the Node name.
func (w *world) machine(name string, own ...string) string {
	w.t.Helper()
	args := []string{"vm", "create", "-g", "nodes", "-n", name, "--credential-file", filepath.Join(w.nodeDir, name+".json"), "--query", "id", "-o", "tsv"}
	if len(own) > 0 {
		args = append(args, append([]string{"--assign-identity"}, own...)...)
	}
	id := w.berth(args...)
	if _, err := w.kube.Client.CoreV1().Nodes().Create(context.Background(), &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: corev1.NodeSpec{ProviderID: "azure://" + id},
	}, metav1.CreateOptions{}); err != nil {
		w.t.Fatal(err)
	}
	return id
}

// vmIdentities are a machine's user-assigned identities as berth shows
// them, lower-cased.
func (w *world) vmIdentities(name string) []string {
	w.t.Helper()
	out := w.berth("vm", "identity", "show", "-g", "nodes", "-n", name, "-o", "json")
	var block struct {
		UserAssignedIdentities map[string]any `json:"userAssignedIdentities"`
	}
	if err := json.Unmarshal([]byte(out), &block); err != nil && out != "null" {
		w.t.Fatalf("vm identity show: %v: %s", err, out)
	}
	var ids []string
	for id := range block.UserAssignedIdentities {
		ids = append(ids, strings.ToLower(id))
	}
	slices.Sort(ids)
	return ids
}

// apply writes a pod identity resource.
func (w *world) apply(gvr schema.GroupVersionResource, kind string, obj any) {
	w.t.Helper()
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		w.t.Fatal(err)
	}
	u := &unstructured.Unstructured{Object: m}
	u.SetAPIVersion(gv.String())
	u.SetKind(kind)
	unstructured.RemoveNestedField(u.Object, "metadata", "creationTimestamp")
	if _, err := w.dyn.Resource(gvr).Namespace(u.GetNamespace()).Create(context.Background(), u, metav1.CreateOptions{}); err != nil {
		w.t.Fatalf("create %s %s: %v", kind, u.GetName(), err)
	}
}

// bind makes an AzureIdentity (type 0, the resource id) and a binding
// with the selector, both named name, in namespace.
func (w *world) bind(namespace, name, resourceID, selector string) {
	w.apply(identityGVR, "AzureIdentity", &podidentity.AzureIdentity{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace},
		Spec: podidentity.AzureIdentitySpec{Type: podidentity.UserAssignedIdentity, ResourceID: resourceID, ClientID: "client-of-" + name}})
	w.apply(bindingGVR, "AzureIdentityBinding", &podidentity.AzureIdentityBinding{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace},
		Spec: podidentity.AzureIdentityBindingSpec{AzureIdentity: name, Selector: selector}})
}

// pod schedules a pod with the aadpodidbinding label on a node and gives
// it an address, as the scheduler and the kubelet would.
func (w *world) pod(namespace, name, node, selector string) {
	w.t.Helper()
	ctx := context.Background()
	p, err := w.kube.Client.CoreV1().Pods(namespace).Create(ctx, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace, Labels: map[string]string{podidentity.BindingLabel: selector}},
		Spec:       corev1.PodSpec{NodeName: node, Containers: []corev1.Container{{Name: "app", Image: "demo"}}},
	}, metav1.CreateOptions{})
	if err != nil {
		w.t.Fatal(err)
	}
	p.Status.Phase, p.Status.PodIP = corev1.PodRunning, fmt.Sprintf("10.244.0.%d", len(name)+len(node))
	if _, err := w.kube.Client.CoreV1().Pods(namespace).UpdateStatus(ctx, p, metav1.UpdateOptions{}); err != nil {
		w.t.Fatal(err)
	}
}

func (w *world) deletePod(namespace, name string) {
	w.t.Helper()
	if err := w.kube.Client.CoreV1().Pods(namespace).Delete(context.Background(), name, metav1.DeleteOptions{GracePeriodSeconds: new(int64)}); err != nil {
		w.t.Fatal(err)
	}
}

// assigned reads an AzureAssignedIdentity; nil if there is none.
func (w *world) assigned(namespace, name string) *podidentity.AzureAssignedIdentity {
	w.t.Helper()
	u, err := w.dyn.Resource(assignedGVR).Namespace(namespace).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		return nil
	}
	var a podidentity.AzureAssignedIdentity
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, &a); err != nil {
		w.t.Fatal(err)
	}
	return &a
}

// status is an assignment's status, "absent" if there is none.
func (w *world) status(namespace, name string) string {
	if a := w.assigned(namespace, name); a != nil {
		return a.Status.Status
	}
	return "absent"
}

// eventually waits, up to a minute, for cond; it says what it waited for.
func (w *world) eventually(what string, cond func() bool) {
	w.t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			w.t.Fatalf("still not the case after a minute: %s", what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// nodeFile writes the node file with berth reached through the proxy.
func (w *world) nodeFile() string {
	n := w.node
	n.BerthServer, n.BerthCA = w.proxy.URL, w.proxy.CA
	b, err := json.Marshal(n)
	if err != nil {
		w.t.Fatal(err)
	}
	path := filepath.Join(w.nodeDir, "azure.json")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		w.t.Fatal(err)
	}
	return path
}

// run starts MIC in this process, with a short lease, until the test
// ends or stop is called (which releases the lease, as SIGTERM would).
func (w *world) run(o mic.Options) (reg *prometheus.Registry, stop func()) {
	w.t.Helper()
	n, err := cli.LoadNodeConfig(w.nodeFile())
	if err != nil {
		w.t.Fatal(err)
	}
	if o.Machines, err = mic.NewARM(n); err != nil {
		w.t.Fatal(err)
	}
	reg = prometheus.NewRegistry()
	o.Registerer = reg
	o.LeaseDuration, o.RenewDeadline, o.RetryPeriod = 3*time.Second, 2*time.Second, 200*time.Millisecond
	o.RetryBase, o.RetryMax = 100*time.Millisecond, 2*time.Second
	o.Log = slog.New(slog.NewTextHandler(testWriter{w.t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- mic.Run(ctx, w.kube.Config, o) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				w.t.Errorf("mic.Run: %v", err)
			}
		})
	}
	w.t.Cleanup(stop)
	return reg, stop
}

// micProcess is berth mic run as a process, to be killed.
type micProcess struct {
	cmd    *exec.Cmd
	stderr *bytes.Buffer
	done   chan struct{}
}

// start runs berth mic (the binary, with its default lease timing) until
// killed or the test ends.
func (w *world) start() *micProcess {
	w.t.Helper()
	cmd := exec.Command(berthtest.Binary(w.t), "mic", "--kubeconfig", w.kube.Kubeconfig, "--node-file", w.nodeFile(), "--log-level", "debug")
	m := &micProcess{cmd: cmd, stderr: &bytes.Buffer{}, done: make(chan struct{})}
	cmd.Stderr = &lockedWriter{w: m.stderr}
	if err := cmd.Start(); err != nil {
		w.t.Fatal(err)
	}
	go func() { cmd.Wait(); close(m.done) }()
	w.t.Cleanup(func() {
		m.kill()
		if w.t.Failed() {
			w.t.Logf("berth mic (pid %d) stderr:\n%s", cmd.Process.Pid, cmd.Stderr.(*lockedWriter).String())
		}
	})
	return m
}

// kill stops it with SIGKILL: no lease released, nothing finished.
func (m *micProcess) kill() {
	m.cmd.Process.Kill()
	<-m.done
}

type lockedWriter struct {
	mu sync.Mutex
	w  *bytes.Buffer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func (l *lockedWriter) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.String()
}

type testWriter struct{ t testing.TB }

func (tw testWriter) Write(p []byte) (int, error) {
	tw.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// counter reads a metric's value from a registry (summed over labels
// matching the given label values).
func counter(t *testing.T, reg *prometheus.Registry, name string, labels ...string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	metric:
		for _, m := range mf.GetMetric() {
			for i := 0; i+1 < len(labels); i += 2 {
				for _, lp := range m.GetLabel() {
					if lp.GetName() == labels[i] && lp.GetValue() != labels[i+1] {
						continue metric
					}
				}
			}
			switch {
			case m.GetCounter() != nil:
				sum += m.GetCounter().GetValue()
			case m.GetGauge() != nil:
				sum += m.GetGauge().GetValue()
			case m.GetHistogram() != nil:
				sum += float64(m.GetHistogram().GetSampleCount())
			}
		}
	}
	return sum
}

// proxy stands between MIC and berth, passing everything through, so
// that tests can do what berth does not: answer 429 with Retry-After
// (berth's management API does not throttle), and hold a machine change
// in flight while MIC is killed.
type proxy struct {
	*httptest.Server
	CA string

	mu sync.Mutex
	// throttle429 answers this many machine PATCHes with 429 and
	// Retry-After: retryAfter seconds.
	throttle429 int
	retryAfter  int
	// patches are when machine PATCHes reached berth (or were
	// throttled: then throttled is set).
	patches []patchSeen
	// hold, when set, receives each machine PATCH before it is passed
	// on; the PATCH waits for release to say whether it reaches berth
	// (true) or is answered 502 without reaching it (false).
	hold    chan string
	release chan bool
}

// holdPatches makes the next machine PATCH wait: the returned channel
// receives it, the test then sends whether it passes.
func (p *proxy) holdPatches() (held <-chan string, release chan<- bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.hold, p.release = make(chan string, 1), make(chan bool, 1)
	return p.hold, p.release
}

type patchSeen struct {
	at        time.Time
	throttled bool
}

func newProxy(t testing.TB, s *berthtest.Server) *proxy {
	target, _ := url.Parse(s.URL)
	rp := httputil.NewSingleHostReverseProxy(target)
	rp.Transport = &http.Transport{TLSClientConfig: s.TLSConfig()}
	p := &proxy{}
	p.Server = httptest.NewTLSServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPatch && strings.Contains(r.URL.Path, "/virtualMachines/") {
			p.mu.Lock()
			throttle := p.throttle429 > 0
			if throttle {
				p.throttle429--
			}
			p.patches = append(p.patches, patchSeen{at: time.Now(), throttled: throttle})
			hold, release, after := p.hold, p.release, p.retryAfter
			p.mu.Unlock()
			if throttle {
				rw.Header().Set("Retry-After", fmt.Sprint(after))
				rw.Header().Set("Content-Type", "application/json")
				rw.WriteHeader(http.StatusTooManyRequests)
				fmt.Fprint(rw, `{"error":{"code":"TooManyRequests","message":"throttled by the test's proxy"}}`)
				return
			}
			if hold != nil {
				p.mu.Lock()
				p.hold = nil // one PATCH is held; the next pass
				p.mu.Unlock()
				hold <- r.URL.Path
				if !<-release {
					http.Error(rw, "dropped by the test's proxy", http.StatusBadGateway)
					return
				}
				// The caller may be gone (killed); the change is
				// made all the same, as a request that reached the
				// server before its client died.
				// The proxy would cancel it when the caller goes
				// (its CloseNotifier): it sees only the writer.
				r = r.WithContext(context.WithoutCancel(r.Context()))
				rw = struct{ http.ResponseWriter }{rw}
			}
		}
		rp.ServeHTTP(rw, r)
	}))
	t.Cleanup(p.Close)
	p.CA = string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: p.Certificate().Raw}))
	return p
}
