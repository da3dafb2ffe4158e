package controlplane_test

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/berthhq/berth/internal/audit"
	"github.com/berthhq/berth/internal/authz"
	"github.com/berthhq/berth/internal/clientauth"
	"github.com/berthhq/berth/internal/controlplane"
	"github.com/berthhq/berth/internal/ids"
	"github.com/berthhq/berth/internal/resourceid"
	"github.com/berthhq/berth/internal/store"
	"github.com/berthhq/berth/internal/store/sqlstore"
	"github.com/berthhq/berth/internal/testutil/stores"
)

const (
	tenant = "tenant-a"
	sub    = "sub-a"

	group    = "/subscriptions/" + sub + "/resourceGroups/Team"
	registry = group + "/providers/Microsoft.ContainerRegistry/registries/myRegistry"
	identity = group + "/providers/Microsoft.ManagedIdentity/userAssignedIdentities/builder"
)

// Callers named by their role at the subscription; nobody has none, and
// stranger is Owner of another tenant's subscription.
var (
	owner       = controlplane.Caller{TenantID: tenant, ObjectID: "owner"}
	contributor = controlplane.Caller{TenantID: tenant, ObjectID: "contributor"}
	reader      = controlplane.Caller{TenantID: tenant, ObjectID: "reader"}
	uaa         = controlplane.Caller{TenantID: tenant, ObjectID: "uaa"}
	nobody      = controlplane.Caller{TenantID: tenant, ObjectID: "nobody"}
	stranger    = controlplane.Caller{TenantID: "tenant-b", ObjectID: "stranger"}
)

type fixture struct {
	t    *testing.T
	ctx  context.Context
	meta *sqlstore.DB
	cp   *controlplane.Service

	mu      sync.Mutex
	deleted []string // the registries the data plane was told are gone
}

// newFixture is the control plane over a real SQLite store, with two
// tenants, a subscription each, and the callers above with their roles.
func newFixture(t *testing.T) *fixture {
	t.Helper()
	meta, _ := stores.New(t)
	f := &fixture{t: t, ctx: t.Context(), meta: meta}
	now := time.Now()
	f.must(meta.CreateTenant(f.ctx, store.Tenant{ID: tenant, Domain: "a.example", CreatedAt: now}))
	f.must(meta.CreateTenant(f.ctx, store.Tenant{ID: "tenant-b", Domain: "b.example", CreatedAt: now}))
	f.must(meta.CreateSubscription(f.ctx, store.Subscription{ID: sub, TenantID: tenant, DisplayName: "A", CreatedAt: now}))
	f.must(meta.CreateSubscription(f.ctx, store.Subscription{ID: "sub-b", TenantID: "tenant-b", DisplayName: "B", CreatedAt: now}))
	for c, role := range map[controlplane.Caller]string{owner: authz.Owner, contributor: authz.Contributor, reader: authz.Reader,
		uaa: authz.UserAccessAdministrator, nobody: "", stranger: authz.Owner} {
		f.must(meta.CreateServicePrincipal(f.ctx, store.ServicePrincipal{ObjectID: c.ObjectID, TenantID: c.TenantID, AppID: "app-" + c.ObjectID,
			Type: store.PrincipalApplication, CreatedAt: now}))
		if role != "" {
			s := map[string]string{tenant: sub, "tenant-b": "sub-b"}[c.TenantID]
			f.must(meta.CreateRoleAssignment(f.ctx, store.RoleAssignment{ID: ids.New(), Scope: "/subscriptions/" + s, RoleDefinitionID: role,
				PrincipalID: c.ObjectID, PrincipalType: controlplane.PrincipalTypeServicePrincipal, TenantID: c.TenantID, CreatedAt: now}))
		}
	}
	f.cp = &controlplane.Service{Store: meta, Authz: &authz.Engine{Store: meta}, Clients: clientauth.NewChecker(meta), RegistrySuffix: "cr.test",
		Audit: &audit.Trail{Store: meta, Log: slog.New(slog.DiscardHandler)},
		RegistryDeleted: func(name string) {
			f.mu.Lock()
			defer f.mu.Unlock()
			f.deleted = append(f.deleted, name)
		}}
	return f
}

func (f *fixture) must(err error) {
	f.t.Helper()
	if err != nil {
		f.t.Fatal(err)
	}
}

// wantErr checks that err is the control plane's error of kind (the status
// the wire answers) and code.
func (f *fixture) wantErr(err, kind error, code string) {
	f.t.Helper()
	var e *controlplane.Error
	if !errors.As(err, &e) || !errors.Is(err, kind) || e.Code != code {
		f.t.Fatalf("got %v, want %v with code %s", err, kind, code)
	}
}

func (f *fixture) id(s string) resourceid.ID {
	f.t.Helper()
	id, err := resourceid.Parse(s)
	if err != nil {
		f.t.Fatal(err)
	}
	return id
}

// group creates a resource group of sub as the owner.
func (f *fixture) group(name string) {
	f.t.Helper()
	_, _, err := f.cp.PutResourceGroup(f.ctx, owner, store.ResourceGroup{SubscriptionID: sub, Name: name, Location: "here"})
	f.must(err)
}

// put is a resource PUT with the JSON of its parts ("" for none).
func (f *fixture) put(c controlplane.Caller, id, sku, props, ident string) (store.Resource, bool, error) {
	f.t.Helper()
	return f.cp.PutResource(f.ctx, c, f.id(id), input(sku, props, ident))
}

// mustPut is a put that must succeed and create (or not) as said.
func (f *fixture) mustPut(c controlplane.Caller, id, sku, props, ident string, create bool) store.Resource {
	f.t.Helper()
	r, created, err := f.put(c, id, sku, props, ident)
	if err != nil || created != create {
		f.t.Fatalf("PUT %s: created %v, %v; want created %v", id, created, err, create)
	}
	return r
}

func input(sku, props, ident string) controlplane.ResourceInput {
	raw := func(s string) json.RawMessage {
		if s == "" {
			return nil
		}
		return json.RawMessage(s)
	}
	return controlplane.ResourceInput{SKU: raw(sku), Properties: raw(props), Identity: raw(ident), IssuerBase: issuerBase}
}

// fields decodes a resource's JSON part into a map.
func (f *fixture) fields(raw json.RawMessage) map[string]any {
	f.t.Helper()
	if len(raw) == 0 {
		return nil
	}
	var m map[string]any
	f.must(json.Unmarshal(raw, &m))
	return m
}

// get reads a dotted path of decoded JSON.
func get(m map[string]any, path ...string) any {
	var v any = m
	for _, k := range path {
		mm, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = mm[k]
	}
	return v
}

// assign makes principal role at scope as the owner.
func (f *fixture) assign(scope, role, principal string) store.RoleAssignment {
	f.t.Helper()
	a, err := f.cp.CreateRoleAssignment(f.ctx, owner, f.id(scope), ids.New(), controlplane.NewRoleAssignment{RoleDefinitionID: role, PrincipalID: principal})
	f.must(err)
	return a
}

func (f *fixture) principalExists(objectID string) bool {
	f.t.Helper()
	_, err := f.meta.GetServicePrincipal(f.ctx, objectID)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		f.t.Fatal(err)
	}
	return err == nil
}

// names are the resources' names, sorted.
func names(rs []store.Resource) []string {
	var out []string
	for _, r := range rs {
		out = append(out, r.Name)
	}
	slices.Sort(out)
	return out
}
