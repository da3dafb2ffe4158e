package controlplane_test

import (
	"strings"
	"testing"
	"time"

	"github.com/berthhq/berth/internal/controlplane"
	"github.com/berthhq/berth/internal/ids"
	"github.com/berthhq/berth/internal/resourcetype"
	"github.com/berthhq/berth/internal/secret"
	"github.com/berthhq/berth/internal/store"
)

// app registers an application in home with one secret, and service
// principals for it in the tenants given; it returns the app id and the
// secret.
func (f *fixture) app(home string, spTenants ...string) (string, string) {
	f.t.Helper()
	now := time.Now()
	app := store.Application{ObjectID: ids.New(), AppID: ids.New(), TenantID: home, DisplayName: "cluster", SignInAudience: "AzureADMultipleOrgs", CreatedAt: now}
	value := secret.Generate()
	salt, sum := secret.Hash(value)
	f.must(f.meta.CreateApplication(f.ctx, app))
	f.must(f.meta.AddPasswordCredential(f.ctx, store.PasswordCredential{KeyID: ids.New(), AppObjectID: app.ObjectID, Salt: salt, Hash: sum,
		StartDateTime: now.Add(-time.Minute), EndDateTime: now.Add(time.Hour)}))
	for _, t := range spTenants {
		f.must(f.meta.CreateServicePrincipal(f.ctx, store.ServicePrincipal{ObjectID: ids.New(), TenantID: t, AppID: app.AppID,
			AppOwnerTenantID: home, Type: store.PrincipalApplication, CreatedAt: now}))
	}
	return app.AppID, value
}

func spProfile(id, s string) string {
	return `{"servicePrincipalProfile":{"clientId":"` + id + `","secret":"` + s + `"},"agentPoolProfiles":[{"name":"nodepool1","count":2}]}`
}

