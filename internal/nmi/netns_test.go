package nmi_test

import (
	"context"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/berthhq/berth/internal/imds"
	"github.com/berthhq/berth/internal/nmi"
	"github.com/berthhq/berth/internal/podidentity"
	"github.com/berthhq/berth/internal/testutil/berthtest"
	"github.com/berthhq/berth/internal/testutil/netnstest"
)

const (
	nodeName   = "node-1"
	hostIP     = "10.0.0.4"
	prefix     = "bnv" // the pods' interfaces on the node: bnv<pod>
	management = "https://management.azure.com/"
)

// node is a network namespace standing for a Kubernetes node, and one
// namespace per pod (netnstest).
type node struct {
	*netnstest.Node
	t    *testing.T
	name string
	pods map[string]string // pod name -> its namespace
}

func ip(t testing.TB, args ...string) { netnstest.IP(t, args...) }

// run runs a command in the node's namespace and returns its output.
func (n *node) run(args ...string) (string, error) {
	out, err := netnstest.Command(n.name, args[0], args[1:]...).CombinedOutput()
	return string(out), err
}

func (n *node) must(args ...string) string {
	n.t.Helper()
	out, err := n.run(args...)
	if err != nil {
		n.t.Fatalf("in the node: %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// newNode makes the node; its metadata agent answers on the metadata
// address, as on a cloud machine, and its own address needs no network
// here.
func newNode(t *testing.T) *node {
	netnstest.Require(t, "iptables", "curl")
	nn := netnstest.NewNode(t, "169.254.169.254", hostIP)
	return &node{Node: nn, t: t, name: nn.Name, pods: map[string]string{}}
}

// podNet makes pod's network: the node's end is bnv<pod>.
func (n *node) podNet(pod, addr string) string {
	ns := n.Pod(prefix+pod, addr)
	n.pods[pod] = ns
	return ns
}

func (n *node) rpFilter(iface string, v int) {
	n.t.Helper()
	n.must("sysctl", "-qw", "net.ipv4.conf."+iface+".rp_filter="+strconv.Itoa(v))
}

// inputPackets counts the packets the node's INPUT chain saw from a
// source on an interface to NMI's port: what got past routing, and so
// past reverse-path filtering, to NMI's socket.
func (n *node) countInput(iface, src string) func() int {
	n.t.Helper()
	rule := []string{"-i", iface, "-s", src, "-p", "tcp", "--dport", "2579"}
	n.must(append([]string{"iptables", "-w", "-I", "INPUT", "1"}, rule...)...)
	return func() int {
		n.t.Helper()
		out := n.must("iptables", "-w", "-n", "-v", "-x", "-L", "INPUT", "1")
		f := strings.Fields(out)
		if len(f) == 0 {
			n.t.Fatalf("no counting rule: %q", out)
		}
		v, err := strconv.Atoi(f[0])
		if err != nil {
			n.t.Fatalf("counting rule: %q", out)
		}
		return v
	}
}

func tokenURL(resource string, extra ...string) string {
	q := url.Values{"api-version": {"2018-02-01"}, "resource": {resource}}
	for i := 0; i+1 < len(extra); i += 2 {
		q.Set(extra[i], extra[i+1])
	}
	return "http://169.254.169.254" + imds.TokenPath + "?" + q.Encode()
}

// eventually waits, up to a minute, for cond on what a pod gets; the
// informers deliver changes soon, not at once.
func eventually(t *testing.T, what string, get func() answer, cond func(answer) bool) answer {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		a := get()
		if cond(a) {
			return a
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: still %s after a minute", what, a)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func status(code int) func(answer) bool {
	return func(a answer) bool { return a.err == nil && a.status == code }
}

// TestNMIOnANode: a node (network namespace) running berth imds and berth
// nmi for real, pods (namespaces with veths and /32 routes, Pod objects
// on a real API server) asking 169.254.169.254 with curl: each pod gets
// the tokens of its own assigned identities and of no other's, and a
// pod sending from another pod's address gets nothing, because of the
// reverse-path filtering NMI keeps; loosened, NMI serves nobody.
func TestNMIOnANode(t *testing.T) {
	n := newNode(t)
	c := newCluster(t)
	bin := berthtest.Binary(t)
	web, db := c.identity("web"), c.identity("database")
	vm, cred := c.machine(nodeName, web, db)
	spApp, spSecret := c.servicePrincipal("pod-sp")
	for _, addr := range []string{strings.TrimPrefix(c.kube.URL, "https://"), c.s.Host} {
		netnstest.Forward(t, n.name, addr)
	}

	start(t, "berth imds is serving at ", "ip", "netns", "exec", n.name, bin, "imds", "--vm", vm, "--credential", cred, "--log-level", "debug")
	a := n.podNet("a", "10.244.1.2")
	b := n.podNet("b", "10.244.1.3")
	cpod := n.podNet("c", "10.244.1.4")
	x := n.podNet("x", "10.244.1.5")
	d := n.podNet("d", "10.244.1.6")
	// What a killed NMI listening elsewhere left behind.
	n.must("iptables", "-w", "-N", nmi.Chain)
	n.must("iptables", "-w", "-A", nmi.Chain, "-j", "ACCEPT")
	n.must("iptables", "-w", "-A", "INPUT", "-p", "tcp", "--dport", "9999", "-j", nmi.Chain)
	nmiProc, addr := start(t, "berth nmi is serving at ", "ip", "netns", "exec", n.name, bin, "nmi", "--kubeconfig", c.kube.Kubeconfig,
		"--node-name", nodeName, "--host-ip", hostIP, "--metadata-agent", "http://169.254.169.254", "--interface-prefix", prefix,
		"--node-file", c.nodeFile(), "--log-level", "debug")
	if addr != "http://0.0.0.0:2579" {
		t.Fatalf("nmi serving at %s", addr)
	}
	if out := n.must("iptables", "-w", "-S", "INPUT"); strings.Count(out, nmi.Chain) != 1 || !strings.Contains(out, "--dport 2579 -j "+nmi.Chain) {
		t.Fatalf("NMI's jumps in INPUT, a killed NMI's replaced:\n%s", out)
	}
	if out := n.must("sysctl", "-n", "net.ipv4.conf."+prefix+"a.rp_filter", "net.ipv4.conf.default.rp_filter"); strings.Fields(out)[0] != "1" || strings.Fields(out)[1] != "1" {
		t.Fatalf("rp_filter of the pod interface and default after NMI started: %q", out)
	}

	c.pod("a", nodeName, "10.244.1.2", nil)
	c.pod("b", nodeName, "10.244.1.3", nil)
	c.pod("c", nodeName, "10.244.1.4", nil)
	// One of the exception's pairs, its value in other case, is enough,
	// as the original node agent matched them.
	c.pod("x", nodeName, "10.244.1.5", map[string]string{"component": "Kube-Proxy"})
	c.pod("d", nodeName, "10.244.1.6", nil)
	aWeb := c.assign("a", nodeName, userAssigned("web", web), podidentity.AssignedIDAssigned)
	cDB := c.assign("c", nodeName, userAssigned("database", db), podidentity.AssignedIDCreated)
	c.except("kube-proxy", map[string]string{"component": "kube-proxy", "tier": "node"})
	c.kube.Client.CoreV1().Secrets("default").Create(context.Background(), &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "pod-sp"},
		Data: map[string][]byte{"clientsecret": []byte(spSecret)}}, metav1.CreateOptions{})
	c.assign("d", nodeName, podidentity.AzureIdentity{ObjectMeta: metav1.ObjectMeta{Name: "pod-sp"}, Spec: podidentity.AzureIdentitySpec{
		Type: podidentity.ServicePrincipal, TenantID: c.s.Boot.TenantID, ClientID: spApp,
		ClientPassword: podidentity.SecretReference{Name: "pod-sp", Namespace: "default"}}}, podidentity.AssignedIDAssigned)

	get := func(ns string, target string) func() answer {
		return func() answer { return curl(t, ns, "-H", "Metadata: true", target) }
	}
	whose := func(r answer, oid, appid string) {
		t.Helper()
		tok, _ := r.body["access_token"].(string)
		cl := claims(t, tok)
		if cl["oid"] != oid || cl["appid"] != appid || r.body["client_id"] != appid || r.body["resource"] != management {
			t.Fatalf("the token is not the identity's (oid %s, appid %s): claims %v, answer %v", oid, appid, cl, r.body)
		}
		for _, f := range []string{"expires_in", "expires_on", "not_before", "token_type"} {
			if _, ok := r.body[f].(string); !ok {
				t.Fatalf("%s is not a string: %v", f, r.body)
			}
		}
	}

	t.Run("the pod's identity", func(t *testing.T) {
		r := eventually(t, "pod a's token", get(a, tokenURL(management)), status(200))
		whose(r, web.PrincipalID, web.ClientID)
		for _, sel := range [][]string{{"client_id", web.ClientID}, {"msi_res_id", web.ID}, {"mi_res_id", web.ID}, {"object_id", web.PrincipalID}} {
			r := curl(t, a, "-H", "Metadata: true", tokenURL(management, sel...))
			if r.status != 200 {
				t.Fatalf("by %s: %s", sel[0], r)
			}
			whose(r, web.PrincipalID, web.ClientID)
		}
		// db is on the machine, but not a's.
		for _, sel := range [][]string{{"client_id", db.ClientID}, {"msi_res_id", db.ID}, {"object_id", db.PrincipalID}} {
			if r := curl(t, a, "-H", "Metadata: true", tokenURL(management, sel...)); r.status != 403 || r.body["error_description"] == nil || !strings.Contains(r.raw, "not assigned to pod default/a") {
				t.Fatalf("another identity of the machine by %s: %s", sel[0], r)
			}
		}
		if r := curl(t, a, tokenURL(management)); r.status != 400 || !strings.Contains(r.raw, "Required metadata header not specified") {
			t.Fatalf("no Metadata header: %s", r)
		}
		if r := curl(t, a, "-H", "Metadata: true", "http://169.254.169.254/metadata/instance/compute?api-version=2021-02-01"); r.status != 200 || r.body["name"] != nodeName {
			t.Fatalf("instance metadata, passed to the node's agent: %s", r)
		}
		// The node agent's other token forms are not the pods'.
		if r := curl(t, a, "-H", "Metadata: true", "-d", "resource="+management, "http://169.254.169.254/oauth2/token"); r.status != 404 {
			t.Fatalf("MSI_ENDPOINT form through NMI: %s", r)
		}
	})

	t.Run("the cloud SDK in the pod", func(t *testing.T) {
		cmd := exec.Command("ip", "netns", "exec", a, os.Args[0], "-test.run", "^TestSDKInPod$", "-test.v", "-test.count=1")
		cmd.Env = podClientEnv()
		out, err := cmd.CombinedOutput()
		if err != nil || !strings.Contains(string(out), "--- PASS: TestSDKInPod") || !strings.Contains(string(out), "oid="+web.PrincipalID) {
			t.Fatalf("ManagedIdentityCredential in pod a: %v\n%s", err, out)
		}
	})

	t.Run("a pod with no identity", func(t *testing.T) {
		r := eventually(t, "pod b", get(b, tokenURL(management)), status(404))
		if !strings.Contains(r.raw, "No identity is assigned to pod default/b") {
			t.Fatalf("pod b: %s", r)
		}
	})

	t.Run("an assignment not yet made", func(t *testing.T) {
		r := eventually(t, "pod c, Created", get(cpod, tokenURL(management)), status(503))
		if r.header.Get("Retry-After") != "5" || !strings.Contains(r.raw, "being assigned") {
			t.Fatalf("pod c, Created: %s %v", r, r.header)
		}
		c.assignedStatus(cDB, podidentity.AssignedIDAssigned)
		whose(eventually(t, "pod c, Assigned", get(cpod, tokenURL(management)), status(200)), db.PrincipalID, db.ClientID)
		// Two identities and none named: the pod must say which.
		cWeb := c.assign("c", nodeName, userAssigned("web", web), podidentity.AssignedIDAssigned)
		r = eventually(t, "pod c, two identities", get(cpod, tokenURL(management)), status(400))
		if !strings.Contains(r.raw, "name one with client_id") {
			t.Fatalf("two identities: %s", r)
		}
		whose(curl(t, cpod, "-H", "Metadata: true", tokenURL(management, "client_id", web.ClientID)), web.PrincipalID, web.ClientID)
		// Taken away: refused from the next request the informer allows,
		// though the token is in NMI's cache.
		c.unassign(cWeb)
		eventually(t, "pod c, web unassigned", get(cpod, tokenURL(management, "client_id", web.ClientID)), status(403))
	})

	t.Run("an assignment deleted", func(t *testing.T) {
		c.unassign(aWeb)
		eventually(t, "pod a, unassigned", get(a, tokenURL(management)), status(404))
	})

	t.Run("an excepted pod", func(t *testing.T) {
		// The machine has two identities and no system one: the node's
		// agent wants one named; x has no assignment, so only the
		// agent's answer can be a token.
		r := eventually(t, "pod x", get(x, tokenURL(management, "client_id", db.ClientID)), status(200))
		whose(r, db.PrincipalID, db.ClientID)
		if r := curl(t, x, "-H", "Metadata: true", "-d", "resource="+management, "http://169.254.169.254/oauth2/token?client_id="+db.ClientID); r.status != 200 {
			t.Fatalf("an excepted pod's every request goes to the agent: %s", r)
		}
	})

	t.Run("a service principal", func(t *testing.T) {
		r := eventually(t, "pod d", get(d, tokenURL(management)), status(200))
		if cl := claims(t, r.body["access_token"].(string)); cl["appid"] != spApp || r.body["client_id"] != spApp {
			t.Fatalf("pod d's token is not the service principal's: %v %v", cl, r.body)
		}
	})

	t.Run("the node's host token path", func(t *testing.T) {
		out := n.must("curl", "-s", "--max-time", "5", "-H", "podname: d", "-H", "podns: default", "-H", "resource: "+management, "http://127.0.0.1:2579"+nmi.HostTokenPath)
		if !strings.Contains(out, `"client_id":"`+spApp+`"`) {
			t.Fatalf("host token for pod d: %s", out)
		}
		// A pod reaching NMI's port directly is not the node.
		if r := curl(t, d, "-H", "podname: d", "-H", "podns: default", "-H", "resource: "+management, "http://"+hostIP+":2579"+nmi.HostTokenPath); r.status != 404 || r.body["access_token"] != nil {
			t.Fatalf("host token path from a pod: %s", r)
		}
	})

	t.Run("spoofing", func(t *testing.T) {
		// Pod b takes pod c's address and asks from it.
		ip(t, "-n", b, "addr", "add", "10.244.1.4/32", "dev", "eth0")
		spoofed := n.countInput(prefix+"b", "10.244.1.4")
		spoof := func() answer {
			return curl(t, b, "--interface", "10.244.1.4", "--max-time", "2", "-H", "Metadata: true", tokenURL(management))
		}
		if r := spoof(); r.err == nil {
			t.Fatalf("pod b sending as pod c got an answer: %s", r)
		}
		if got := spoofed(); got != 0 {
			t.Fatalf("%d packets from pod b with pod c's address reached NMI's port under strict filtering", got)
		}

		// Filtering off on b's interface: the forged packets get through to
		// NMI's port, and NMI, seeing it, serves nobody. (Loose mode is no
		// test of this: on an interface with no address of its own, as a
		// pod's veth on the node, the kernel rejects a source routed
		// elsewhere in loose mode too.)
		n.rpFilter(prefix+"b", 0)
		r := eventually(t, "pod c, b's interface unfiltered", get(cpod, tokenURL(management)), status(503))
		if !strings.Contains(r.raw, "reverse-path filtering is not strict") || !strings.Contains(r.raw, prefix+"b") {
			t.Fatalf("pod c while b's interface is unfiltered: %s", r)
		}
		spoof()
		if spoofed() == 0 {
			t.Fatalf("with filtering off no forged packet got through: the spoofing test proves nothing")
		}
		if !strings.Contains(nmiProc.logged(), "refusing to serve pods") {
			t.Fatalf("NMI did not log its refusal:\n%s", nmiProc.logged())
		}
		n.rpFilter(prefix+"b", 1)
		eventually(t, "pod c, b's interface strict again", get(cpod, tokenURL(management)), status(200))

		// "all" loose makes every interface loose whatever its own value.
		n.must("sysctl", "-qw", "net.ipv4.conf.all.rp_filter=2")
		eventually(t, "pod c, all loose", get(cpod, tokenURL(management)), status(503))
		n.must("sysctl", "-qw", "net.ipv4.conf.all.rp_filter=0")
		eventually(t, "pod c, all off, the interface strict", get(cpod, tokenURL(management)), status(200))
	})

	t.Run("stopping removes the rules", func(t *testing.T) {
		if out := n.must("iptables", "-w", "-t", "nat", "-S", "PREROUTING"); !strings.Contains(out, "-j "+nmi.Chain) {
			t.Fatalf("no jump to NMI's chain while it runs:\n%s", out)
		}
		nmiProc.stop()
		for _, table := range []string{"nat", "filter"} {
			if out, err := n.run("iptables", "-w", "-t", table, "-S"); err != nil || strings.Contains(out, nmi.Chain) {
				t.Fatalf("%s table after NMI stopped (%v):\n%s", table, err, out)
			}
		}
		logged := nmiProc.logged()
		if strings.Contains(logged, "eyJ") || strings.Contains(logged, spSecret) {
			t.Fatalf("NMI logged a token or a secret:\n%s", logged)
		}
	})
}

// TestNMIRefusesBridges: on a bridge (kubenet) reverse-path filtering
// cannot tell pods apart, so berth nmi does not start where a pod
// interface is a bridge or a bridge's port, unless told to.
func TestNMIRefusesBridges(t *testing.T) {
	n := newNode(t)
	bin := berthtest.Binary(t)
	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	// Never reached: NMI checks the node before it lists anything.
	os.WriteFile(kubeconfig, []byte("apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: \"https://127.0.0.1:1\"}}]\n"+
		"contexts: [{name: c, context: {cluster: c, user: u}}]\ncurrent-context: c\nusers: [{name: u, user: {token: x}}]\n"), 0o600)
	nmiOn := func(prefixes ...string) (string, error) {
		args := []string{"nmi", "--kubeconfig", kubeconfig, "--node-name", nodeName, "--host-ip", hostIP, "--metadata-agent", "http://169.254.169.254"}
		for _, p := range prefixes {
			args = append(args, "--interface-prefix", p)
		}
		return n.run(append([]string{bin}, args...)...)
	}
	ip(t, "-n", n.name, "link", "add", "cbr0", "type", "bridge")
	if out, err := nmiOn("cbr0"); err == nil || !strings.Contains(out, "the pod interface cbr0 is a bridge") || !strings.Contains(out, "--allow-bridge") {
		t.Fatalf("berth nmi on a bridge: %v\n%s", err, out)
	}
	ip(t, "-n", n.name, "link", "add", "veth1", "type", "veth", "peer", "name", "veth1p")
	ip(t, "-n", n.name, "link", "set", "veth1", "master", "cbr0")
	if out, err := nmiOn("veth"); err == nil || !strings.Contains(out, "the pod interface veth1 is a bridge's port") {
		t.Fatalf("berth nmi on a bridge's port: %v\n%s", err, out)
	}
	if out, err := n.run("iptables", "-w", "-t", "nat", "-S"); err != nil || strings.Contains(out, nmi.Chain) {
		t.Fatalf("a refused NMI left rules (%v):\n%s", err, out)
	}
	if out := n.must("sysctl", "-n", "net.ipv4.conf.default.rp_filter"); strings.TrimSpace(out) != "0" {
		t.Fatalf("a refused NMI changed the node's filtering: default rp_filter %s", out)
	}
}
