package storetest

import (
	"context"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/berthhq/berth/internal/store"
)

func testEvents(t *testing.T, s store.Store) {
	ctx := context.Background()
	base := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	const reg = "/subscriptions/s1/resourceGroups/Build/providers/Microsoft.ContainerRegistry/registries/reg"
	at := func(minutes int) time.Time { return base.Add(time.Duration(minutes) * time.Minute) }
	all := []store.Event{
		{ID: "e1", Time: at(0), TenantID: "t1", SubscriptionID: "s1", ResourceGroup: "Build", CallerID: "sp1", CallerKind: "ServicePrincipal",
			ClientIP: "192.0.2.7", CorrelationID: "c1", Operation: "Microsoft.ContainerRegistry/registries/write", Target: reg, Status: "Succeeded", Description: "created"},
		{ID: "e2", Time: at(1), TenantID: "t1", SubscriptionID: "s1", ResourceGroup: "Build", CallerID: "sp2", CallerKind: "ServicePrincipal",
			Operation: "Microsoft.Authorization/roleAssignments/write", Target: reg + "/providers/Microsoft.Authorization/roleAssignments/a1", Status: "Failed"},
		// Another registry whose id starts with the first's: not below it.
		{ID: "e3", Time: at(2), TenantID: "t1", SubscriptionID: "s1", ResourceGroup: "build", CallerID: "sp1", CallerKind: "ServicePrincipal",
			Operation: "Microsoft.ContainerRegistry/registries/write", Target: reg + "2", Status: "Succeeded"},
		{ID: "e4", Time: at(2), TenantID: "t1", SubscriptionID: "s1", ResourceGroup: "other", CallerID: "sp1", CallerKind: "ServicePrincipal",
			Operation: "Microsoft.Resources/subscriptions/resourceGroups/write", Target: "/subscriptions/s1/resourceGroups/other", Status: "Succeeded"},
		{ID: "e5", Time: at(3), TenantID: "t1", SubscriptionID: "s2", CallerID: "sp1", CallerKind: "ServicePrincipal",
			Operation: "Microsoft.Authorization/roleAssignments/write", Target: "/subscriptions/s2/providers/Microsoft.Authorization/roleAssignments/a2", Status: "Succeeded"},
		// Tenant-level: a directory change, and a refused sign-in by nobody known.
		{ID: "e6", Time: at(4), TenantID: "t1", CallerID: "sp1", CallerKind: "ServicePrincipal", Operation: "Add service principal", Target: "obj1", Status: "Succeeded"},
		{ID: "e7", Time: at(5), TenantID: "t1", CallerKind: "User", ClientIP: "2001:db8::1", Operation: "Sign-in", Status: "Failed"},
		{ID: "e8", Time: at(1), TenantID: "t2", SubscriptionID: "s1", CallerID: "x", CallerKind: "ServicePrincipal", Operation: "op", Target: reg, Status: "Failed"},
	}
	for _, e := range all {
		must(t, s.AppendEvent(ctx, e))
	}
	wantErr(t, s.AppendEvent(ctx, all[0]), store.ErrExists)

	ids := func(q store.EventQuery) string {
		t.Helper()
		if q.TenantID == "" {
			q.TenantID = "t1"
		}
		if q.From.IsZero() {
			q.From, q.To = at(-60), at(60)
		}
		es, err := s.ListEvents(ctx, q)
		must(t, err)
		var out []string
		for _, e := range es {
			out = append(out, e.ID)
		}
		return fmt.Sprint(out)
	}
	for _, tc := range []struct {
		name string
		q    store.EventQuery
		want string
	}{
		{"a subscription, newest first, ties by id", store.EventQuery{SubscriptionID: "s1"}, "[e4 e3 e2 e1]"},
		{"tenant-level", store.EventQuery{}, "[e7 e6]"},
		{"another tenant's events under the same subscription id", store.EventQuery{TenantID: "t2", SubscriptionID: "s1"}, "[e8]"},
		{"the window's ends are inside it", store.EventQuery{SubscriptionID: "s1", From: at(1), To: at(2)}, "[e4 e3 e2]"},
		{"an empty window", store.EventQuery{SubscriptionID: "s1", From: at(10), To: at(20)}, "[]"},
		{"a resource group, in any letter case", store.EventQuery{SubscriptionID: "s1", ResourceGroup: "BUILD"}, "[e3 e2 e1]"},
		{"a resource and what is below it", store.EventQuery{SubscriptionID: "s1", Under: "/SUBSCRIPTIONS/s1/resourcegroups/build/providers/microsoft.containerregistry/registries/REG"}, "[e2 e1]"},
		{"a resource group's id", store.EventQuery{SubscriptionID: "s1", Under: "/subscriptions/s1/resourceGroups/other"}, "[e4]"},
		{"a correlation id", store.EventQuery{SubscriptionID: "s1", CorrelationID: "c1"}, "[e1]"},
		{"a caller", store.EventQuery{SubscriptionID: "s1", CallerID: "sp2"}, "[e2]"},
		{"a status", store.EventQuery{SubscriptionID: "s1", Status: "Failed"}, "[e2]"},
		{"a page", store.EventQuery{SubscriptionID: "s1", Limit: 2}, "[e4 e3]"},
		{"the next page", store.EventQuery{SubscriptionID: "s1", Limit: 2, After: &store.EventPosition{Time: at(2), ID: "e3"}}, "[e2 e1]"},
	} {
		if got := ids(tc.q); got != tc.want {
			t.Errorf("%s: %s, want %s", tc.name, got, tc.want)
		}
	}

	es, err := s.ListEvents(ctx, store.EventQuery{TenantID: "t1", SubscriptionID: "s1", CorrelationID: "c1", From: at(0), To: at(0)})
	must(t, err)
	if len(es) != 1 || !reflect.DeepEqual(es[0], all[0]) {
		t.Fatalf("event read back: %+v, want %+v", es, all[0])
	}

	must(t, s.DeleteEventsBefore(ctx, at(2)))
	if got := ids(store.EventQuery{SubscriptionID: "s1"}); got != "[e4 e3]" {
		t.Errorf("after deleting those before %s: %s", at(2), got)
	}
	if got := ids(store.EventQuery{TenantID: "t2", SubscriptionID: "s1"}); got != "[]" {
		t.Errorf("another tenant's old event kept: %s", got)
	}
}