// TestClusterServicePrincipal: a cluster whose nodes run as an
// application proves the application's secret in its tenant once and
// keeps only the client id.
func TestClusterServicePrincipal(t *testing.T) {
	f := newFixture(t)
	f.group("Team")
	cluster := group + "/providers/Microsoft.ContainerService/managedClusters/aks1"
	appID, appSecret := f.app(tenant, tenant)

	_, _, err := f.put(contributor, cluster, "", spProfile(appID, "wrong"), "")
	f.wantErr(err, controlplane.ErrBadRequest, "BadRequest")
	_, _, err = f.put(contributor, cluster, "", spProfile(ids.New(), appSecret), "")
	f.wantErr(err, controlplane.ErrBadRequest, "ServicePrincipalNotFound")
	_, _, err = f.put(contributor, cluster, "", spProfile(appID, ""), "")
	f.wantErr(err, controlplane.ErrBadRequest, "InvalidParameter")
	_, _, err = f.put(contributor, cluster, "", `{}`, "")
	f.wantErr(err, controlplane.ErrBadRequest, "InvalidParameter")
	_, _, err = f.put(contributor, cluster, "", spProfile(appID, appSecret), `{"type":"SystemAssigned"}`)
	f.wantErr(err, controlplane.ErrBadRequest, "InvalidParameter")
	_, _, err = f.put(reader, cluster, "", spProfile(appID, appSecret), "")
	f.wantErr(err, controlplane.ErrForbidden, "AuthorizationFailed")
	_, _, err = f.put(contributor, group+"/providers/Microsoft.ContainerService/managedClusters/-bad", "", spProfile(appID, appSecret), "")
	f.wantErr(err, controlplane.ErrBadRequest, "InvalidParameter")
	if rs, _ := f.meta.ListResources(f.ctx, store.ResourceQuery{SubscriptionID: sub}); len(rs) != 0 {
		t.Fatalf("refused creates left %v", names(rs))
	}

	r := f.mustPut(contributor, cluster, "", spProfile(appID, appSecret), "", true)
	p := f.fields(r.Properties)
	if get(p, "servicePrincipalProfile", "clientId") != appID || p["provisioningState"] != "Succeeded" ||
		p["kubernetesVersion"] != controlplane.DefaultKubernetesVersion || !strings.Contains(p["fqdn"].(string), ".hcp.here.") ||
		p["dnsPrefix"] != "aks1" || p["nodeResourceGroup"] != "MC_Team_aks1_here" || r.Identity != nil {
		t.Fatalf("create: %s %s", r.Properties, r.Identity)
	}
	// The secret is proven once and never kept.
	if strings.Contains(string(r.Properties), appSecret) || strings.Contains(string(r.Properties), `"secret"`) {
		t.Fatalf("the secret is kept: %s", r.Properties)
	}
	// The cloud CLI's update sends the cluster back without the secret.
	r = f.mustPut(contributor, cluster, "", `{"servicePrincipalProfile":{"clientId":"`+appID+`"},"kubernetesVersion":"1.31.1"}`, "", false)
	if p := f.fields(r.Properties); p["kubernetesVersion"] != "1.31.1" || get(p, "servicePrincipalProfile", "clientId") != appID {
		t.Fatalf("update: %s", r.Properties)
	}
	// A new client id in an update must prove its secret; a cluster does
	// not change to managed identities.
	other, otherSecret := f.app(tenant, tenant)
	_, _, err = f.put(contributor, cluster, "", `{"servicePrincipalProfile":{"clientId":"`+other+`","secret":"wrong"}}`, "")
	f.wantErr(err, controlplane.ErrBadRequest, "BadRequest")
	_, _, err = f.put(contributor, cluster, "", `{"servicePrincipalProfile":{"clientId":"msi"}}`, "")
	f.wantErr(err, controlplane.ErrBadRequest, "BadRequest")
	_, _, err = f.put(contributor, cluster, "", "", `{"type":"SystemAssigned"}`)
	f.wantErr(err, controlplane.ErrBadRequest, "BadRequest")
	r = f.mustPut(contributor, cluster, "", spProfile(other, otherSecret), "", false)
	if get(f.fields(r.Properties), "servicePrincipalProfile", "clientId") != other {
		t.Fatalf("update to another application: %s", r.Properties)
	}

	// update-credentials: a multi-tenant application of another tenant
	// that has a service principal here authenticates here; one without
	// does not, nor does a wrong secret.
	reset := func(c controlplane.Caller, id, s string) error {
		return f.cp.ResetServicePrincipal(f.ctx, c, f.id(cluster), id, s)
	}
	foreign, foreignSecret := f.app("tenant-b", "tenant-b", tenant)
	stranger, strangerSecret := f.app("tenant-b", "tenant-b")
	f.wantErr(reset(contributor, stranger, strangerSecret), controlplane.ErrBadRequest, "ServicePrincipalNotFound")
	f.wantErr(reset(contributor, foreign, appSecret), controlplane.ErrBadRequest, "BadRequest")
	f.wantErr(reset(reader, foreign, foreignSecret), controlplane.ErrForbidden, "AuthorizationFailed")
	f.wantErr(f.cp.ResetServicePrincipal(f.ctx, contributor, f.id(group+"/providers/Microsoft.ContainerService/managedClusters/absent"), foreign, foreignSecret),
		controlplane.ErrNotFound, "ResourceNotFound")
	if err := reset(contributor, foreign, foreignSecret); err != nil {
		t.Fatalf("reset: %v", err)
	}
	g, err := f.cp.GetResource(f.ctx, reader, f.id(cluster))
	if err != nil || get(f.fields(g.Properties), "servicePrincipalProfile", "clientId") != foreign || strings.Contains(string(g.Properties), foreignSecret) {
		t.Fatalf("after reset: %s %v", g.Properties, err)
	}
}

