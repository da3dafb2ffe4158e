package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/berthhq/berth/internal/podidentity"
	"github.com/berthhq/berth/internal/resourcetype"
	"github.com/berthhq/berth/internal/testutil/kubetest"
)

// TestPodIdentityCLI: berth aks update --enable-pod-identity and berth
// aks pod-identity, against a real berth and a real API server: the
// cluster's profile, the Managed Identity Operator grant and the
// addon's objects in the cluster (read back with kubectl), the cloud's
// limit of 200, a cluster write that fails after the management write
// and is finished by running the command again, bad input that changes
// nothing; then the migration to workload identity, printed and applied
// with kubectl, applied by berth, and a token exchange for the migrated
// service account with the cloud SDK's workload identity credential.
func TestPodIdentityCLI(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	e := newIdentityEnv(t, "podidregistry")
	admin := adminCLI(t, e.s)
	run := e.run
	run("group", "create", "-n", "clusters", "-l", "westeurope", "-o", "none")
	run("aks", "create", "-g", "clusters", "-n", "pods", "--enable-managed-identity", "--enable-oidc-issuer", "--enable-workload-identity", "-o", "none")
	iss := run("aks", "show", "-g", "clusters", "-n", "pods", "--query", "oidcIssuerProfile.issuerUrl", "-o", "tsv")
	cluster := kubetest.Start(t, kubetest.Options{Issuer: iss, Audiences: []string{tokenExchangeAudience}})
	run("aks", "update", "-g", "clusters", "-n", "pods", "--service-account-keys", cluster.ServiceAccountPublicKeyFile, "-o", "none")
	kc := []string{"--kubeconfig", cluster.Kubeconfig}
	aks := func(args ...string) []string {
		return append(append(args, "-g", "clusters", "--cluster-name", "pods"), kc...)
	}
	kubectl := func(args ...string) (string, error) {
		t.Helper()
		cmd := exec.Command("kubectl", append([]string{"--kubeconfig", cluster.Kubeconfig}, args...)...)
		cmd.Env = append(os.Environ(), "HOME="+t.TempDir())
		out, err := cmd.CombinedOutput()
		return strings.TrimSpace(string(out)), err
	}
	mustKubectl := func(args ...string) string {
		t.Helper()
		out, err := kubectl(args...)
		if err != nil {
			t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return out
	}
	refused := func(what, says string, args ...string) {
		t.Helper()
		if out, err := admin.try(args...); err == nil || !strings.Contains(out, says) {
			t.Errorf("%s: %v\n%s\nwant a refusal saying %q", what, err, out, says)
		}
	}
	profile := func() string {
		return run("aks", "pod-identity", "list", "-g", "clusters", "--cluster-name", "pods", "--query", "podIdentityProfile")
	}

	run("identity", "create", "-g", "clusters", "-n", "app-identity", "-o", "none")
	run("identity", "create", "-g", "clusters", "-n", "other-identity", "-o", "none")
	idID := run("identity", "show", "-g", "clusters", "-n", "app-identity", "--query", "id", "-o", "tsv")
	idClient := run("identity", "show", "-g", "clusters", "-n", "app-identity", "--query", "clientId", "-o", "tsv")
	otherID := run("identity", "show", "-g", "clusters", "-n", "other-identity", "--query", "id", "-o", "tsv")
	principal := run("aks", "show", "-g", "clusters", "-n", "pods", "--query", "identity.principalId", "-o", "tsv")
	add := func(ns, name, id string, more ...string) []string {
		return aks(append([]string{"aks", "pod-identity", "add", "--namespace", ns, "--name", name, "--identity-resource-id", id}, more...)...)
	}

	// Before the addon is enabled, and with a kubeconfig that is not
	// there, nothing happens.
	refused("add before enabling", "--enable-pod-identity", add("my-app", "my-pod-identity", idID)...)
	refused("enable with a missing kubeconfig", "kubeconfig", "aks", "update", "-g", "clusters", "-n", "pods", "--enable-pod-identity", "--kubeconfig", filepath.Join(t.TempDir(), "absent"))
	if p := profile(); p != "" && p != "null" {
		t.Fatalf("a refused enable changed the profile: %s", p)
	}

	run("aks", "update", "-g", "clusters", "-n", "pods", "--enable-pod-identity", "--kubeconfig", cluster.Kubeconfig, "-o", "none")
	if out := mustKubectl("get", "azurepodidentityexception", "aks-addon-exception", "-n", "kube-system", "-o", "jsonpath={.spec.podLabels}"); out != `{"kubernetes.azure.com/managedby":"aks"}` {
		t.Errorf("the addon's exception: %s", out)
	}

	run(add("my-app", "my-pod-identity", idID, "-o", "none")...)
	if got := run("aks", "pod-identity", "list", "-g", "clusters", "--cluster-name", "pods", "--query",
		"podIdentityProfile.userAssignedIdentities[0].[name, namespace, identity.clientId, provisioningState]", "-o", "tsv"); got != "my-pod-identity\nmy-app\n"+idClient+"\nAssigned" {
		t.Errorf("pod-identity list: %q", got)
	}
	var ai podidentity.AzureIdentity
	if err := json.Unmarshal([]byte(mustKubectl("get", "azureidentity", "my-pod-identity", "-n", "my-app", "-o", "json")), &ai); err != nil {
		t.Fatal(err)
	}
	if ai.Spec.Type != podidentity.UserAssignedIdentity || ai.Spec.ClientID != idClient || !strings.EqualFold(ai.Spec.ResourceID, idID) {
		t.Errorf("AzureIdentity: %+v", ai.Spec)
	}
	if out := mustKubectl("get", "azureidentity", "-n", "my-app"); !strings.Contains(out, "my-pod-identity") || !strings.Contains(out, idClient) {
		t.Errorf("kubectl get azureidentity -n my-app:\n%s", out)
	}
	if out := mustKubectl("get", "azureidentitybinding", "my-pod-identity-binding", "-n", "my-app", "-o", "jsonpath={.spec.azureIdentity}/{.spec.selector}"); out != "my-pod-identity/my-pod-identity" {
		t.Errorf("AzureIdentityBinding: %s", out)
	}
	operators := func(scope string) string {
		return run("role", "assignment", "list", "--scope", scope, "--role", "Managed Identity Operator", "--query", "[].principalId", "-o", "tsv")
	}
	if got := operators(idID); got != principal {
		t.Errorf("Managed Identity Operator on the identity is given to %q, want the cluster's identity %s", got, principal)
	}

	// Running add again restores what the cluster lost, and grants
	// nothing twice.
	mustKubectl("delete", "azureidentity", "my-pod-identity", "-n", "my-app")
	run(add("my-app", "my-pod-identity", idID, "-o", "none")...)
	mustKubectl("get", "azureidentity", "my-pod-identity", "-n", "my-app")
	if got := operators(idID); got != principal {
		t.Errorf("after add again: %q", got)
	}
	refused("the same name with another identity", "exists with identity", add("my-app", "my-pod-identity", otherID)...)
	refused("an identity that does not exist", "ResourceNotFound", add("my-app", "ghost", idID+"-absent")...)
	refused("kubenet consent without enabling", "--enable-pod-identity-with-kubenet goes with --enable-pod-identity",
		"aks", "update", "-g", "clusters", "-n", "pods", "--enable-pod-identity-with-kubenet", "--kubeconfig", cluster.Kubeconfig)
	if got := run("aks", "pod-identity", "list", "-g", "clusters", "--cluster-name", "pods", "--query", "podIdentityProfile.userAssignedIdentities[].name", "-o", "tsv"); got != "my-pod-identity" {
		t.Errorf("after the refusals, the pod identities are %q", got)
	}

	// The cloud's limit: 200 pod identities. The 200 are written with one
	// request; the 201st, through the CLI, is refused and leaves no grant.
	ids := []resourcetype.PodIdentity{}
	for i := range 200 {
		ids = append(ids, resourcetype.PodIdentity{Name: fmt.Sprintf("id%d", i), Namespace: "my-app", Identity: resourcetype.ClusterIdentity{ResourceID: idID}})
	}
	setIdentities := func(ids []resourcetype.PodIdentity) {
		t.Helper()
		clusterID := run("aks", "show", "-g", "clusters", "-n", "pods", "--query", "id", "-o", "tsv")
		body, _ := json.Marshal(map[string]any{"properties": map[string]any{"podIdentityProfile": map[string]any{"enabled": true, "userAssignedIdentities": ids,
			"userAssignedIdentityExceptions": []any{map[string]any{"name": "aks-addon-exception", "namespace": "kube-system", "podLabels": map[string]string{"kubernetes.azure.com/managedby": "aks"}}}}}})
		req, _ := http.NewRequestWithContext(ctx, http.MethodPatch, e.s.URL+clusterID+"?api-version="+resourcetype.StableAPIVersion(resourcetype.ManagedCluster), bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+admin.run("account", "get-access-token", "--query", "accessToken", "-o", "tsv"))
		req.Header.Set("Content-Type", "application/json")
		resp, err := e.client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("PATCH of %d pod identities: %s", len(ids), resp.Status)
		}
	}
	setIdentities(ids)
	refused("the 201st pod identity", "at most 200 pod identities", add("my-app", "one-too-many", otherID)...)
	if got := operators(otherID); got != "" {
		t.Errorf("the refused 201st pod identity left a grant: %q", got)
	}
	if _, err := kubectl("get", "azureidentity", "one-too-many", "-n", "my-app"); err == nil {
		t.Error("the refused 201st pod identity was written into the cluster")
	}
	setIdentities(ids[:0])
	run(add("my-app", "my-pod-identity", idID, "-o", "none")...)

	// Exceptions: add, update (the labels are replaced), delete.
	run(aks("aks", "pod-identity", "exception", "add", "--namespace", "my-app", "--name", "agent", "--pod-labels", "app=agent", "tier=node", "-o", "none")...)
	if out := mustKubectl("get", "azurepodidentityexception", "agent", "-n", "my-app", "-o", "jsonpath={.spec.podLabels}"); out != `{"app":"agent","tier":"node"}` {
		t.Errorf("exception after add: %s", out)
	}
	refused("add with other labels", "exception update", aks("aks", "pod-identity", "exception", "add", "--namespace", "my-app", "--name", "agent", "--pod-labels", "app=other")...)
	refused("labels that are not KEY=VALUE", "KEY=VALUE", aks("aks", "pod-identity", "exception", "update", "--namespace", "my-app", "--name", "agent", "--pod-labels", "app")...)
	refused("update of an exception that is not there", "not found", aks("aks", "pod-identity", "exception", "update", "--namespace", "my-app", "--name", "absent", "--pod-labels", "app=x")...)
	refused("a name Kubernetes refuses", "InvalidParameter", aks("aks", "pod-identity", "exception", "add", "--namespace", "my-app", "--name", "Bad_Name", "--pod-labels", "app=x")...)
	run(aks("aks", "pod-identity", "exception", "update", "--namespace", "my-app", "--name", "agent", "--pod-labels", "app=agent2", "-o", "none")...)
	if out := mustKubectl("get", "azurepodidentityexception", "agent", "-n", "my-app", "-o", "jsonpath={.spec.podLabels}"); out != `{"app":"agent2"}` {
		t.Errorf("exception after update: %s", out)
	}
	if got := run("aks", "pod-identity", "exception", "list", "-g", "clusters", "--cluster-name", "pods", "--query",
		"podIdentityProfile.userAssignedIdentityExceptions[].name", "-o", "tsv"); got != "aks-addon-exception\nagent" {
		t.Errorf("exception list: %q", got)
	}
	run(aks("aks", "pod-identity", "exception", "delete", "--namespace", "my-app", "--name", "agent", "-o", "none")...)
	if out, err := kubectl("get", "azurepodidentityexception", "agent", "-n", "my-app"); err == nil || !strings.Contains(out, "NotFound") {
		t.Errorf("the deleted exception: %v %s", err, out)
	}

	// A cluster write that fails after the management write says so, and
	// running the command again finishes it.
	unreachable := filepath.Join(t.TempDir(), "unreachable.kubeconfig")
	b, _ := os.ReadFile(cluster.Kubeconfig)
	os.WriteFile(unreachable, []byte(strings.Replace(string(b), cluster.URL, "https://127.0.0.1:1", 1)), 0o600)
	out, err := admin.try("aks", "pod-identity", "exception", "add", "-g", "clusters", "--cluster-name", "pods", "--kubeconfig", unreachable,
		"--namespace", "my-app", "--name", "late", "--pod-labels", "app=late")
	if err == nil || !strings.Contains(out, "does not have all of it") || !strings.Contains(out, "Run the same command again") {
		t.Errorf("a failed cluster write: %v\n%s", err, out)
	}
	run(aks("aks", "pod-identity", "exception", "add", "--namespace", "my-app", "--name", "late", "--pod-labels", "app=late", "-o", "none")...)
	mustKubectl("get", "azurepodidentityexception", "late", "-n", "my-app")

	// Migration: a deployment and a bare pod run as the service account
	// web with the pod identity; another namespace's service account is
	// bound to two identities, which workload identity cannot do.
	kube := cluster.Client
	web := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "my-app"}}
	if _, err := kube.CoreV1().ServiceAccounts("my-app").Create(ctx, web, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	labels := map[string]string{podidentity.BindingLabel: "my-pod-identity", "app": "web"}
	spec := corev1.PodSpec{ServiceAccountName: "web", Containers: []corev1.Container{{Name: "web", Image: "web"}}}
	deploy := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "my-app"}, Spec: appsv1.DeploymentSpec{
		Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
		Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}, Spec: spec}}}
	if _, err := kube.AppsV1().Deployments("my-app").Create(ctx, deploy, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := kube.CoreV1().Pods("my-app").Create(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "once", Labels: labels}, Spec: spec}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	run(add("shared", "first", idID, "-o", "none")...)
	// No controller manager runs to make the namespace's default account.
	if _, err := kube.CoreV1().ServiceAccounts("shared").Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	run(add("shared", "second", otherID, "-o", "none")...)
	for _, name := range []string{"first", "second"} {
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{podidentity.BindingLabel: name}},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "c"}}}}
		if _, err := kube.CoreV1().Pods("shared").Create(ctx, p, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	refused("a service account bound to two identities", "shared/default", aks("aks", "pod-identity", "migrate", "--namespace", "shared", "--apply")...)
	if got := run("identity", "federated-credential", "list", "-g", "clusters", "--identity-name", "other-identity", "--query", "length(@)"); got != "0" {
		t.Errorf("the refused migration made credentials: %s", got)
	}

	plan := run(aks("aks", "pod-identity", "migrate", "--namespace", "my-app")...)
	for _, want := range []string{
		"berth identity federated-credential create -g clusters --identity-name app-identity --name my-app-web --issuer " + iss + " --subject system:serviceaccount:my-app:web",
		"my-app/once", "berth aks pod-identity delete -g clusters --cluster-name pods --namespace my-app --name my-pod-identity",
		"azure.workload.identity/client-id: " + idClient,
	} {
		if !strings.Contains(plan, want) {
			t.Errorf("the plan does not say %q:\n%s", want, plan)
		}
	}
	if got := run("identity", "federated-credential", "list", "-g", "clusters", "--identity-name", "app-identity", "--query", "length(@)"); got != "0" {
		t.Errorf("printing the plan made credentials: %s", got)
	}
	apply := exec.Command("kubectl", "--kubeconfig", cluster.Kubeconfig, "apply", "-f", "-")
	apply.Env = append(os.Environ(), "HOME="+t.TempDir())
	apply.Stdin = strings.NewReader(plan)
	if out, err := apply.CombinedOutput(); err != nil {
		t.Fatalf("kubectl apply -f - of the plan: %v\n%s", err, out)
	}
	if got := mustKubectl("get", "serviceaccount", "web", "-n", "my-app", "-o", "jsonpath={.metadata.annotations.azure\\.workload\\.identity/client-id}"); got != idClient {
		t.Errorf("the service account's client id after kubectl apply: %q", got)
	}
	if got := mustKubectl("get", "deployment", "web", "-n", "my-app", "-o", "jsonpath={.spec.template.metadata.labels}"); !strings.Contains(got, `"azure.workload.identity/use":"true"`) ||
		!strings.Contains(got, `"app":"web"`) {
		t.Errorf("the deployment's pod labels after kubectl apply: %s", got)
	}

	// Before the migration, the service account's token is nobody's.
	token := podTokenFile(t, cluster, "my-app", "web", tokenExchangeAudience)
	wantRefused(ctx, t, "the service account before the migration", e.workloadCredential(idClient, token), "70021")
	run(aks("aks", "pod-identity", "migrate", "--namespace", "my-app", "--apply")...)
	if got := run("identity", "federated-credential", "show", "-g", "clusters", "--identity-name", "app-identity", "--name", "my-app-web", "--query", "[issuer, subject]", "-o", "tsv"); got != iss+"\nsystem:serviceaccount:my-app:web" {
		t.Errorf("the federated credential: %q", got)
	}
	if _, err := e.workloadCredential(idClient, token).GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{"https://management.azure.com/.default"}}); err != nil {
		t.Errorf("the migrated service account's token exchange: %v", err)
	}
	// Again: nothing more to make.
	if again := run(aks("aks", "pod-identity", "migrate", "--namespace", "my-app", "--apply")...); !strings.Contains(again, "trusts system:serviceaccount:my-app:web (credential my-app-web)") {
		t.Errorf("the migration run again:\n%s", again)
	}

	// Delete removes the objects; disable removes the rest berth wrote.
	run(aks("aks", "pod-identity", "delete", "--namespace", "my-app", "--name", "my-pod-identity", "-o", "none")...)
	if out := mustKubectl("get", "azureidentity,azureidentitybinding", "-n", "my-app", "-o", "name"); out != "" {
		t.Errorf("after delete: %s", out)
	}
	refused("delete of a pod identity that is not there", "no pod identity", aks("aks", "pod-identity", "delete", "--namespace", "my-app", "--name", "my-pod-identity")...)
	run("aks", "update", "-g", "clusters", "-n", "pods", "--disable-pod-identity", "--kubeconfig", cluster.Kubeconfig, "-o", "none")
	if out := mustKubectl("get", "azureidentity,azureidentitybinding,azurepodidentityexception", "-A", "-o", "name"); out != "" {
		t.Errorf("after disable: %s", out)
	}
	if got := run("aks", "show", "-g", "clusters", "-n", "pods", "--query", "podIdentityProfile.enabled", "-o", "tsv"); got != "False" {
		t.Errorf("after disable, enabled is %q", got)
	}
}
