package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/berthhq/berth/internal/podidentity"
	"github.com/berthhq/berth/internal/testutil/berthtest"
	"github.com/berthhq/berth/internal/testutil/kubetest"
	"github.com/berthhq/berth/internal/testutil/netnstest"
)

// TestPodManagedIdentityScenario is scenario S5 as the documents write it,
// with every part real but the kubelet: a real API server, berth, and a
// node (a network namespace registered as a Node and as a berth virtual
// machine with the kubelet identity) running berth imds, berth mic and
// berth nmi; the pod is a namespace with a veth into the node, registered
// as a Pod whose address the test writes as the kubelet would. The steps:
// enable pod identity, create the identity, let it manage the node
// group's machines, berth aks pod-identity add, the labelled demo pod
// logs the demo image's four lines through 169.254.169.254, an unlabelled
// pod gets nothing; then the clean-up: the pod identity deleted takes the
// identity off the node's machine (the kubelet identity stays) and the
// pod's tokens stop, and pod identity is disabled.
func TestPodManagedIdentityScenario(t *testing.T) {
	netnstest.Require(t, "iptables", "curl")
	kube := kubetest.Start(t, kubetest.Options{})
	s := startBerth(t)
	run := adminCLI(t, s).run
	bin := berthtest.Binary(t)
	kubectl := func(args ...string) string { return strings.TrimSpace(kube.Kubectl(t, args...)) }
	kubectl("apply", "-f", filepath.Join("..", "docs", "pod-identity-crds.yaml"))
	kubectl("wait", "--for", "condition=established", "--timeout", "60s", "crd/azureidentities."+podidentity.Group,
		"crd/azureidentitybindings."+podidentity.Group, "crd/azureassignedidentities."+podidentity.Group, "crd/azurepodidentityexceptions."+podidentity.Group)
	// No controller manager makes the namespace's default service account.
	kubectl("create", "namespace", "my-app")
	kubectl("create", "serviceaccount", "default", "-n", "my-app")

	// 1. The cluster, with pod identity.
	run("group", "create", "-n", "myResourceGroup", "-l", "westeurope", "-o", "none")
	run("aks", "create", "-g", "myResourceGroup", "-n", "myAKSCluster", "--enable-managed-identity", "-o", "none")
	run("aks", "update", "-g", "myResourceGroup", "-n", "myAKSCluster", "--enable-pod-identity", "--kubeconfig", kube.Kubeconfig, "-o", "none")
	kubelet := run("aks", "show", "-g", "myResourceGroup", "-n", "myAKSCluster", "--query", "identityProfile.kubeletidentity.resourceId", "-o", "tsv")
	kubeletObject := run("aks", "show", "-g", "myResourceGroup", "-n", "myAKSCluster", "--query", "identityProfile.kubeletidentity.objectId", "-o", "tsv")

	// The node: its machine has the kubelet identity, and the kubelet
	// identity (which berth mic acts as) manages the node group's
	// machines, as the cloud's cluster identity does its node group.
	run("group", "create", "-n", "nodes", "-l", "westeurope", "-o", "none")
	nodes := run("group", "show", "-n", "nodes", "--query", "id", "-o", "tsv")
	run("role", "assignment", "create", "--assignee", kubeletObject, "--role", "Virtual Machine Contributor", "--scope", nodes, "-o", "none")
	dir := t.TempDir()
	credential := filepath.Join(dir, "aks-node-0.json")
	vm := run("vm", "create", "-g", "nodes", "-n", "aks-node-0", "--assign-identity", kubelet, "--credential-file", credential, "--query", "id", "-o", "tsv")
	if _, err := kube.Client.CoreV1().Nodes().Create(t.Context(), &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: "aks-node-0"}, Spec: corev1.NodeSpec{ProviderID: "azure://" + vm},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	nodeFile := filepath.Join(dir, "azure.json")
	run("aks", "get-node-config", "-g", "myResourceGroup", "-n", "myAKSCluster", "--file", nodeFile, "-o", "none")

	const hostIP = "10.240.0.4"
	node := netnstest.NewNode(t, "169.254.169.254", hostIP)
	for _, addr := range []string{strings.TrimPrefix(kube.URL, "https://"), s.Host} {
		netnstest.Forward(t, node.Name, addr)
	}
	gv := podidentity.GroupVersion
	kube.WaitServed(t, gv.WithResource(podidentity.AssignedIdentitiesResource), gv.WithResource(podidentity.ExceptionsResource))
	inNode := func(args ...string) []string { return append([]string{"netns", "exec", node.Name, bin}, args...) }
	_, stopIMDS, err := startServing("ip", inNode("imds", "--vm", vm, "--credential", credential)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if logged := stopIMDS(); t.Failed() {
			t.Logf("berth imds:\n%s", logged)
		}
	})
	mic := exec.Command("ip", inNode("mic", "--kubeconfig", kube.Kubeconfig, "--node-file", nodeFile)...)
	micLog := filepath.Join(dir, "mic.log")
	f, err := os.Create(micLog)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	mic.Stderr = f
	if err := mic.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		mic.Process.Kill()
		mic.Wait()
		if t.Failed() {
			b, _ := os.ReadFile(micLog)
			t.Logf("berth mic:\n%s", b)
		}
	})
	_, stopNMI, err := startServing("ip", inNode("nmi", "--kubeconfig", kube.Kubeconfig, "--node-name", "aks-node-0", "--host-ip", hostIP,
		"--metadata-agent", "http://169.254.169.254", "--interface-prefix", "azv")...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if logged := stopNMI(); t.Failed() {
			t.Logf("berth nmi:\n%s", logged)
		}
	})

	// 2-4. The identity, its role on the node group, the pod identity.
	run("group", "create", "-n", "myIdentityResourceGroup", "-l", "westeurope", "-o", "none")
	run("identity", "create", "-g", "myIdentityResourceGroup", "-n", "application-identity", "-o", "none")
	clientID := run("identity", "show", "-g", "myIdentityResourceGroup", "-n", "application-identity", "--query", "clientId", "-o", "tsv")
	identityID := run("identity", "show", "-g", "myIdentityResourceGroup", "-n", "application-identity", "--query", "id", "-o", "tsv")
	run("role", "assignment", "create", "--role", "Virtual Machine Contributor", "--assignee", clientID, "--scope", nodes, "-o", "none")
	// pod-identity add gives the cluster's identity Managed Identity
	// Operator on the identity, as the cloud's CLI does for its managed
	// controller; berth mic runs on the nodes as the kubelet identity,
	// which the operator gives the role on the identities' group and on
	// itself (a machine's identities are written as a whole, its own
	// among them).
	identities := run("group", "show", "-n", "myIdentityResourceGroup", "--query", "id", "-o", "tsv")
	for _, scope := range []string{identities, kubelet} {
		run("role", "assignment", "create", "--assignee", kubeletObject, "--role", "Managed Identity Operator", "--scope", scope, "-o", "none")
	}
	run("aks", "pod-identity", "add", "--resource-group", "myResourceGroup", "--cluster-name", "myAKSCluster", "--namespace", "my-app",
		"--name", "my-pod-identity", "--identity-resource-id", identityID, "--kubeconfig", kube.Kubeconfig, "-o", "none")
	if out := kubectl("get", "azureidentity", "-n", "my-app"); !strings.Contains(out, "my-pod-identity") {
		t.Fatalf("kubectl get azureidentity -n my-app:\n%s", out)
	}

	// 5. The demo pod, and one without the label.
	pod := func(name, addr string, labels map[string]string) string {
		t.Helper()
		ns := node.Pod("azv"+name, addr)
		netnstest.Forward(t, ns, s.Host)
		p, err := kube.Client.CoreV1().Pods("my-app").Create(t.Context(), &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels},
			Spec:       corev1.PodSpec{NodeName: "aks-node-0", Containers: []corev1.Container{{Name: name, Image: "demo"}}},
		}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		p.Status.Phase, p.Status.PodIP, p.Status.HostIP = corev1.PodRunning, addr, hostIP
		if _, err := kube.Client.CoreV1().Pods("my-app").UpdateStatus(t.Context(), p, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		return ns
	}
	demo := pod("demo", "10.244.0.10", map[string]string{podidentity.BindingLabel: "my-pod-identity"})
	other := pod("other", "10.244.0.11", nil)
	waitFor(t, time.Minute, "the demo pod's identity Assigned", func() bool {
		return strings.Contains(kubectlMaybe(kube, "get", "azureassignedidentity", "-n", "my-app", "-o", "jsonpath={.items[*].status.status}"), podidentity.AssignedIDAssigned)
	})
	sub := run("account", "show", "--query", "id", "-o", "tsv")
	out, err := netnstest.Command(demo, bin, "demo", "pod-identity", "--once", "--subscriptionid="+sub, "--clientid="+clientID,
		"--resourcegroup=nodes", "--management-endpoint", s.URL, "--ca-file", s.CAFile).CombinedOutput()
	if err != nil {
		t.Fatalf("the demo: %v\n%s", err, out)
	}
	for _, line := range []string{
		"successfully doARMOperations vm count 1\n",
		"successfully acquired a token using the MSI, msiEndpoint(http://169.254.169.254/metadata/identity/oauth2/token)\n",
		"successfully acquired a token, userAssignedID MSI, msiEndpoint(http://169.254.169.254/metadata/identity/oauth2/token) clientID(" + clientID + ")\n",
		"successfully made GET on instance metadata\n",
	} {
		if !strings.Contains(string(out), line) {
			t.Errorf("the demo's log has no %q:\n%s", line, out)
		}
	}
	tokenURL := "http://169.254.169.254/metadata/identity/oauth2/token?api-version=2018-02-01&resource=https%3A%2F%2Fmanagement.azure.com%2F"
	status := func(ns string) string {
		out, _ := netnstest.Command(ns, "curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "-m", "5", "-H", "Metadata: true", tokenURL).Output()
		return string(out)
	}
	if got := status(other); got != "404" {
		t.Errorf("the unlabelled pod's token request: %s, want 404", got)
	}

	// 7. Clean up: the pod identity goes, and with it the identity from
	// the node's machine and the pod's tokens; the kubelet identity stays.
	run("aks", "pod-identity", "delete", "--resource-group", "myResourceGroup", "--cluster-name", "myAKSCluster", "--namespace", "my-app",
		"--name", "my-pod-identity", "--kubeconfig", kube.Kubeconfig)
	waitFor(t, time.Minute, "the identity off the node's machine", func() bool {
		ids := strings.ToLower(run("vm", "identity", "show", "-g", "nodes", "-n", "aks-node-0", "-o", "json"))
		return !strings.Contains(ids, strings.ToLower(identityID)) && strings.Contains(ids, strings.ToLower(kubelet))
	})
	waitFor(t, 30*time.Second, "the demo pod's tokens refused", func() bool { return status(demo) == "404" })
	run("aks", "update", "-g", "myResourceGroup", "-n", "myAKSCluster", "--disable-pod-identity", "--kubeconfig", kube.Kubeconfig, "-o", "none")
	if got := run("aks", "show", "-g", "myResourceGroup", "-n", "myAKSCluster", "--query", "podIdentityProfile.enabled", "-o", "tsv"); got != "False" {
		t.Errorf("podIdentityProfile.enabled after --disable-pod-identity: %q", got)
	}
}

// kubectlMaybe is kubectl's output, or "" when it fails.
func kubectlMaybe(kube *kubetest.Cluster, args ...string) string {
	out, _ := exec.Command("kubectl", append([]string{"--kubeconfig", kube.Kubeconfig}, args...)...).Output()
	return string(out)
}