// TestClusterManagedIdentity: a cluster of managed identities has its own
// system-assigned identity and a kubelet identity, a user-assigned
// identity like any other in the cluster's group; both go with it.
func TestClusterManagedIdentity(t *testing.T) {
	f := newFixture(t)
	f.group("Team")
	cluster := group + "/providers/Microsoft.ContainerService/managedClusters/aks2"
	f.mustPut(owner, identity, "", "", "", true)
	pod := `{"podIdentityProfile":{"enabled":true,"userAssignedIdentities":[{"name":"my-pod-identity","namespace":"my-app","identity":{"resourceId":"` + identity + `"}}]}}`
	_, _, err := f.put(contributor, cluster, "", `{}`, `{"type":"UserAssigned"}`)
	f.wantErr(err, controlplane.ErrBadRequest, "InvalidIdentityType")

	r := f.mustPut(contributor, cluster, "", pod, `{"type":"SystemAssigned"}`, true)
	p, ident := f.fields(r.Properties), f.fields(r.Identity)
	kubelet, _ := get(p, "identityProfile", resourcetype.KubeletIdentityKey).(map[string]any)
	system, _ := ident["principalId"].(string)
	if ident["type"] != "SystemAssigned" || system == "" || get(p, "servicePrincipalProfile", "clientId") != resourcetype.MSIClientID ||
		kubelet == nil || get(p, "podIdentityProfile", "enabled") != true {
		t.Fatalf("create: %s %s", r.Properties, r.Identity)
	}
	wantID := group + "/providers/Microsoft.ManagedIdentity/userAssignedIdentities/aks2-agentpool"
	ki, err := f.cp.GetResource(f.ctx, reader, f.id(wantID))
	kp := f.fields(ki.Properties)
	if err != nil || kubelet["resourceId"] != wantID || kp["clientId"] != kubelet["clientId"] || kp["principalId"] != kubelet["objectId"] {
		t.Fatalf("kubelet identity %v: %s %v", kubelet, ki.Properties, err)
	}
	// Its nodes act as an application only through the kubelet identity:
	// no secret (see TestClusterKubeletIdentityAsApplication).
	f.wantErr(f.cp.ResetServicePrincipal(f.ctx, contributor, f.id(cluster), "x", "y"), controlplane.ErrBadRequest, "BadRequest")
	_, _, err = f.put(contributor, cluster, "", "", `{"type":"None"}`)
	f.wantErr(err, controlplane.ErrBadRequest, "BadRequest")
	// A PUT replaces the pod identity profile; a PATCH without one keeps it.
	if r := f.mustPut(contributor, cluster, "", `{"kubernetesVersion":"1.31.1"}`, "", false); get(f.fields(r.Properties), "podIdentityProfile") != nil ||
		get(f.fields(r.Identity), "principalId") != system {
		t.Fatalf("PUT without a pod identity profile: %s %s", r.Properties, r.Identity)
	}
	f.mustPut(contributor, cluster, "", pod, "", false)
	if r, err := f.cp.PatchResource(f.ctx, contributor, f.id(cluster), input("", `{"kubernetesVersion":"1.32.0"}`, "")); err != nil ||
		get(f.fields(r.Properties), "podIdentityProfile", "enabled") != true || get(f.fields(r.Properties), "kubernetesVersion") != "1.32.0" {
		t.Fatalf("PATCH: %s %v", r.Properties, err)
	}

	// A second cluster whose kubelet identity's name is taken is refused
	// and leaves no principal behind.
	f.mustPut(owner, group+"/providers/Microsoft.ManagedIdentity/userAssignedIdentities/aks3-agentpool", "", "", "", true)
	resources, _ := f.meta.ListResources(f.ctx, store.ResourceQuery{SubscriptionID: sub})
	principals, _ := f.meta.ListServicePrincipals(f.ctx, tenant)
	_, _, err = f.put(contributor, group+"/providers/Microsoft.ContainerService/managedClusters/aks3", "", "", `{"type":"SystemAssigned"}`)
	f.wantErr(err, controlplane.ErrConflict, "Conflict")
	if after, _ := f.meta.ListResources(f.ctx, store.ResourceQuery{SubscriptionID: sub}); len(after) != len(resources) {
		t.Fatalf("the refused cluster left resources: %v", names(after))
	}
	if after, _ := f.meta.ListServicePrincipals(f.ctx, tenant); len(after) != len(principals) {
		t.Fatalf("the refused cluster left principals: %d, was %d", len(after), len(principals))
	}

	if found, err := f.cp.DeleteResource(f.ctx, contributor, f.id(cluster)); err != nil || !found {
		t.Fatalf("delete: %v %v", found, err)
	}
	_, err = f.cp.GetResource(f.ctx, reader, f.id(wantID))
	f.wantErr(err, controlplane.ErrNotFound, "ResourceNotFound")
	for _, oid := range []string{system, kubelet["objectId"].(string)} {
		if f.principalExists(oid) {
			t.Errorf("principal %s outlived the cluster", oid)
		}
	}
}

