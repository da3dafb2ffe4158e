package arm

import (
	"fmt"
	"strings"
	"testing"
)

// TestProviders: the provider look-ups clients make to find a type's API
// versions, for resource types and the resource manager's own services,
// the list of providers, and registration.
func TestProviders(t *testing.T) {
	f := newFixture(t)
	providers := "/subscriptions/" + sub + "/providers"
	versions := func(a answer, typ string) string {
		t.Helper()
		if a.status != 200 {
			t.Fatalf("%d %s", a.status, a.raw)
		}
		for _, rt := range a.body["resourceTypes"].([]any) {
			if m := rt.(map[string]any); m["resourceType"] == typ {
				return fmt.Sprint(m["apiVersions"])
			}
		}
		return ""
	}
	a := f.do("nobody", "GET", providers+"/microsoft.containerregistry"+api, "")
	if a.get("namespace") != "Microsoft.ContainerRegistry" || a.get("id") != providers+"/Microsoft.ContainerRegistry" ||
		a.get("registrationState") != "Registered" || !strings.Contains(versions(a, "registries"), "2023-07-01") {
		t.Fatalf("Microsoft.ContainerRegistry: %s", a.raw)
	}
	a = f.do("reader", "GET", providers+"/Microsoft.Resources"+api, "")
	if !strings.Contains(versions(a, "deployments"), "2022-09-01") || versions(a, "deployments/operations") == "" || a.get("registrationPolicy") != "RegistrationFree" {
		t.Fatalf("Microsoft.Resources: %s", a.raw)
	}
	if a := f.do("reader", "GET", providers+"/Microsoft.Authorization"+api, ""); !strings.Contains(versions(a, "roleAssignments"), "2022-04-01") {
		t.Fatalf("Microsoft.Authorization: %s", a.raw)
	}
	var names []string
	for _, p := range f.do("reader", "GET", providers+api, "").values() {
		names = append(names, p["namespace"].(string))
	}
	if got := strings.Join(names, ","); got != "Microsoft.Authorization,Microsoft.Compute,Microsoft.ContainerRegistry,Microsoft.ContainerService,Microsoft.Insights,Microsoft.ManagedIdentity,Microsoft.Network,Microsoft.Resources" {
		t.Fatalf("providers: %s", got)
	}
	if a := f.do("reader", "POST", providers+"/Microsoft.ContainerRegistry/register"+api, ""); a.get("registrationState") != "Registered" {
		t.Fatalf("register: %d %s", a.status, a.raw)
	}
	f.want(f.do("reader", "GET", providers+"/Microsoft.Storage"+api, ""), 404, "InvalidResourceNamespace")
	f.want(f.do("reader", "POST", providers+"/Microsoft.Storage/register"+api, ""), 404, "InvalidResourceNamespace")
	f.want(f.do("reader", "GET", providers+"/Microsoft.ContainerRegistry/register"+api, ""), 405, "MethodNotAllowed")
	f.want(f.do("reader", "POST", providers+"/Microsoft.ContainerRegistry"+api, ""), 405, "MethodNotAllowed")
}
