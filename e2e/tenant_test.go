package e2e

import (
	"encoding/json"
	"net/url"
	"strings"
	"testing"

	"github.com/berthhq/berth/internal/testutil/berthtest"
)

// TestTenants: berth tenant create makes a second tenant with its own
// administrator, who gets tokens there; neither administrator gets a token
// in the other's tenant, since neither application has a service
// principal (consent) there.
func TestTenants(t *testing.T) {
	s := berthtest.Start(t)
	out, err := operator(t, s, "tenant", "create", "--display-name", "Tenant B", "--domain", "b.example")
	if err != nil {
		t.Fatalf("berth tenant create: %v\n%s", err, out)
	}
	var b struct{ TenantID, Domain, SubscriptionID, ClientID, ClientSecret string }
	if err := json.Unmarshal([]byte(out), &b); err != nil || b.TenantID == "" || b.ClientSecret == "" || b.Domain != "b.example" {
		t.Fatalf("output %q: %v", out, err)
	}
	if out, err := operator(t, s, "tenant", "create", "--domain", "B.example"); err == nil || !strings.Contains(out, "exists already") {
		t.Fatalf("a second tenant with the same domain: %v\n%s", err, out)
	}
	token := func(tenant, client, secret string) (int, map[string]any) {
		return tokenError(t, s, "/"+tenant+"/oauth2/v2.0/token", url.Values{
			"grant_type": {"client_credentials"}, "client_id": {client}, "client_secret": {secret},
			"scope": {"https://management.azure.com/.default"},
		})
	}
	// By tenant id and by domain name.
	for _, tenant := range []string{b.TenantID, "b.example"} {
		if status, body := token(tenant, b.ClientID, b.ClientSecret); status != 200 || body["access_token"] == nil {
			t.Errorf("tenant B's administrator in %s: %d %v", tenant, status, body)
		}
	}
	for _, c := range []struct{ tenant, client, secret string }{
		{b.TenantID, s.Boot.ClientID, s.Boot.ClientSecret},
		{s.Boot.TenantID, b.ClientID, b.ClientSecret},
	} {
		status, body := token(c.tenant, c.client, c.secret)
		codes, _ := body["error_codes"].([]any)
		if status != 400 || len(codes) != 1 || codes[0] != float64(700016) {
			t.Errorf("application %s in tenant %s without consent: %d %v", c.client, c.tenant, status, body)
		}
	}
}