// TestClusterKubeletIdentityAsApplication: the nodes of a managed
// identity cluster act as one of its tenant's applications, with no
// secret, only once a federated credential of the application trusts the
// kubelet identity's token exchange tokens exactly; msi makes them the
// kubelet identity again.
func TestClusterKubeletIdentityAsApplication(t *testing.T) {
	f := newFixture(t)
	f.group("Team")
	cluster := group + "/providers/Microsoft.ContainerService/managedClusters/aks4"
	r := f.mustPut(contributor, cluster, "", "", `{"type":"SystemAssigned"}`, true)
	kubelet, _ := get(f.fields(r.Properties), "identityProfile", resourcetype.KubeletIdentityKey, "objectId").(string)
	if kubelet == "" {
		t.Fatalf("no kubelet identity: %s", r.Properties)
	}
	reset := func(id, secret string) error {
		return f.cp.ResetServicePrincipal(f.ctx, contributor, f.id(cluster), id, secret)
	}
	clientID := func() any {
		g, err := f.cp.GetResource(f.ctx, reader, f.id(cluster))
		if err != nil {
			t.Fatal(err)
		}
		return get(f.fields(g.Properties), "servicePrincipalProfile", "clientId")
	}
	trust := func(appID, name, issuer, subject, audience string) {
		app, err := f.meta.GetApplicationByAppID(f.ctx, appID)
		f.must(err)
		f.must(f.meta.CreateFederatedCredential(f.ctx, store.FederatedCredential{ID: ids.New(), OwnerObjectID: app.ObjectID, Name: name,
			Issuer: issuer, Subject: subject, Audiences: []string{audience}}, 20))
	}
	own := "https://berth.example/" + tenant + "/v2.0"
	appID, appSecret := f.app(tenant)
	foreign, _ := f.app("tenant-b", "tenant-b", tenant)
	trust(foreign, "kubelet", "https://berth.example/tenant-b/v2.0", kubelet, "api://AzureADTokenExchange")

	// Nothing trusts the kubelet identity yet; then credentials that each
	// miss by one field; a secret is refused outright.
	f.wantErr(reset(appID, ""), controlplane.ErrBadRequest, "BadRequest")
	trust(appID, "other-tenant", "https://berth.example/tenant-b/v2.0", kubelet, "api://AzureADTokenExchange")
	trust(appID, "other-subject", own, ids.New(), "api://AzureADTokenExchange")
	trust(appID, "other-audience", own, kubelet, "api://elsewhere")
	trust(appID, "not-berth", "https://issuer.example/"+tenant, kubelet, "api://AzureADTokenExchange")
	f.wantErr(reset(appID, ""), controlplane.ErrBadRequest, "BadRequest")
	f.wantErr(reset(appID, appSecret), controlplane.ErrBadRequest, "BadRequest")
	// Another tenant's application is not looked into, trust or not.
	f.wantErr(reset(foreign, ""), controlplane.ErrBadRequest, "ServicePrincipalNotFound")
	f.wantErr(reset(ids.New(), ""), controlplane.ErrBadRequest, "ServicePrincipalNotFound")
	if got := clientID(); got != resourcetype.MSIClientID {
		t.Fatalf("refused resets changed the client id to %v", got)
	}

	trust(appID, "kubelet", own, kubelet, "api://AzureADTokenExchange")
	if err := reset(appID, ""); err != nil {
		t.Fatalf("reset: %v", err)
	}
	if got := clientID(); got != appID {
		t.Fatalf("client id after reset: %v, want %s", got, appID)
	}
	// Still a managed identity cluster: an update keeps its identity and
	// does not change the application.
	f.mustPut(contributor, cluster, "", `{"servicePrincipalProfile":{"clientId":"`+appID+`"},"kubernetesVersion":"1.31.1"}`, `{"type":"SystemAssigned"}`, false)
	_, _, err := f.put(contributor, cluster, "", `{"servicePrincipalProfile":{"clientId":"msi"}}`, "")
	f.wantErr(err, controlplane.ErrBadRequest, "BadRequest")
	if err := reset(resourcetype.MSIClientID, ""); err != nil || clientID() != resourcetype.MSIClientID {
		t.Fatalf("reset to msi: %v %v", clientID(), err)
	}
}
