package controlplane_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/berthhq/berth/internal/authz"
	"github.com/berthhq/berth/internal/controlplane"
	"github.com/berthhq/berth/internal/resourcetype"
)

// TestClusterPodIdentityProfile: the profile is checked as the cloud
// checks it, filled as the cloud fills it, and a refused write changes
// nothing.
func TestClusterPodIdentityProfile(t *testing.T) {
	f := newFixture(t)
	f.group("Team")
	cluster := group + "/providers/Microsoft.ContainerService/managedClusters/pods"
	kubenet := group + "/providers/Microsoft.ContainerService/managedClusters/kubenet"
	f.mustPut(owner, identity, "", "", "", true)
	ip := f.fields(f.mustPut(owner, identity, "", "", "", false).Properties)
	f.mustPut(contributor, cluster, "", `{"networkProfile":{"networkPlugin":"azure"}}`, `{"type":"SystemAssigned"}`, true)
	f.mustPut(contributor, kubenet, "", `{"networkProfile":{"networkPlugin":"Kubenet"}}`, `{"type":"SystemAssigned"}`, true)

	patch := func(id, profile string) (map[string]any, error) {
		r, err := f.cp.PatchResource(f.ctx, contributor, f.id(id), input("", `{"podIdentityProfile":`+profile+`}`, ""))
		return f.fields(r.Properties), err
	}
	podID := func(name, ns, res string) string {
		return fmt.Sprintf(`{"name":%q,"namespace":%q,"identity":{"resourceId":%q}}`, name, ns, res)
	}
	profile := func(ids ...string) string {
		return `{"enabled":true,"userAssignedIdentities":[` + strings.Join(ids, ",") + `]}`
	}

	// Enabling adds the addon's exception; the identity's ids are the
	// identity's, whatever the request said.
	p, err := patch(cluster, `{"enabled":true,"userAssignedIdentities":[{"name":"web","namespace":"my-app","identity":{"resourceId":"`+identity+`","clientId":"forged"}}]}`)
	if err != nil {
		t.Fatal(err)
	}
	var got resourcetype.PodIdentityProfile
	b, _ := json.Marshal(p["podIdentityProfile"])
	f.must(json.Unmarshal(b, &got))
	if len(got.UserAssignedIdentities) != 1 || got.UserAssignedIdentities[0].Identity.ClientID != ip["clientId"] ||
		got.UserAssignedIdentities[0].Identity.ObjectID != ip["principalId"] || got.UserAssignedIdentities[0].ProvisioningState != "Assigned" {
		t.Errorf("identities: %+v", got.UserAssignedIdentities)
	}
	if len(got.UserAssignedIdentityExceptions) != 1 || got.UserAssignedIdentityExceptions[0].Name != "aks-addon-exception" ||
		got.UserAssignedIdentityExceptions[0].Namespace != "kube-system" || got.UserAssignedIdentityExceptions[0].PodLabels["kubernetes.azure.com/managedby"] != "aks" {
		t.Errorf("exceptions: %+v", got.UserAssignedIdentityExceptions)
	}
	// Removed by the operator, the addon's exception stays removed.
	if p, err := patch(cluster, profile(podID("web", "my-app", identity))); err != nil || len(get(p, "podIdentityProfile", "userAssignedIdentityExceptions").([]any)) != 0 {
		t.Fatalf("without the addon's exception: %v %v", p["podIdentityProfile"], err)
	}
	before, _ := f.cp.GetResource(f.ctx, reader, f.id(cluster))

	many := make([]string, controlplane.MaxPodIdentities+1)
	for i := range many {
		many[i] = podID(fmt.Sprintf("id%d", i), "my-app", identity)
	}
	manyExc := make([]string, controlplane.MaxPodIdentityExceptions+1)
	for i := range manyExc {
		manyExc[i] = fmt.Sprintf(`{"name":"e%d","namespace":"my-app","podLabels":{"app":"x"}}`, i)
	}
	for _, tc := range []struct{ what, id, profile, code, says string }{
		{"the 201st identity", cluster, profile(many...), "BadRequest", "at most 200 pod identities"},
		{"the 201st exception", cluster, `{"enabled":true,"userAssignedIdentityExceptions":[` + strings.Join(manyExc, ",") + `]}`, "BadRequest", "at most 200 pod identity exceptions"},
		{"a name twice in a namespace", cluster, profile(podID("web", "my-app", identity), podID("web", "my-app", identity)), "BadRequest", "twice"},
		{"an exception twice", cluster, `{"enabled":true,"userAssignedIdentityExceptions":[` + manyExc[0] + `,` + manyExc[0] + `]}`, "BadRequest", "twice"},
		{"an identity that does not exist", cluster, profile(podID("web", "my-app", identity+"x")), "FailedIdentityOperation", "was not found"},
		{"no identity", cluster, profile(`{"name":"web","namespace":"my-app"}`), "InvalidParameter", "resourceId is required"},
		{"a name Kubernetes refuses", cluster, profile(podID("Web_1", "my-app", identity)), "InvalidParameter", "name 'Web_1'"},
		{"a selector Kubernetes refuses", cluster, profile(`{"name":"web","namespace":"my-app","bindingSelector":"a b","identity":{"resourceId":"` + identity + `"}}`), "InvalidParameter", "binding selector"},
		{"an exception without labels", cluster, `{"enabled":true,"userAssignedIdentityExceptions":[{"name":"e","namespace":"my-app"}]}`, "InvalidParameter", "no pod labels"},
		{"identities while disabled", cluster, `{"enabled":false,"userAssignedIdentities":[` + podID("web", "my-app", identity) + `]}`, "BadRequest", "enabled"},
		{"kubenet without consent", kubenet, profile(), "BadRequest", "allowNetworkPluginKubenet"},
	} {
		_, err := patch(tc.id, tc.profile)
		f.wantErr(err, controlplane.ErrBadRequest, tc.code)
		if err == nil || !strings.Contains(err.Error(), tc.says) {
			t.Errorf("%s: %v, want it to say %q", tc.what, err, tc.says)
		}
	}
	if after, _ := f.cp.GetResource(f.ctx, reader, f.id(cluster)); string(after.Properties) != string(before.Properties) {
		t.Errorf("a refused write changed the cluster:\n%s\n%s", before.Properties, after.Properties)
	}
	if _, err := patch(kubenet, `{"enabled":true,"allowNetworkPluginKubenet":true}`); err != nil {
		t.Errorf("kubenet with consent: %v", err)
	}
	_, err = f.cp.PatchResource(f.ctx, contributor, f.id(kubenet), input("", `{"networkProfile":{"networkPlugin":"azure"}}`, ""))
	f.wantErr(err, controlplane.ErrBadRequest, "BadRequest")
	_, _, err = f.put(contributor, group+"/providers/Microsoft.ContainerService/managedClusters/odd", "", `{"networkProfile":{"networkPlugin":"calico"}}`, `{"type":"SystemAssigned"}`)
	f.wantErr(err, controlplane.ErrBadRequest, "InvalidParameter")

	// A reader of the identity may not bind pods to it.
	f.assign(cluster, authz.Contributor, nobody.ObjectID)
	_, err = f.cp.PatchResource(f.ctx, nobody, f.id(cluster), input("", `{"podIdentityProfile":`+profile(podID("other", "my-app", identity))+`}`, ""))
	f.wantErr(err, controlplane.ErrForbidden, "AuthorizationFailed")

	// A service principal cluster has no identity to give the role to.
	appID, secret := f.app(tenant, tenant)
	spCluster := group + "/providers/Microsoft.ContainerService/managedClusters/sp"
	f.mustPut(contributor, spCluster, "", spProfile(appID, secret), "", true)
	_, err = patch(spCluster, profile())
	f.wantErr(err, controlplane.ErrBadRequest, "BadRequest")

	// Disabling drops the identities and exceptions.
	if p, err := patch(cluster, `{"enabled":false}`); err != nil || get(p, "podIdentityProfile", "enabled") != false ||
		len(get(p, "podIdentityProfile", "userAssignedIdentities").([]any)) != 0 {
		t.Errorf("disable: %v %v", p["podIdentityProfile"], err)
	}
}
