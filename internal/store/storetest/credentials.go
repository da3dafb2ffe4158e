package storetest

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/berthhq/berth/internal/store"
)

func keyIDs(t *testing.T, s store.Store, app string) []string {
	t.Helper()
	creds, err := s.ListKeyCredentials(context.Background(), app)
	must(t, err)
	var ids []string
	for _, c := range creds {
		ids = append(ids, c.KeyID)
	}
	return ids
}

func testReplaceKeyCredentials(t *testing.T, s store.Store) {
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Microsecond)
	must(t, s.CreateTenant(ctx, store.Tenant{ID: "t1", Domain: "a.example", CreatedAt: now}))
	must(t, s.CreateApplication(ctx, store.Application{ObjectID: "o1", AppID: "a1", TenantID: "t1", CreatedAt: now}))
	must(t, s.CreateApplication(ctx, store.Application{ObjectID: "o2", AppID: "a2", TenantID: "t1", CreatedAt: now}))
	cred := func(id string, start time.Time) store.KeyCredential {
		return store.KeyCredential{KeyID: id, AppObjectID: "ignored", DisplayName: "CN=" + id, Type: store.KeyTypeX509Cert, Usage: store.KeyUsageVerify,
			Certificate: []byte(id), Thumbprint: "s1-" + id, ThumbprintSHA256: "s256-" + id, StartDateTime: start, EndDateTime: start.Add(time.Hour)}
	}
	must(t, s.ReplaceKeyCredentials(ctx, "o1", nil, []store.KeyCredential{cred("k1", now), cred("k2", now.Add(time.Second))}))
	must(t, s.ReplaceKeyCredentials(ctx, "o2", nil, []store.KeyCredential{cred("other", now)}))
	if got := keyIDs(t, s, "o1"); !reflect.DeepEqual(got, []string{"k1", "k2"}) {
		t.Fatalf("after adding to an empty set: %v", got)
	}
	creds, err := s.ListKeyCredentials(ctx, "o1")
	must(t, err)
	if c := creds[0]; c.AppObjectID != "o1" || string(c.Certificate) != "k1" || c.Thumbprint != "s1-k1" || !c.EndDateTime.Equal(now.Add(time.Hour)) {
		t.Fatalf("stored credential %+v", c)
	}

	// Keep one, drop the other, add a third.
	must(t, s.ReplaceKeyCredentials(ctx, "o1", []string{"k2"}, []store.KeyCredential{cred("k3", now.Add(2*time.Second))}))
	if got := keyIDs(t, s, "o1"); !reflect.DeepEqual(got, []string{"k2", "k3"}) {
		t.Fatalf("after keeping k2 and adding k3: %v", got)
	}

	// A failed replacement changes nothing.
	wantErr(t, s.ReplaceKeyCredentials(ctx, "o1", []string{"k1"}, nil), store.ErrNotFound)
	wantErr(t, s.ReplaceKeyCredentials(ctx, "o1", []string{"other"}, nil), store.ErrNotFound)
	wantErr(t, s.ReplaceKeyCredentials(ctx, "o1", nil, []store.KeyCredential{cred("k4", now), cred("other", now)}), store.ErrExists)
	wantErr(t, s.ReplaceKeyCredentials(ctx, "missing", nil, []store.KeyCredential{cred("k5", now)}), store.ErrNotFound)
	if got := keyIDs(t, s, "o1"); !reflect.DeepEqual(got, []string{"k2", "k3"}) {
		t.Fatalf("after failed replacements: %v", got)
	}
	if got := keyIDs(t, s, "o2"); !reflect.DeepEqual(got, []string{"other"}) {
		t.Fatalf("another application's credentials: %v", got)
	}

	// An added credential may take the key id of one being dropped.
	must(t, s.ReplaceKeyCredentials(ctx, "o1", nil, []store.KeyCredential{cred("k2", now)}))
	must(t, s.ReplaceKeyCredentials(ctx, "o1", nil, nil))
	if got := keyIDs(t, s, "o1"); len(got) != 0 {
		t.Fatalf("after replacing with nothing: %v", got)
	}
}

func testUpdateApplication(t *testing.T, s store.Store) {
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Microsecond)
	must(t, s.CreateTenant(ctx, store.Tenant{ID: "t1", Domain: "a.example", CreatedAt: now}))
	app := store.Application{ObjectID: "o1", AppID: "a1", TenantID: "t1", DisplayName: "before", SignInAudience: "AzureADMyOrg",
		WebRedirectURIs: []string{"https://a.example/cb"}, CreatedAt: now}
	must(t, s.CreateApplication(ctx, app))
	app.DisplayName, app.WebRedirectURIs = "after", []string{"https://b.example/cb", "https://c.example/cb"}
	// Only the display name and redirect URIs change.
	changed := app
	changed.AppID, changed.TenantID, changed.SignInAudience = "x", "x", "x"
	must(t, s.UpdateApplication(ctx, changed))
	if got, err := s.GetApplication(ctx, "o1"); err != nil || !reflect.DeepEqual(got, app) {
		t.Fatalf("after UpdateApplication: %+v, %v", got, err)
	}
	app.WebRedirectURIs = nil
	must(t, s.UpdateApplication(ctx, app))
	if got, err := s.GetApplication(ctx, "o1"); err != nil || got.WebRedirectURIs != nil {
		t.Fatalf("after clearing the redirect URIs: %+v, %v", got, err)
	}
	wantErr(t, s.UpdateApplication(ctx, store.Application{ObjectID: "missing"}), store.ErrNotFound)
}

