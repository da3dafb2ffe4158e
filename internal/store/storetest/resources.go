package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/berthhq/berth/internal/oci"
	"github.com/berthhq/berth/internal/store"
)

func seedSubscription(t *testing.T, s store.Store) {
	t.Helper()
	ctx := context.Background()
	now := time.Now().UTC()
	must(t, s.CreateTenant(ctx, store.Tenant{ID: "t1", Domain: "t1.example", CreatedAt: now}))
	must(t, s.CreateSubscription(ctx, store.Subscription{ID: "s1", TenantID: "t1", DisplayName: "one", CreatedAt: now}))
}

func testResources(t *testing.T, s store.Store) {
	ctx := context.Background()
	seedSubscription(t, s)
	now := time.Now().UTC()
	must(t, s.CreateSubscription(ctx, store.Subscription{ID: "s2", TenantID: "t1", CreatedAt: now}))
	subs, err := s.ListSubscriptions(ctx, "t1")
	must(t, err)
	if len(subs) != 2 || subs[0].ID != "s1" || subs[1].ID != "s2" {
		t.Fatalf("subscriptions of t1: %+v", subs)
	}

	wantErr(t, s.CreateResourceGroup(ctx, store.ResourceGroup{SubscriptionID: "nope", Name: "g", Location: "here", CreatedAt: now}), store.ErrNotFound)
	must(t, s.CreateResourceGroup(ctx, store.ResourceGroup{SubscriptionID: "s1", Name: "MyGroup", Location: "here", Tags: map[string]string{"a": "b"}, CreatedAt: now}))
	wantErr(t, s.CreateResourceGroup(ctx, store.ResourceGroup{SubscriptionID: "s1", Name: "mygroup", Location: "there", CreatedAt: now}), store.ErrExists)
	// The same name in another subscription is another group.
	must(t, s.CreateResourceGroup(ctx, store.ResourceGroup{SubscriptionID: "s2", Name: "mygroup", Location: "there", CreatedAt: now}))
	g, err := s.GetResourceGroup(ctx, "s1", "MYGROUP")
	must(t, err)
	if g.Name != "MyGroup" || g.Location != "here" || g.Tags["a"] != "b" {
		t.Fatalf("group looked up in another case: %+v", g)
	}
	g.Tags = map[string]string{"c": "d"}
	must(t, s.UpdateResourceGroup(ctx, g))
	if g, _ := s.GetResourceGroup(ctx, "s1", "mygroup"); len(g.Tags) != 1 || g.Tags["c"] != "d" {
		t.Fatalf("tags after update: %v", g.Tags)
	}
	wantErr(t, s.UpdateResourceGroup(ctx, store.ResourceGroup{SubscriptionID: "s1", Name: "absent"}), store.ErrNotFound)
	_, err = s.GetResourceGroup(ctx, "s1", "absent")
	wantErr(t, err, store.ErrNotFound)

	id := "/subscriptions/s1/resourceGroups/MyGroup/providers/Microsoft.ContainerRegistry/registries/Reg1"
	reg := store.Resource{
		ID: id, SubscriptionID: "s1", ResourceGroup: "MyGroup", Type: "Microsoft.ContainerRegistry/registries", Name: "Reg1",
		Location: "here", SKU: json.RawMessage(`{"name":"Basic"}`), Properties: json.RawMessage(`{"loginServer":"reg1.example"}`), CreatedAt: now, UpdatedAt: now,
	}
	must(t, s.CreateResource(ctx, reg))
	dup := reg
	dup.ID = "/SUBSCRIPTIONS/s1/resourcegroups/mygroup/providers/microsoft.containerregistry/registries/reg1"
	wantErr(t, s.CreateResource(ctx, dup), store.ErrExists)
	orphan := reg
	orphan.ID, orphan.ResourceGroup = "/subscriptions/s1/resourceGroups/none/providers/X/y/z", "none"
	wantErr(t, s.CreateResource(ctx, orphan), store.ErrNotFound)
	ident := store.Resource{
		ID: "/subscriptions/s1/resourceGroups/mygroup/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id1", SubscriptionID: "s1",
		ResourceGroup: "mygroup", Type: "Microsoft.ManagedIdentity/userAssignedIdentities", Name: "id1", Location: "here",
		Properties: json.RawMessage(`{}`), CreatedAt: now, UpdatedAt: now,
	}
	must(t, s.CreateResource(ctx, ident))

	got, err := s.GetResource(ctx, dup.ID)
	must(t, err)
	if got.ID != id || got.Name != "Reg1" || got.ResourceGroup != "MyGroup" || string(got.Properties) != `{"loginServer":"reg1.example"}` || string(got.SKU) != `{"name":"Basic"}` || got.Identity != nil {
		t.Fatalf("resource looked up in another case: %+v", got)
	}
	got.Properties = json.RawMessage(`{"loginServer":"reg1.example","adminUserEnabled":true}`)
	got.Identity = json.RawMessage(`{"type":"SystemAssigned"}`)
	got.UpdatedAt = now.Add(time.Second)
	must(t, s.UpdateResource(ctx, got))
	got, err = s.GetResource(ctx, id)
	must(t, err)
	if string(got.Identity) != `{"type":"SystemAssigned"}` || !got.UpdatedAt.After(got.CreatedAt) {
		t.Fatalf("after update: %+v", got)
	}
	wantErr(t, s.UpdateResource(ctx, orphan), store.ErrNotFound)

	list := func(q store.ResourceQuery) []string {
		t.Helper()
		rs, err := s.ListResources(ctx, q)
		must(t, err)
		var names []string
		for _, r := range rs {
			names = append(names, r.Name)
		}
		return names
	}
	if n := list(store.ResourceQuery{SubscriptionID: "s1"}); fmt.Sprint(n) != "[Reg1 id1]" {
		t.Fatalf("resources of s1: %v", n)
	}
	if n := list(store.ResourceQuery{SubscriptionID: "s1", Type: "microsoft.containerregistry/REGISTRIES"}); fmt.Sprint(n) != "[Reg1]" {
		t.Fatalf("registries of s1: %v", n)
	}
	if n := list(store.ResourceQuery{SubscriptionID: "s1", ResourceGroup: "MYGROUP", Type: "Microsoft.ManagedIdentity/userAssignedIdentities"}); fmt.Sprint(n) != "[id1]" {
		t.Fatalf("identities of mygroup: %v", n)
	}
	if n := list(store.ResourceQuery{SubscriptionID: "s2"}); len(n) != 0 {
		t.Fatalf("resources of s2: %v", n)
	}

	must(t, s.DeleteResource(ctx, ident.ID))
	wantErr(t, s.DeleteResource(ctx, ident.ID), store.ErrNotFound)
	must(t, s.DeleteResourceGroup(ctx, "s1", "mygroup"))
	_, err = s.GetResource(ctx, id)
	wantErr(t, err, store.ErrNotFound)
	wantErr(t, s.DeleteResourceGroup(ctx, "s1", "mygroup"), store.ErrNotFound)
	if gs, _ := s.ListResourceGroups(ctx, "s2"); len(gs) != 1 || gs[0].Name != "mygroup" {
		t.Fatalf("groups of s2 after deleting s1's: %+v", gs)
	}
}

