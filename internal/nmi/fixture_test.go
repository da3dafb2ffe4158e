package nmi_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	kruntime "k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/dynamic"

	"github.com/berthhq/berth/internal/podidentity"
	"github.com/berthhq/berth/internal/testutil/berthtest"
	"github.com/berthhq/berth/internal/testutil/kubetest"
)

func TestMain(m *testing.M) { berthtest.Main(m) }

var (
	assignedGVR  = podidentity.AssignedIdentitiesGVR
	exceptionGVR = podidentity.ExceptionsGVR
)

// cluster is a real API server with the pod identity definitions and a
// real berth with a resource group "nodes", driven by the test as the
// administrator. No kubelet or controller runs: the test writes Pods and
// AzureAssignedIdentities as the kubelet and MIC would.
type cluster struct {
	t      testing.TB
	kube   *kubetest.Cluster
	dyn    dynamic.Interface
	s      *berthtest.Server
	config string // the administrator's CLI configuration
	dir    string
}

func newCluster(t testing.TB) *cluster {
	t.Helper()
	c := &cluster{t: t, kube: kubetest.Start(t, kubetest.Options{}), s: berthtest.Start(t), config: t.TempDir(), dir: t.TempDir()}
	var err error
	if c.dyn, err = dynamic.NewForConfig(c.kube.Config); err != nil {
		t.Fatal(err)
	}
	c.kubectl("apply", "-f", filepath.Join("..", "..", "docs", "pod-identity-crds.yaml"))
	c.kubectl("wait", "--for", "condition=established", "--timeout", "60s", "crd/azureassignedidentities."+podidentity.Group,
		"crd/azurepodidentityexceptions."+podidentity.Group)
	c.kube.WaitServed(t, assignedGVR, exceptionGVR)
	c.berth("login", "--data-dir", c.s.DataDir, "-o", "none")
	c.berth("group", "create", "-n", "nodes", "-l", "here", "-o", "none")
	return c
}

func (c *cluster) kubectl(args ...string) string { return c.kube.Kubectl(c.t, args...) }

// berth runs the CLI as the administrator and returns its trimmed stdout.
func (c *cluster) berth(args ...string) string { return berthtest.CLI(c.t, c.config, args...) }

// identity is a user-assigned identity as the cloud shows it.
type identity struct {
	ID          string `json:"id"`
	ClientID    string `json:"clientId"`
	PrincipalID string `json:"principalId"`
}

func (c *cluster) identity(name string) identity {
	c.t.Helper()
	var id identity
	if err := json.Unmarshal([]byte(c.berth("identity", "create", "-g", "nodes", "-n", name, "-o", "json")), &id); err != nil || id.ClientID == "" {
		c.t.Fatalf("identity create %s: %v", name, err)
	}
	return id
}

// machine makes the node's virtual machine with the identities and
// returns its resource id and the path of its credential file.
func (c *cluster) machine(name string, ids ...identity) (string, string) {
	c.t.Helper()
	cred := filepath.Join(c.dir, name+".json")
	args := []string{"vm", "create", "-g", "nodes", "-n", name, "--credential-file", cred, "--query", "id", "-o", "tsv", "--assign-identity"}
	for _, id := range ids {
		args = append(args, id.ID)
	}
	return c.berth(args...), cred
}

// servicePrincipal makes an application with a service principal and a
// secret; its app id and secret.
func (c *cluster) servicePrincipal(name string) (string, string) {
	app := c.berth("ad", "app", "create", "--display-name", name, "--query", "appId", "-o", "tsv")
	c.berth("ad", "sp", "create", "--id", app, "-o", "none")
	return app, c.berth("ad", "app", "credential", "reset", "--id", app, "--query", "password", "-o", "tsv")
}

// nodeFile writes a node file that says where berth is.
func (c *cluster) nodeFile() string {
	c.t.Helper()
	ca, err := os.ReadFile(c.s.CAFile)
	if err != nil {
		c.t.Fatal(err)
	}
	b, _ := json.Marshal(map[string]any{"cloud": "berth", "tenantId": c.s.Boot.TenantID, "subscriptionId": c.s.Boot.SubscriptionID,
		"resourceGroup": "nodes", "useManagedIdentityExtension": true, "berthServer": c.s.URL, "berthCA": string(ca), "registrySuffix": "cr.localhost"})
	path := filepath.Join(c.dir, "azure.json")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		c.t.Fatal(err)
	}
	return path
}

