package graph

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/berthhq/berth/internal/audit"
	"github.com/berthhq/berth/internal/store"
)

// events are a tenant's directory events, newest first.
func (f *fixture) events(tenant string) []store.Event {
	f.t.Helper()
	es, err := f.meta.ListEvents(context.Background(), store.EventQuery{TenantID: tenant, From: time.Now().Add(-time.Hour), To: time.Now().Add(time.Minute)})
	if err != nil {
		f.t.Fatal(err)
	}
	return es
}

// one sends a request and returns the one event it recorded in tenant.
func (f *fixture) one(tenant, token, method, path, body string, status int) (store.Event, call) {
	f.t.Helper()
	before := len(f.events(tenant))
	c, raw := f.do(token, method, path, body)
	if c.status != status {
		f.t.Fatalf("%s %s: %d %s", method, path, c.status, raw)
	}
	es := f.events(tenant)
	if len(es) != before+1 {
		f.t.Fatalf("%s %s recorded %d events, want 1", method, path, len(es)-before)
	}
	return es[0], c
}

func wantDirectoryEvent(t *testing.T, e store.Event, tenant, caller, op, target, status, says string) {
	t.Helper()
	// httptest's requests come from 192.0.2.1.
	if e.TenantID != tenant || e.SubscriptionID != "" || e.CallerID != caller || e.CallerKind != audit.ServicePrincipal || e.ClientIP != "192.0.2.1" ||
		e.CorrelationID == "" || e.Operation != op || e.Target != target || e.Status != status || !strings.Contains(e.Description, says) {
		t.Fatalf("event %+v, want %s by %s on %q: %s, saying %q", e, op, caller, target, status, says)
	}
}