func assignmentIDs(as []store.RoleAssignment) string {
	var ids []string
	for _, a := range as {
		ids = append(ids, a.ID)
	}
	sort.Strings(ids)
	return fmt.Sprint(ids)
}

func testRoleAssignments(t *testing.T, s store.Store) {
	ctx := context.Background()
	now := time.Now().UTC()
	const sub = "/subscriptions/s1"
	const group = sub + "/resourceGroups/G"
	const reg = group + "/providers/Microsoft.ContainerRegistry/registries/r"
	add := func(id, scope, role, principal string) error {
		return s.CreateRoleAssignment(ctx, store.RoleAssignment{ID: id, Scope: scope, RoleDefinitionID: role, PrincipalID: principal,
			PrincipalType: "ServicePrincipal", TenantID: "t1", CreatedBy: "admin", CreatedAt: now})
	}
	must(t, add("a1", sub, "owner", "p1"))
	must(t, add("a2", group, "reader", "p1"))
	must(t, add("a3", reg, "acrpull", "p2"))
	// A sibling whose name extends the group's is not below it.
	must(t, add("a4", sub+"/resourceGroups/G2", "reader", "p2"))
	must(t, add("a5", reg+"/repositories/x", "acrpull", "p3"))

	wantErr(t, add("A1", group, "owner", "p9"), store.ErrExists)
	// The same grant under another name, the scope in another case.
	wantErr(t, add("a6", "/SUBSCRIPTIONS/s1/resourcegroups/g", "reader", "p1"), store.ErrExists)

	a, err := s.GetRoleAssignment(ctx, "A3")
	must(t, err)
	if a.Scope != reg || a.RoleDefinitionID != "acrpull" || a.PrincipalID != "p2" || a.PrincipalType != "ServicePrincipal" || a.CreatedBy != "admin" {
		t.Fatalf("assignment: %+v", a)
	}
	_, err = s.GetRoleAssignment(ctx, "none")
	wantErr(t, err, store.ErrNotFound)

	of, err := s.RoleAssignmentsOfPrincipal(ctx, "p1")
	must(t, err)
	if got := assignmentIDs(of); got != "[a1 a2]" {
		t.Fatalf("assignments of p1: %s", got)
	}
	at, err := s.RoleAssignmentsAt(ctx, []string{"/subscriptions/S1", "/subscriptions/s1/resourcegroups/g/"})
	must(t, err)
	if got := assignmentIDs(at); got != "[a1 a2]" {
		t.Fatalf("assignments at the subscription and group: %s", got)
	}
	below, err := s.RoleAssignmentsBelow(ctx, "/subscriptions/s1/resourceGroups/g")
	must(t, err)
	if got := assignmentIDs(below); got != "[a3 a5]" {
		t.Fatalf("assignments below the group: %s", got)
	}

	must(t, s.DeleteRoleAssignmentsAtOrBelow(ctx, reg))
	for _, id := range []string{"a3", "a5"} {
		_, err := s.GetRoleAssignment(ctx, id)
		wantErr(t, err, store.ErrNotFound)
	}
	must(t, s.DeleteRoleAssignment(ctx, "a2"))
	wantErr(t, s.DeleteRoleAssignment(ctx, "a2"), store.ErrNotFound)
	if of, _ := s.RoleAssignmentsOfPrincipal(ctx, "p1"); assignmentIDs(of) != "[a1]" {
		t.Fatalf("a removed assignment is still listed: %v", of)
	}
	// Deleting a principal takes its assignments.
	seedSubscription(t, s)
	must(t, s.CreateServicePrincipal(ctx, store.ServicePrincipal{ObjectID: "p1", TenantID: "t1", AppID: "mi", AppOwnerTenantID: "t1", Type: store.PrincipalManagedIdentity, CreatedAt: now}))
	must(t, s.DeleteServicePrincipal(ctx, "p1"))
	if of, _ := s.RoleAssignmentsOfPrincipal(ctx, "p1"); len(of) != 0 {
		t.Fatalf("assignments of a deleted principal: %v", of)
	}
	_, err = s.GetServicePrincipal(ctx, "p1")
	wantErr(t, err, store.ErrNotFound)
	wantErr(t, s.DeleteServicePrincipal(ctx, "p1"), store.ErrNotFound)
}

