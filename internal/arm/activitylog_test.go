package arm

import (
	"context"
	"fmt"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/berthhq/berth/internal/authz"
	"github.com/berthhq/berth/internal/ids"
	"github.com/berthhq/berth/internal/store"
	"github.com/berthhq/berth/internal/sts"
)

const activity = "/subscriptions/" + sub + "/providers/Microsoft.Insights/eventtypes/management/values?api-version=2015-04-01"

// window is the activity log's URL for a $filter, with the time window
// of the last hour when it names none.
func window(filter string) string {
	if !strings.Contains(filter, "eventTimestamp") {
		from, to := time.Now().Add(-time.Hour).UTC(), time.Now().Add(time.Minute).UTC()
		filter = strings.TrimSuffix(fmt.Sprintf("eventTimestamp ge '%s' and eventTimestamp le '%s' and %s", from.Format(time.RFC3339), to.Format(time.RFC3339), filter), " and ")
	}
	return activity + "&$filter=" + url.QueryEscape(filter)
}

func operations(a answer) string {
	var out []string
	for _, v := range a.values() {
		out = append(out, v["operationName"].(map[string]any)["value"].(string))
	}
	return strings.Join(out, " ")
}

func TestActivityLog(t *testing.T) {
	f := newFixture(t)
	f.want(f.do("owner", "PUT", group+api, `{"location":"here"}`), 201, "")
	// The client's correlation id is the event's.
	r := httptest.NewRequest("PUT", registry+api, strings.NewReader(`{"location":"here"}`))
	r.Header.Set("Authorization", "Bearer owner")
	r.Header.Set("x-ms-correlation-request-id", "corr-acr")
	r.RemoteAddr = "198.51.100.4:4711"
	w := httptest.NewRecorder()
	f.h.ServeHTTP(w, r)
	if w.Code != 201 {
		t.Fatalf("registry: %d %s", w.Code, w.Body)
	}
	assignment := ids.New()
	f.want(f.do("owner", "PUT", registry+"/providers/Microsoft.Authorization/roleAssignments/"+assignment+api, assignmentBody(authz.AcrPull, "reader")), 201, "")
	f.want(f.do("reader", "PATCH", registry+api, `{"properties":{"adminUserEnabled":true}}`), 403, "AuthorizationFailed")
	f.want(f.do("owner", "PUT", "/subscriptions/"+sub+"/resourceGroups/Other"+api, `{"location":"here"}`), 201, "")
	// A directory event of the tenant is not the subscription's.
	ctx := context.Background()
	if err := f.meta.AppendEvent(ctx, store.Event{ID: "dir", Time: time.Now(), TenantID: tenant, Operation: "Add user", Status: "Succeeded"}); err != nil {
		t.Fatal(err)
	}

	a := f.do("reader", "GET", window(""), "")
	if a.status != 200 || operations(a) != "Microsoft.Resources/subscriptions/resourceGroups/write Microsoft.ContainerRegistry/registries/write "+
		"Microsoft.Authorization/roleAssignments/write Microsoft.ContainerRegistry/registries/write Microsoft.Resources/subscriptions/resourceGroups/write" {
		t.Fatalf("the subscription's activity, newest first: %d %s", a.status, operations(a))
	}
	// The registry's creation, in the cloud's shape.
	e := a.values()[3]
	for path, want := range map[string]any{
		"caller": "owner", "correlationId": "corr-acr", "operationId": "corr-acr", "resourceId": registry, "resourceGroupName": "Team",
		"subscriptionId": sub, "tenantId": tenant, "level": "Informational", "description": "created", "channels": "Operation",
		"category.value": "Administrative", "eventName.value": "EndRequest", "status.value": "Succeeded", "status.localizedValue": "Succeeded",
		"operationName.localizedValue": "Microsoft.ContainerRegistry/registries/write", "httpRequest.clientIpAddress": "198.51.100.4",
		"resourceProviderName.value": "Microsoft.ContainerRegistry", "resourceType.value": "Microsoft.ContainerRegistry/registries",
		"authorization.action": "Microsoft.ContainerRegistry/registries/write", "authorization.scope": registry, "properties.callerType": "ServicePrincipal",
	} {
		if got := (answer{body: e}).get(path); got != want {
			t.Errorf("%s = %v, want %v", path, got, want)
		}
	}
	if at, err := time.Parse(time.RFC3339Nano, e["eventTimestamp"].(string)); err != nil || time.Since(at) > time.Minute {
		t.Errorf("eventTimestamp %v: %v", e["eventTimestamp"], err)
	}
	if id, _ := e["id"].(string); !strings.HasPrefix(id, registry+"/events/"+e["eventDataId"].(string)+"/ticks/") {
		t.Errorf("event id %q", id)
	}
	if failed := a.values()[1]; failed["level"] != "Error" || (answer{body: failed}).get("status.value") != "Failed" || failed["caller"] != "reader" ||
		!strings.Contains(failed["description"].(string), "AuthorizationFailed") {
		t.Errorf("the refused change: %v", failed)
	}

	// Narrowed to a resource group, a resource and what is below it, a
	// correlation id, a caller, a status.
	for filter, want := range map[string]string{
		"resourceGroupName eq 'team'": "Microsoft.ContainerRegistry/registries/write Microsoft.Authorization/roleAssignments/write " +
			"Microsoft.ContainerRegistry/registries/write Microsoft.Resources/subscriptions/resourceGroups/write",
		"resourceUri eq '" + strings.ToLower(registry) + "'":      "Microsoft.ContainerRegistry/registries/write Microsoft.Authorization/roleAssignments/write Microsoft.ContainerRegistry/registries/write",
		"resourceId eq '" + registry + "' and status eq 'failed'": "Microsoft.ContainerRegistry/registries/write",
		"correlationId eq 'corr-acr'":                             "Microsoft.ContainerRegistry/registries/write",
		"caller eq 'reader'":                                      "Microsoft.ContainerRegistry/registries/write",
	} {
		if a := f.do("reader", "GET", window(filter), ""); a.status != 200 || operations(a) != want {
			t.Errorf("%s: %d %s", filter, a.status, operations(a))
		}
	}
	// The window as the cloud CLI writes it: bare, without a zone (UTC).
	now := time.Now().UTC()
	bare := fmt.Sprintf("eventTimestamp ge %s and eventTimestamp le %s", now.Add(-time.Hour).Format("2006-01-02T15:04:05.000000"), now.Add(time.Minute).Format("2006-01-02T15:04:05.000000"))
	if a := f.do("reader", "GET", window(bare), ""); a.status != 200 || len(a.values()) != 5 {
		t.Errorf("a bare window: %d %s", a.status, a.raw)
	}
	later := fmt.Sprintf("eventTimestamp gt '%s' and eventTimestamp lt '%s'", now.Add(time.Minute).Format(time.RFC3339), now.Add(time.Hour).Format(time.RFC3339))
	if a := f.do("reader", "GET", window(later), ""); a.status != 200 || a.raw != `{"value":[]}`+"\n" {
		t.Errorf("a window after every event: %d %s", a.status, a.raw)
	}

	// Reading needs the right at the scope asked for.
	f.want(f.do("nobody", "GET", window(""), ""), 403, "AuthorizationFailed")
	f.want(f.do("stranger", "GET", window(""), ""), 404, "SubscriptionNotFound")
	if err := f.meta.CreateServicePrincipal(ctx, store.ServicePrincipal{ObjectID: "teamreader", TenantID: tenant, AppID: "app-teamreader", Type: store.PrincipalApplication}); err != nil {
		t.Fatal(err)
	}
	f.want(f.do("owner", "PUT", group+"/providers/Microsoft.Authorization/roleAssignments/"+ids.New()+api, assignmentBody(authz.Reader, "teamreader")), 201, "")
	f.toks["teamreader"] = sts.Claims{TenantID: tenant, ObjectID: "teamreader"}
	f.want(f.do("teamreader", "GET", window(""), ""), 403, "AuthorizationFailed")
	f.want(f.do("teamreader", "GET", window("resourceGroupName eq 'Other'"), ""), 403, "AuthorizationFailed")
	if a := f.do("teamreader", "GET", window("resourceGroupName eq 'Team'"), ""); a.status != 200 || len(a.values()) != 5 {
		t.Errorf("a reader of the group, in its group: %d %s", a.status, operations(a))
	}

	// Bad filters and windows: the resource manager's 400.
	for _, filter := range []string{
		"", "resourceGroupName eq 'Team'", "eventTimestamp le '" + now.Format(time.RFC3339) + "'", "eventTimestamp ge 'yesterday'",
		"eventTimestamp ge '" + now.Format(time.RFC3339) + "' and eventTimestamp ge '" + now.Format(time.RFC3339) + "'",
		"eventTimestamp ge '" + now.Format(time.RFC3339) + "' and location eq 'here'",
		"eventTimestamp ge '" + now.Format(time.RFC3339) + "' and resourceGroupName ge 'a'",
		"eventTimestamp eq '" + now.Format(time.RFC3339) + "'",
		"eventTimestamp ge '" + now.Add(-91*24*time.Hour).Format(time.RFC3339) + "'",
		"eventTimestamp ge '" + now.Format(time.RFC3339) + "' and eventTimestamp le '" + now.Add(-time.Hour).Format(time.RFC3339) + "'",
		"eventTimestamp ge '" + now.Format(time.RFC3339) + "' and resourceUri eq '/subscriptions/sub-b/resourceGroups/x'",
	} {
		f.want(f.do("reader", "GET", activity+"&$filter="+url.QueryEscape(filter), ""), 400, "BadRequest")
	}
	f.want(f.do("reader", "GET", window("")+"&$skiptoken=nonsense", ""), 400, "BadRequest")
	f.want(f.do("owner", "POST", window(""), ""), 405, "MethodNotAllowed")
}

