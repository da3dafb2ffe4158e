package arm

import (
	"testing"
	"time"

	"github.com/berthhq/berth/internal/ids"
	"github.com/berthhq/berth/internal/secret"
	"github.com/berthhq/berth/internal/store"
)

// app registers an application in tenant with one secret and a service
// principal there; it returns the app id and the secret.
func (f *fixture) app() (string, string) {
	f.t.Helper()
	ctx, now := f.t.Context(), time.Now()
	app := store.Application{ObjectID: ids.New(), AppID: ids.New(), TenantID: tenant, DisplayName: "cluster", CreatedAt: now}
	value := secret.Generate()
	salt, sum := secret.Hash(value)
	err := f.meta.CreateApplication(ctx, app)
	if err == nil {
		err = f.meta.AddPasswordCredential(ctx, store.PasswordCredential{KeyID: ids.New(), AppObjectID: app.ObjectID, Salt: salt, Hash: sum,
			StartDateTime: now.Add(-time.Minute), EndDateTime: now.Add(time.Hour)})
	}
	if err == nil {
		err = f.meta.CreateServicePrincipal(ctx, store.ServicePrincipal{ObjectID: ids.New(), TenantID: tenant, AppID: app.AppID,
			AppOwnerTenantID: tenant, Type: store.PrincipalApplication, CreatedAt: now})
	}
	if err != nil {
		f.t.Fatal(err)
	}
	return app.AppID, value
}

// TestResetServicePrincipalProfile: the cloud's update-credentials call is
// a POST whose answer, like the cloud's, has no body; it exists on
// clusters only.
func TestResetServicePrincipalProfile(t *testing.T) {
	f := newFixture(t)
	f.want(f.do("owner", "PUT", group+api, `{"location":"here"}`), 201, "")
	cluster := group + "/providers/Microsoft.ContainerService/managedClusters/aks1"
	appID, appSecret := f.app()
	a := f.do("contributor", "PUT", cluster+api, `{"properties":{"servicePrincipalProfile":{"clientId":"`+appID+`","secret":"`+appSecret+`"}}}`)
	if a.status != 201 || a.get("properties.servicePrincipalProfile.clientId") != appID || a.body["identity"] != nil {
		t.Fatalf("create: %d %s", a.status, a.raw)
	}
	other, otherSecret := f.app()
	if r := f.do("contributor", "POST", cluster+"/resetServicePrincipalProfile"+api, `{"clientId":"`+other+`","secret":"`+otherSecret+`"}`); r.status != 200 || r.raw != "" {
		t.Fatalf("reset: %d %s", r.status, r.raw)
	}
	f.want(f.do("contributor", "POST", cluster+"/resetServicePrincipalProfile"+api, `{"clientId":"`+other+`","secret":"wrong"}`), 400, "BadRequest")
	f.want(f.do("contributor", "POST", cluster+"/resetServicePrincipalProfile"+api, `{"clientId":`), 400, "InvalidRequestContent")
	f.want(f.do("owner", "PUT", identity+api, `{}`), 201, "")
	f.want(f.do("owner", "POST", identity+"/resetServicePrincipalProfile"+api, `{}`), 404, "NotFound")
}