func testFederatedCredentials(t *testing.T, s store.Store) {
	ctx := context.Background()
	now := time.Now().UTC()
	must(t, s.CreateTenant(ctx, store.Tenant{ID: "t1", Domain: "a.example", CreatedAt: now}))
	must(t, s.CreateApplication(ctx, store.Application{ObjectID: "o1", AppID: "a1", TenantID: "t1", CreatedAt: now}))
	must(t, s.CreateApplication(ctx, store.Application{ObjectID: "o2", AppID: "a2", TenantID: "t1", CreatedAt: now}))
	list := func(app string) []store.FederatedCredential {
		t.Helper()
		creds, err := s.ListFederatedCredentials(ctx, app)
		must(t, err)
		return creds
	}
	if got := list("o1"); len(got) != 0 {
		t.Fatalf("a new application's federated credentials: %v", got)
	}
	kube := store.FederatedCredential{ID: "f1", OwnerObjectID: "o1", Name: "kube", Issuer: "https://issuer.example", Subject: "system:serviceaccount:ns:sa",
		Audiences: []string{"api://AzureADTokenExchange"}, Description: "d"}
	must(t, s.CreateFederatedCredential(ctx, kube, 3))
	ci := store.FederatedCredential{ID: "f2", OwnerObjectID: "o1", Name: "CI", Issuer: "https://ci.example", Subject: "repo:x", Audiences: []string{"a", "b"}}
	must(t, s.CreateFederatedCredential(ctx, ci, 3))
	if got := list("o1"); !reflect.DeepEqual(got, []store.FederatedCredential{ci, kube}) {
		t.Fatalf("ListFederatedCredentials = %+v", got)
	}

	dup := kube
	dup.ID, dup.Name = "f3", "KUBE"
	wantErr(t, s.CreateFederatedCredential(ctx, dup, 3), store.ErrExists)
	same := kube
	same.Name = "other"
	wantErr(t, s.CreateFederatedCredential(ctx, same, 3), store.ErrExists)
	orphan := kube
	orphan.ID, orphan.OwnerObjectID = "f4", "missing"
	wantErr(t, s.CreateFederatedCredential(ctx, orphan, 3), store.ErrNotFound)
	// The same name on another application is another credential.
	elsewhere := kube
	elsewhere.ID, elsewhere.OwnerObjectID = "f5", "o2"
	must(t, s.CreateFederatedCredential(ctx, elsewhere, 3))
	third := kube
	third.ID, third.Name = "f6", "third"
	must(t, s.CreateFederatedCredential(ctx, third, 3))
	fourth := kube
	fourth.ID, fourth.Name = "f7", "fourth"
	wantErr(t, s.CreateFederatedCredential(ctx, fourth, 3), store.ErrLimit)

	kube.Issuer, kube.Subject, kube.Audiences, kube.Description = "https://new.example", "system:serviceaccount:ns:other", []string{"aud"}, ""
	renamed := kube
	renamed.Name = "ignored"
	must(t, s.UpdateFederatedCredential(ctx, renamed))
	if got := list("o1"); len(got) != 3 || !reflect.DeepEqual(got[1], kube) {
		t.Fatalf("after UpdateFederatedCredential: %+v", got)
	}
	wrongApp := kube
	wrongApp.OwnerObjectID = "o2"
	wantErr(t, s.UpdateFederatedCredential(ctx, wrongApp), store.ErrNotFound)

	wantErr(t, s.DeleteFederatedCredential(ctx, "o2", "f1"), store.ErrNotFound)
	must(t, s.DeleteFederatedCredential(ctx, "o1", "f1"))
	wantErr(t, s.DeleteFederatedCredential(ctx, "o1", "f1"), store.ErrNotFound)
	must(t, s.CreateFederatedCredential(ctx, fourth, 3))

	must(t, s.DeleteApplication(ctx, "o1"))
	if got := list("o1"); len(got) != 0 {
		t.Fatalf("federated credentials outlived their application: %+v", got)
	}
	if got := list("o2"); len(got) != 1 {
		t.Fatalf("another application's federated credentials: %+v", got)
	}

	// A managed identity has no application: its service principal owns
	// its federated credentials. An application's service principal does
	// not: the application does.
	must(t, s.CreateServicePrincipal(ctx, store.ServicePrincipal{ObjectID: "mi1", TenantID: "t1", AppID: "mi-client", AppOwnerTenantID: "t1",
		Type: store.PrincipalManagedIdentity, DisplayName: "pods", CreatedAt: now}))
	must(t, s.CreateServicePrincipal(ctx, store.ServicePrincipal{ObjectID: "sp2", TenantID: "t1", AppID: "a2", AppOwnerTenantID: "t1",
		Type: store.PrincipalApplication, DisplayName: "a2", CreatedAt: now}))
	pods := store.FederatedCredential{ID: "f8", OwnerObjectID: "mi1", Name: "kube", Issuer: "https://issuer.example",
		Subject: "system:serviceaccount:ns:pods", Audiences: []string{"api://AzureADTokenExchange"}}
	must(t, s.CreateFederatedCredential(ctx, pods, 3))
	if got := list("mi1"); !reflect.DeepEqual(got, []store.FederatedCredential{pods}) {
		t.Fatalf("a managed identity's federated credentials: %+v", got)
	}
	bySP := pods
	bySP.ID, bySP.OwnerObjectID = "f9", "sp2"
	wantErr(t, s.CreateFederatedCredential(ctx, bySP, 3), store.ErrNotFound)
	must(t, s.DeleteServicePrincipal(ctx, "mi1"))
	if got := list("mi1"); len(got) != 0 {
		t.Fatalf("federated credentials outlived their managed identity: %+v", got)
	}
}