// testRoleAssignmentRace: of concurrent creates of one assignment, under
// one name or under many, exactly one succeeds.
func testRoleAssignmentRace(t *testing.T, s store.Store) {
	ctx := context.Background()
	const n = 8
	for _, sameName := range []bool{true, false} {
		var wg sync.WaitGroup
		var mu sync.Mutex
		var ok, exists int
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				id := fmt.Sprintf("race-%v-%d", sameName, i)
				if sameName {
					id = fmt.Sprintf("race-%v", sameName)
				}
				err := s.CreateRoleAssignment(ctx, store.RoleAssignment{ID: id, Scope: fmt.Sprintf("/subscriptions/%v", sameName),
					RoleDefinitionID: "reader", PrincipalID: "p", PrincipalType: "User", TenantID: "t", CreatedAt: time.Now()})
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err == nil:
					ok++
				case errors.Is(err, store.ErrExists):
					exists++
				default:
					t.Errorf("concurrent create: %v", err)
				}
			}()
		}
		wg.Wait()
		if ok != 1 || exists != n-1 {
			t.Fatalf("same name %v: %d created, %d refused as existing", sameName, ok, exists)
		}
	}
}

func testDeleteRegistry(t *testing.T, s store.Store) {
	ctx := context.Background()
	seed(t, s)
	repo := store.Repo{Registry: registry, Name: "app"}
	d := dg("layer")
	link(t, s, repo, d, 5)
	must(t, s.PutManifest(ctx, repo, image("app:v1", d), "v1"))
	must(t, s.CreateUpload(ctx, store.Upload{ID: "u1", Repo: repo, StartedAt: time.Now(), UpdatedAt: time.Now()}))

	must(t, s.PutRegistryPassword(ctx, store.RegistryPassword{Registry: registry, Name: "password", Hint: "abc", Salt: []byte("s"), Hash: []byte("h1"), CreatedAt: time.Now()}))
	must(t, s.PutRegistryPassword(ctx, store.RegistryPassword{Registry: registry, Name: "password2", Hint: "def", Salt: []byte("s"), Hash: []byte("h2"), CreatedAt: time.Now()}))
	must(t, s.PutRegistryPassword(ctx, store.RegistryPassword{Registry: registry, Name: "password", Hint: "ghi", Salt: []byte("t"), Hash: []byte("h3"), CreatedAt: time.Now()}))
	wantErr(t, s.PutRegistryPassword(ctx, store.RegistryPassword{Registry: "absent", Name: "password", Salt: []byte("s"), Hash: []byte("h")}), store.ErrNotFound)
	pws, err := s.ListRegistryPasswords(ctx, registry)
	must(t, err)
	if len(pws) != 2 || pws[0].Name != "password" || pws[0].Hint != "ghi" || string(pws[0].Hash) != "h3" || pws[1].Name != "password2" {
		t.Fatalf("passwords after a renewal: %+v", pws)
	}

	must(t, s.DeleteRegistry(ctx, registry))
	if pws, _ := s.ListRegistryPasswords(ctx, registry); len(pws) != 0 {
		t.Fatalf("passwords outlived their registry: %+v", pws)
	}
	_, err = s.GetRegistry(ctx, registry)
	wantErr(t, err, store.ErrNotFound)
	_, err = s.GetUpload(ctx, "u1")
	wantErr(t, err, store.ErrUploadUnknown)
	wantErr(t, s.DeleteRegistry(ctx, registry), store.ErrNotFound)

	// A registry made again with the name starts empty, and the content
	// its predecessor held is garbage once the grace has passed.
	must(t, s.CreateRegistry(ctx, store.Registry{Name: registry, TenantID: "t-" + registry, ResourceID: "/r2", CreatedAt: time.Now()}))
	if repos, _ := s.ListRepositories(ctx, registry, "", 10); len(repos) != 0 {
		t.Fatalf("repositories of a registry made again: %v", repos)
	}
	_, err = s.GetManifest(ctx, repo, oci.Reference{Tag: "v1"})
	wantErr(t, err, store.ErrManifestUnknown)
	garbage, err := s.UnreferencedBlobs(ctx, time.Now().Add(time.Hour), 10)
	must(t, err)
	if len(garbage) != 1 || garbage[0] != d {
		t.Fatalf("unreferenced after deleting the registry: %v", garbage)
	}
}