// pod schedules a pod on node with an address, as the scheduler and the
// kubelet would.
func (c *cluster) pod(name, node, ip string, labels map[string]string) {
	c.t.Helper()
	ctx := context.Background()
	p, err := c.kube.Client.CoreV1().Pods("default").Create(ctx, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels},
		Spec:       corev1.PodSpec{NodeName: node, Containers: []corev1.Container{{Name: "app", Image: "demo"}}},
	}, metav1.CreateOptions{})
	if err != nil {
		c.t.Fatal(err)
	}
	p.Status.Phase, p.Status.PodIP, p.Status.PodIPs = corev1.PodRunning, ip, []corev1.PodIP{{IP: ip}}
	if _, err := c.kube.Client.CoreV1().Pods("default").UpdateStatus(ctx, p, metav1.UpdateOptions{}); err != nil {
		c.t.Fatal(err)
	}
}

// assign writes the AzureAssignedIdentity MIC would for a pod of the
// default namespace, with the status given; its name.
func (c *cluster) assign(pod, node string, id podidentity.AzureIdentity, status string) string {
	c.t.Helper()
	name := pod + "-default-" + id.Name
	id.Namespace = "default"
	a := &podidentity.AzureAssignedIdentity{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", Labels: map[string]string{"nodename": node}},
		Spec: podidentity.AzureAssignedIdentitySpec{Pod: pod, PodNamespace: "default", NodeName: node, AzureIdentityRef: &id,
			AzureBindingRef: &podidentity.AzureIdentityBinding{ObjectMeta: metav1.ObjectMeta{Name: id.Name, Namespace: "default"},
				Spec: podidentity.AzureIdentityBindingSpec{AzureIdentity: id.Name, Selector: id.Name}}},
	}
	a.Spec.AzureIdentityRef.APIVersion, a.Spec.AzureIdentityRef.Kind = podidentity.GroupVersion.String(), "AzureIdentity"
	a.Spec.AzureBindingRef.APIVersion, a.Spec.AzureBindingRef.Kind = podidentity.GroupVersion.String(), "AzureIdentityBinding"
	u := c.unstructured(a, "AzureAssignedIdentity")
	ctx := context.Background()
	created, err := c.dyn.Resource(assignedGVR).Namespace("default").Create(ctx, u, metav1.CreateOptions{})
	if err != nil {
		c.t.Fatalf("create AzureAssignedIdentity %s: %v", name, err)
	}
	c.setStatus(created, status)
	return name
}

// setStatus writes an assignment's status through its subresource.
func (c *cluster) setStatus(u *unstructured.Unstructured, status string) {
	c.t.Helper()
	unstructured.SetNestedField(u.Object, status, "status", "status")
	if _, err := c.dyn.Resource(assignedGVR).Namespace(u.GetNamespace()).UpdateStatus(context.Background(), u, metav1.UpdateOptions{}); err != nil {
		c.t.Fatalf("status of %s: %v", u.GetName(), err)
	}
}

func (c *cluster) assignedStatus(name, status string) {
	c.t.Helper()
	u, err := c.dyn.Resource(assignedGVR).Namespace("default").Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		c.t.Fatal(err)
	}
	c.setStatus(u, status)
}

func (c *cluster) unassign(name string) {
	c.t.Helper()
	if err := c.dyn.Resource(assignedGVR).Namespace("default").Delete(context.Background(), name, metav1.DeleteOptions{}); err != nil {
		c.t.Fatal(err)
	}
}

func (c *cluster) except(name string, labels map[string]string) {
	c.t.Helper()
	u := c.unstructured(&podidentity.AzurePodIdentityException{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"},
		Spec: podidentity.AzurePodIdentityExceptionSpec{PodLabels: labels}}, "AzurePodIdentityException")
	if _, err := c.dyn.Resource(exceptionGVR).Namespace("default").Create(context.Background(), u, metav1.CreateOptions{}); err != nil {
		c.t.Fatal(err)
	}
}

