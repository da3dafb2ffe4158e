package arm

import (
	"strings"
	"testing"
	"time"

	"github.com/berthhq/berth/internal/ids"
	"github.com/berthhq/berth/internal/secret"
	"github.com/berthhq/berth/internal/store"
)

// app registers an application in home with one secret, and service
// principals for it in the tenants given; it returns the app id and the
// secret.
func (f *fixture) app(home string, spTenants ...string) (string, string) {
	f.t.Helper()
	ctx, now := f.t.Context(), time.Now()
	app := store.Application{ObjectID: ids.New(), AppID: ids.New(), TenantID: home, DisplayName: "cluster", SignInAudience: "AzureADMultipleOrgs", CreatedAt: now}
	value := secret.Generate()
	salt, sum := secret.Hash(value)
	err := f.meta.CreateApplication(ctx, app)
	if err == nil {
		err = f.meta.AddPasswordCredential(ctx, store.PasswordCredential{KeyID: ids.New(), AppObjectID: app.ObjectID, Salt: salt, Hash: sum,
			StartDateTime: now.Add(-time.Minute), EndDateTime: now.Add(time.Hour)})
	}
	for _, t := range spTenants {
		if err == nil {
			err = f.meta.CreateServicePrincipal(ctx, store.ServicePrincipal{ObjectID: ids.New(), TenantID: t, AppID: app.AppID,
				AppOwnerTenantID: home, Type: store.PrincipalApplication, CreatedAt: now})
		}
	}
	if err != nil {
		f.t.Fatal(err)
	}
	return app.AppID, value
}

func TestClusterServicePrincipal(t *testing.T) {
	f := newFixture(t)
	f.want(f.do("owner", "PUT", group+api, `{"location":"here"}`), 201, "")
	cluster := group + "/providers/Microsoft.ContainerService/managedClusters/aks1"
	appID, appSecret := f.app(tenant, tenant)

	sp := func(id, s string) string {
		return `{"location":"here","properties":{"servicePrincipalProfile":{"clientId":"` + id + `","secret":"` + s + `"},"agentPoolProfiles":[{"name":"nodepool1","count":2}]}}`
	}
	f.want(f.do("contributor", "PUT", cluster+api, sp(appID, "wrong")), 400, "BadRequest")
	f.want(f.do("contributor", "PUT", cluster+api, sp(ids.New(), appSecret)), 400, "ServicePrincipalNotFound")
	f.want(f.do("contributor", "PUT", cluster+api, `{"properties":{}}`), 400, "InvalidParameter")
	f.want(f.do("reader", "PUT", cluster+api, sp(appID, appSecret)), 403, "AuthorizationFailed")
	a := f.do("contributor", "PUT", cluster+api, sp(appID, appSecret))
	if a.status != 201 || a.get("properties.servicePrincipalProfile.clientId") != appID || a.get("properties.provisioningState") != "Succeeded" ||
		a.get("properties.kubernetesVersion") == "" || !strings.Contains(a.get("properties.fqdn").(string), ".hcp.here.") || a.get("identity") != nil {
		t.Fatalf("create: %d %s", a.status, a.raw)
	}
	// The secret is proven once and never kept.
	if g := f.do("reader", "GET", cluster+api, ""); g.status != 200 || strings.Contains(g.raw, appSecret) || strings.Contains(g.raw, `"secret"`) {
		t.Fatalf("show: %d %s", g.status, g.raw)
	}
	// The cloud CLI's update sends the cluster back without the secret.
	if u := f.do("contributor", "PUT", cluster+api, `{"location":"here","properties":{"servicePrincipalProfile":{"clientId":"`+appID+`"},"kubernetesVersion":"1.31.1"}}`); u.status != 200 ||
		u.get("properties.kubernetesVersion") != "1.31.1" || u.get("properties.servicePrincipalProfile.clientId") != appID {
		t.Fatalf("update: %d %s", u.status, u.raw)
	}

	// update-credentials: a multi-tenant application of another tenant
	// that has a service principal here authenticates here; one without
	// does not, nor does a wrong secret.
	reset := func(caller, id, s string) answer {
		return f.do(caller, "POST", cluster+"/resetServicePrincipalProfile"+api, `{"clientId":"`+id+`","secret":"`+s+`"}`)
	}
	foreign, foreignSecret := f.app("tenant-b", "tenant-b", tenant)
	stranger, strangerSecret := f.app("tenant-b", "tenant-b")
	f.want(reset("contributor", stranger, strangerSecret), 400, "ServicePrincipalNotFound")
	f.want(reset("contributor", foreign, appSecret), 400, "BadRequest")
	f.want(reset("reader", foreign, foreignSecret), 403, "AuthorizationFailed")
	f.want(f.do("contributor", "POST", group+"/providers/Microsoft.ContainerService/managedClusters/absent/resetServicePrincipalProfile"+api,
		`{"clientId":"`+foreign+`","secret":"`+foreignSecret+`"}`), 404, "ResourceNotFound")
	if r := reset("contributor", foreign, foreignSecret); r.status != 200 || r.raw != "" {
		t.Fatalf("reset: %d %s", r.status, r.raw)
	}
	if g := f.do("reader", "GET", cluster+api, ""); g.get("properties.servicePrincipalProfile.clientId") != foreign || strings.Contains(g.raw, foreignSecret) {
		t.Fatalf("after reset: %s", g.raw)
	}
}