// testManifestReadsFollowWrites: whatever a backend keeps in memory, a
// read after a write sees the write: a tag moved, a tag deleted, a
// manifest deleted, a registry deleted.
func testManifestReadsFollowWrites(t *testing.T, s store.Store) {
	ctx := context.Background()
	seed(t, s)
	repo := store.Repo{Registry: registry, Name: "app"}
	d := dg("layer")
	link(t, s, repo, d, 5)
	one, two := image("app:one", d), image("app:two", d)
	digestOf := func(ref oci.Reference) oci.Digest {
		t.Helper()
		m, err := s.GetManifest(ctx, repo, ref)
		if errors.Is(err, store.ErrManifestUnknown) {
			return ""
		}
		must(t, err)
		return m.Digest
	}
	must(t, s.PutManifest(ctx, repo, one, "latest"))
	for range 2 { // the second read may come from memory
		if got := digestOf(oci.Reference{Tag: "latest"}); got != one.Digest {
			t.Fatalf("latest: %s, want %s", got, one.Digest)
		}
	}
	must(t, s.PutManifest(ctx, repo, two, "latest"))
	if got := digestOf(oci.Reference{Tag: "latest"}); got != two.Digest {
		t.Fatalf("latest after it moved: %s, want %s", got, two.Digest)
	}
	must(t, s.DeleteTag(ctx, repo, "latest"))
	if got := digestOf(oci.Reference{Tag: "latest"}); got != "" {
		t.Fatalf("latest after its deletion: %s", got)
	}
	if got := digestOf(oci.Reference{Digest: one.Digest}); got != one.Digest {
		t.Fatalf("by digest: %s", got)
	}
	must(t, s.DeleteManifest(ctx, repo, one.Digest))
	if got := digestOf(oci.Reference{Digest: one.Digest}); got != "" {
		t.Fatalf("a deleted manifest: %s", got)
	}
	digestOf(oci.Reference{Digest: two.Digest})
	must(t, s.DeleteRegistry(ctx, registry))
	if got := digestOf(oci.Reference{Digest: two.Digest}); got != "" {
		t.Fatalf("a manifest of a deleted registry: %s", got)
	}
}