func (c *cluster) unstructured(obj any, kind string) *unstructured.Unstructured {
	c.t.Helper()
	m, err := kruntime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		c.t.Fatal(err)
	}
	u := &unstructured.Unstructured{Object: m}
	u.SetAPIVersion(podidentity.GroupVersion.String())
	u.SetKind(kind)
	unstructured.RemoveNestedField(u.Object, "metadata", "creationTimestamp")
	for _, ref := range []string{"azureIdentityRef", "azureBindingRef"} {
		unstructured.RemoveNestedField(u.Object, "spec", ref, "metadata", "creationTimestamp")
	}
	unstructured.RemoveNestedField(u.Object, "status")
	return u
}

// userAssigned is the AzureIdentity of a user-assigned identity.
func userAssigned(name string, id identity) podidentity.AzureIdentity {
	return podidentity.AzureIdentity{ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: podidentity.AzureIdentitySpec{Type: podidentity.UserAssignedIdentity, ResourceID: id.ID, ClientID: id.ClientID}}
}

// claims are a JWT's claims, unverified: the tokens come from the real
// berth of the test, and what is checked is whose they are.
func claims(t testing.TB, token string) map[string]any {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %d parts", len(parts))
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var c map[string]any
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	return c
}

// process is a berth command run until the test ends.
type process struct {
	cmd  *exec.Cmd
	log  *os.File
	done chan struct{}
	once sync.Once
}

// start runs argv (berth, possibly under ip netns exec) and waits for
// the line "<ready>http://ADDR" on its stdout; it returns the address.
func start(t testing.TB, ready string, argv ...string) (*process, string) {
	t.Helper()
	cmd := exec.Command(argv[0], argv[1:]...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	p := &process{cmd: cmd, done: make(chan struct{})}
	if p.log, err = os.CreateTemp(t.TempDir(), "log-"); err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = p.log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		p.stop()
		if t.Failed() {
			t.Logf("%s log:\n%s", strings.Join(argv, " "), p.logged())
		}
	})
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if a, ok := strings.CutPrefix(sc.Text(), ready); ok {
				addr <- a
			}
		}
		io.Copy(io.Discard, stdout)
	}()
	select {
	case a := <-addr:
		return p, a
	case <-p.done:
		t.Fatalf("%s exited:\n%s", strings.Join(argv, " "), p.logged())
	// A loaded API server can take a minute and more to serve custom
	// resources it has just defined.
	case <-time.After(3 * time.Minute):
		t.Fatalf("%s not ready after 3 minutes:\n%s", strings.Join(argv, " "), p.logged())
	}
	panic("unreachable")
}

// stop ends it as its supervisor would, with SIGTERM.
func (p *process) stop() {
	p.once.Do(func() {
		p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(15 * time.Second):
			p.cmd.Process.Kill()
			<-p.done
		}
	})
}

func (p *process) logged() string {
	b, _ := os.ReadFile(p.log.Name())
	return string(b)
}

// answer is an HTTP answer, as curl got it.
type answer struct {
	status int
	header http.Header
	body   map[string]any
	raw    string
	err    error // curl failed: no answer
}

func (a answer) String() string {
	if a.err != nil {
		return "no answer: " + a.err.Error()
	}
	return fmt.Sprintf("%d %s", a.status, a.raw)
}

// curl runs curl in the network namespace ns, as an unmodified client in
// a pod, and parses its answer.
func curl(t testing.TB, ns string, args ...string) answer {
	t.Helper()
	argv := append([]string{"netns", "exec", ns, "curl", "-s", "-i", "--max-time", "5"}, args...)
	out, err := exec.Command("ip", argv...).Output()
	if err != nil {
		return answer{err: err}
	}
	resp, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(out)), nil)
	if err != nil {
		t.Fatalf("curl's answer: %v\n%s", err, out)
	}
	b, _ := io.ReadAll(resp.Body)
	a := answer{status: resp.StatusCode, header: resp.Header, raw: string(b)}
	json.Unmarshal(b, &a.body)
	return a
}