func TestClusterManagedIdentity(t *testing.T) {
	f := newFixture(t)
	f.want(f.do("owner", "PUT", group+api, `{"location":"here"}`), 201, "")
	cluster := group + "/providers/Microsoft.ContainerService/managedClusters/aks2"
	pod := `{"enabled":true,"userAssignedIdentities":[{"name":"my-pod-identity","namespace":"my-app"}]}`
	f.want(f.do("contributor", "PUT", cluster+api, `{"identity":{"type":"UserAssigned"},"properties":{}}`), 400, "InvalidIdentityType")
	a := f.do("contributor", "PUT", cluster+api, `{"location":"here","identity":{"type":"SystemAssigned"},"properties":{"podIdentityProfile":`+pod+`}}`)
	kubelet, _ := a.get("properties.identityProfile.kubeletidentity").(map[string]any)
	if a.status != 201 || a.get("identity.type") != "SystemAssigned" || a.get("identity.principalId") == "" ||
		a.get("properties.servicePrincipalProfile.clientId") != "msi" || kubelet == nil || a.get("properties.podIdentityProfile.enabled") != true {
		t.Fatalf("create: %d %s", a.status, a.raw)
	}
	// The kubelet identity is a user-assigned identity like any other,
	// in the cluster's group.
	wantID := group + "/providers/Microsoft.ManagedIdentity/userAssignedIdentities/aks2-agentpool"
	ident := f.do("reader", "GET", wantID+api, "")
	if kubelet["resourceId"] != wantID || ident.status != 200 || ident.get("properties.clientId") != kubelet["clientId"] || ident.get("properties.principalId") != kubelet["objectId"] {
		t.Fatalf("kubelet identity %v: %s", kubelet, ident.raw)
	}
	f.want(f.do("contributor", "POST", cluster+"/resetServicePrincipalProfile"+api, `{"clientId":"x","secret":"y"}`), 400, "BadRequest")
	f.want(f.do("contributor", "PUT", cluster+api, `{"identity":{"type":"None"}}`), 400, "BadRequest")

	// Deleting the cluster deletes both identities.
	f.want(f.do("contributor", "DELETE", cluster+api, ""), 200, "")
	f.want(f.do("reader", "GET", wantID+api, ""), 404, "ResourceNotFound")
	for _, oid := range []string{a.get("identity.principalId").(string), kubelet["objectId"].(string)} {
		if _, err := f.meta.GetServicePrincipal(t.Context(), oid); err == nil {
			t.Errorf("principal %s outlived the cluster", oid)
		}
	}
}