// testCredentialReadsFollowWrites: the reads every token starts with see
// each write before them, however a backend keeps them: a secret added
// and removed, an application renamed and deleted, a service principal
// deleted.
func testCredentialReadsFollowWrites(t *testing.T, s store.Store) {
	ctx := context.Background()
	seedSubscription(t, s)
	now := time.Now().UTC()
	app := store.Application{ObjectID: "o1", AppID: "a1", TenantID: "t1", DisplayName: "one", SignInAudience: "AzureADMyOrg", CreatedAt: now}
	must(t, s.CreateApplication(ctx, app))
	must(t, s.CreateServicePrincipal(ctx, store.ServicePrincipal{ObjectID: "sp1", TenantID: "t1", AppID: "a1", AppOwnerTenantID: "t1", Type: store.PrincipalApplication, CreatedAt: now}))
	keys := func() string {
		t.Helper()
		cs, err := s.ListPasswordCredentials(ctx, "o1")
		must(t, err)
		var ids []string
		for _, c := range cs {
			ids = append(ids, c.KeyID)
		}
		return fmt.Sprint(ids)
	}
	for range 2 { // the second read may come from memory
		if got := keys(); got != "[]" {
			t.Fatalf("secrets of a new application: %s", got)
		}
	}
	pc := store.PasswordCredential{KeyID: "k1", AppObjectID: "o1", Hint: "abc", Salt: []byte("s"), Hash: []byte("h"), StartDateTime: now, EndDateTime: now.Add(time.Hour)}
	must(t, s.AddPasswordCredential(ctx, pc))
	if got := keys(); got != "[k1]" {
		t.Fatalf("secrets after one was added: %s", got)
	}
	must(t, s.RemovePasswordCredential(ctx, "o1", "k1"))
	if got := keys(); got != "[]" {
		t.Fatalf("secrets after it was removed: %s", got)
	}
	a, err := s.GetApplicationByAppID(ctx, "a1")
	must(t, err)
	a.DisplayName = "renamed"
	must(t, s.UpdateApplication(ctx, a))
	if a, _ := s.GetApplicationByAppID(ctx, "a1"); a.DisplayName != "renamed" {
		t.Fatalf("application after a rename: %+v", a)
	}
	if _, err := s.GetServicePrincipalByAppID(ctx, "t1", "a1"); err != nil {
		t.Fatal(err)
	}
	must(t, s.DeleteServicePrincipal(ctx, "sp1"))
	_, err = s.GetServicePrincipalByAppID(ctx, "t1", "a1")
	wantErr(t, err, store.ErrNotFound)
	must(t, s.CreateServicePrincipal(ctx, store.ServicePrincipal{ObjectID: "sp2", TenantID: "t1", AppID: "a1", AppOwnerTenantID: "t1", Type: store.PrincipalApplication, CreatedAt: now}))
	if sp, _ := s.GetServicePrincipalByAppID(ctx, "t1", "a1"); sp.ObjectID != "sp2" {
		t.Fatalf("service principal made again: %+v", sp)
	}
	must(t, s.DeleteApplication(ctx, "o1"))
	_, err = s.GetApplicationByAppID(ctx, "a1")
	wantErr(t, err, store.ErrNotFound)
	_, err = s.GetServicePrincipalByAppID(ctx, "t1", "a1")
	wantErr(t, err, store.ErrNotFound)
	if _, err := s.GetTenant(ctx, "t1"); err != nil {
		t.Fatal(err)
	}
}