func TestDirectoryChangesAreAudited(t *testing.T) {
	f := newFixture(t,
		caller{id: "admin", roles: []string{store.RoleGlobalAdministrator}},
		caller{id: "plain"},
		caller{id: "admin2", tenant: "t2", roles: []string{store.RoleGlobalAdministrator}},
	)

	e, c := f.one("t", "admin", "POST", "/v1.0/applications", `{"displayName":"web","signInAudience":"AzureADMultipleOrgs"}`, 201)
	app, appID := c.body["id"].(string), c.body["appId"].(string)
	wantDirectoryEvent(t, e, "t", "admin", "Add application", app, audit.Succeeded, "application web, app id "+appID)

	// A secret: its key id in the trail, never its value.
	e, c = f.one("t", "admin", "POST", "/v1.0/applications/"+app+"/addPassword", `{"passwordCredential":{"displayName":"ci"}}`, 200)
	wantDirectoryEvent(t, e, "t", "admin", "Update application – Certificates and secrets management", app, audit.Succeeded, "secret "+c.body["keyId"].(string)+" added")
	if strings.Contains(e.Description, c.body["secretText"].(string)) || strings.Contains(e.Description, c.body["hint"].(string)) {
		t.Fatalf("the secret is in the trail: %q", e.Description)
	}

	// A service principal of the tenant's own application.
	e, c = f.one("t", "admin", "POST", "/v1.0/servicePrincipals", `{"appId":"`+appID+`"}`, 201)
	wantDirectoryEvent(t, e, "t", "admin", "Add service principal", c.body["id"].(string), audit.Succeeded, "application "+appID)

	// One in another tenant is that tenant's consent, in its trail.
	e, c = f.one("t2", "admin2", "POST", "/v1.0/servicePrincipals", `{"appId":"`+appID+`"}`, 201)
	wantDirectoryEvent(t, e, "t2", "admin2", "Consent to application", c.body["id"].(string), audit.Succeeded, "application "+appID+" of tenant t")
	consented := c.body["id"].(string)

	// Refused for lack of rights: Failed, with why.
	e, _ = f.one("t", "plain", "DELETE", "/v1.0/applications/"+app, "", 403)
	wantDirectoryEvent(t, e, "t", "plain", "Delete application", app, audit.Failed, "insufficient privileges")

	// Conflicts, bad input and what does not exist change nothing and are
	// not recorded.
	before := len(f.events("t2"))
	for _, req := range []struct{ method, path, body string }{
		{"POST", "/v1.0/servicePrincipals", `{"appId":"` + appID + `"}`},
		{"POST", "/v1.0/servicePrincipals", `{"appId":""}`},
		{"DELETE", "/v1.0/servicePrincipals/absent", ""},
	} {
		if c, raw := f.do("admin2", req.method, req.path, req.body); c.status < 400 {
			t.Fatalf("%s %s: %d %s", req.method, req.path, c.status, raw)
		}
	}
	if n := len(f.events("t2")); n != before {
		t.Fatalf("%d events recorded for requests that changed nothing", n-before)
	}

	// Withdrawing the consent.
	e, _ = f.one("t2", "admin2", "DELETE", "/v1.0/servicePrincipals/"+consented, "", 204)
	wantDirectoryEvent(t, e, "t2", "admin2", "Remove service principal", consented, audit.Succeeded, "deleted")

	e, c = f.one("t", "admin", "POST", "/v1.0/users", `{"displayName":"Ann","userPrincipalName":"ann@t.example","passwordProfile":{"password":"a long password"}}`, 201)
	wantDirectoryEvent(t, e, "t", "admin", "Add user", c.body["id"].(string), audit.Succeeded, "user ann@t.example")
	if strings.Contains(e.Description, "a long password") {
		t.Fatal("the password is in the trail")
	}
	user := c.body["id"].(string)
	e, _ = f.one("t", "admin", "POST", "/v1.0/directoryRoles/roleTemplateId="+store.RoleApplicationAdministrator+"/members/$ref",
		`{"@odata.id":"https://graph.microsoft.com/v1.0/directoryObjects/`+user+`"}`, 204)
	wantDirectoryEvent(t, e, "t", "admin", "Add member to role", user, audit.Succeeded, store.RoleApplicationAdministrator)
	e, _ = f.one("t", "admin", "PATCH", "/v1.0/users/"+user, `{"accountEnabled":false,"passwordProfile":{"password":"another long one"}}`, 204)
	wantDirectoryEvent(t, e, "t", "admin", "Reset user password", user, audit.Succeeded, "changed accountEnabled false, password")
	if strings.Contains(e.Description, "another long one") {
		t.Fatal("the new password is in the trail")
	}
	e, _ = f.one("t", "admin", "PATCH", "/v1.0/users/ann@t.example", `{"displayName":"Ann B"}`, 204)
	wantDirectoryEvent(t, e, "t", "admin", "Update user", user, audit.Succeeded, "changed displayName")
	e, _ = f.one("t", "admin", "DELETE", "/v1.0/directoryRoles/roleTemplateId="+store.RoleApplicationAdministrator+"/members/"+user+"/$ref", "", 204)
	wantDirectoryEvent(t, e, "t", "admin", "Remove member from role", user, audit.Succeeded, store.RoleApplicationAdministrator)
	e, _ = f.one("t", "admin", "POST", "/v1.0/applications/"+app+"/owners/$ref", `{"@odata.id":"https://graph.microsoft.com/v1.0/directoryObjects/`+user+`"}`, 204)
	wantDirectoryEvent(t, e, "t", "admin", "Add owner to application", app, audit.Succeeded, "owner "+user)
	e, _ = f.one("t", "admin", "POST", "/v1.0/applications/"+app+"/federatedIdentityCredentials",
		`{"name":"ci-job","issuer":"https://issuer.example","subject":"system:serviceaccount:ns:sa"}`, 201)
	wantDirectoryEvent(t, e, "t", "admin", "Update application – Certificates and secrets management", app, audit.Succeeded,
		"federated credential ci-job (issuer https://issuer.example, subject system:serviceaccount:ns:sa")
	e, _ = f.one("t", "admin", "PATCH", "/v1.0/applications/"+app, `{"displayName":"web2"}`, 204)
	wantDirectoryEvent(t, e, "t", "admin", "Update application", app, audit.Succeeded, "changed displayName")
	e, _ = f.one("t", "plain", "DELETE", "/v1.0/users/"+user, "", 403)
	wantDirectoryEvent(t, e, "t", "plain", "Delete user", user, audit.Failed, "insufficient privileges")
	e, _ = f.one("t", "admin", "DELETE", "/v1.0/users/"+user, "", 204)
	wantDirectoryEvent(t, e, "t", "admin", "Delete user", user, audit.Succeeded, "user ann@t.example deleted")
}