func TestActivityLogPages(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	start := time.Now().Add(-30 * time.Minute)
	for i := range activityPage + 5 {
		if err := f.meta.AppendEvent(ctx, store.Event{ID: fmt.Sprintf("e%03d", i), Time: start.Add(time.Duration(i/2) * time.Second), TenantID: tenant,
			SubscriptionID: sub, Operation: "Microsoft.Resources/subscriptions/resourceGroups/write", Target: group, Status: "Succeeded"}); err != nil {
			t.Fatal(err)
		}
	}
	seen := map[string]bool{}
	next := window("")
	for pages := 0; next != ""; pages++ {
		if pages == 2 {
			t.Fatal("more than two pages")
		}
		a := f.do("reader", "GET", next, "")
		if a.status != 200 {
			t.Fatalf("page %d: %d %s", pages, a.status, a.raw)
		}
		for _, v := range a.values() {
			seen[v["eventDataId"].(string)] = true
		}
		next, _ = a.body["nextLink"].(string)
		if next != "" {
			u, err := url.Parse(next)
			if err != nil || u.Query().Get("api-version") != "2015-04-01" || u.Query().Get("$filter") == "" {
				t.Fatalf("nextLink %q", next)
			}
			next = u.RequestURI()
		}
	}
	if len(seen) != activityPage+5 {
		t.Fatalf("%d distinct events over the pages, want %d", len(seen), activityPage+5)
	}
}
