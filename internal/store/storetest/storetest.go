package storetest

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/berthhq/berth/internal/oci"
	"github.com/berthhq/berth/internal/store"
)

// Run runs every conformance test against stores made by open, which must
// return a new, empty store for each call.
func Run(t *testing.T, open func(t *testing.T) store.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s store.Store)
	}{
		{"Settings", testSettings},
		{"Directory", testDirectory},
		{"BlobsAndMounts", testBlobs},
		{"Manifests", testManifests},
		{"TagsAndCatalog", testTagsAndCatalog},
		{"Referrers", testReferrers},
		{"Artifacts", testArtifacts},
		{"Uploads", testUploads},
		{"CollectorRespectsReferencesAndGrace", testCollector},
		{"CollectorRacesWithPushes", testCollectorRace},
		{"PendingBlobs", testPending},
		{"Leases", testLeases},
		{"SigningKeys", testSigningKeys},
		{"KeyCredentials", testKeyCredentials},
		{"DirectoryAPI", testDirectoryAPI},
		{"Users", testUsers},
		{"UpdateUser", testUpdateUser},
		{"DeleteUser", testDeleteUser},
		{"RemoveDirectoryRole", testRemoveDirectoryRole},
		{"LastAdministrator", testLastAdministrator},
		{"LastAdministratorConcurrently", testLastAdministratorRace},
		{"ApplicationOwners", testApplicationOwners},
		{"ResourceGroupsAndResources", testResources},
		{"ClusterIssuers", testClusterIssuers},
		{"RoleAssignments", testRoleAssignments},
		{"RoleAssignmentsConcurrentCreate", testRoleAssignmentRace},
		{"DeleteRegistry", testDeleteRegistry},
		{"ManifestReadsFollowWrites", testManifestReadsFollowWrites},
		{"CredentialReadsFollowWrites", testCredentialReadsFollowWrites},
		{"ReplaceKeyCredentials", testReplaceKeyCredentials},
		{"UpdateApplication", testUpdateApplication},
		{"FederatedCredentials", testFederatedCredentials},
		{"VersionsFollowWrites", testVersionsFollowWrites},
		{"Events", testEvents},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, open(t)) })
	}
}

const registry = "conformance"

// Seed creates the tenant and registry every content test needs.
func seed(t *testing.T, s store.Store) {
	t.Helper()
	ctx := context.Background()
	now := time.Now()
	must(t, s.CreateTenant(ctx, store.Tenant{ID: "t-" + registry, Domain: registry + ".example", DisplayName: "T", CreatedAt: now}))
	must(t, s.CreateRegistry(ctx, store.Registry{Name: registry, TenantID: "t-" + registry, ResourceID: "/r", CreatedAt: now}))
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func wantErr(t *testing.T, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("err = %v, want %v", err, target)
	}
}

func dg(s string) oci.Digest { return oci.FromBytes(oci.SHA256, []byte(s)) }

// link records and publishes a blob, as a finished upload does.
func link(t *testing.T, s store.Store, repo store.Repo, d oci.Digest, size int64) {
	t.Helper()
	ctx := context.Background()
	must(t, s.LinkBlob(ctx, repo, d, size))
	if live, err := s.PublishBlob(ctx, d); err != nil || !live {
		t.Fatalf("PublishBlob = %v, %v", live, err)
	}
}

func testSettings(t *testing.T, s store.Store) {
	ctx := context.Background()
	_, err := s.GetSetting(ctx, "k")
	wantErr(t, err, store.ErrNotFound)
	must(t, s.PutSetting(ctx, "k", "v1"))
	must(t, s.PutSetting(ctx, "k", "v2"))
	if v, err := s.GetSetting(ctx, "k"); err != nil || v != "v2" {
		t.Fatalf("GetSetting = %q, %v", v, err)
	}
	wantErr(t, s.CreateSetting(ctx, "k", "v3"), store.ErrExists)
	must(t, s.CreateSetting(ctx, "new", "n1"))
	wantErr(t, s.CreateSetting(ctx, "new", "n2"), store.ErrExists)
	if v, err := s.GetSetting(ctx, "new"); err != nil || v != "n1" {
		t.Fatalf("GetSetting after a second CreateSetting = %q, %v, want the first value", v, err)
	}
}

func testDirectory(t *testing.T, s store.Store) {
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Microsecond)
	must(t, s.CreateTenant(ctx, store.Tenant{ID: "t1", Domain: "a.example", DisplayName: "A", CreatedAt: now}))
	wantErr(t, s.CreateTenant(ctx, store.Tenant{ID: "t1", Domain: "b.example", CreatedAt: now}), store.ErrExists)
	if tn, err := s.GetTenant(ctx, "t1"); err != nil || tn.Domain != "a.example" || !tn.CreatedAt.Equal(now) {
		t.Fatalf("GetTenant = %+v, %v", tn, err)
	}
	_, err := s.GetTenant(ctx, "nope")
	wantErr(t, err, store.ErrNotFound)
	if tn, err := s.GetTenantByDomain(ctx, "A.Example"); err != nil || tn.ID != "t1" {
		t.Fatalf("GetTenantByDomain = %+v, %v", tn, err)
	}
	_, err = s.GetTenantByDomain(ctx, "b.example")
	wantErr(t, err, store.ErrNotFound)
	must(t, s.CreateSubscription(ctx, store.Subscription{ID: "s1", TenantID: "t1", DisplayName: "S", CreatedAt: now}))
	if sub, err := s.GetSubscription(ctx, "s1"); err != nil || sub.TenantID != "t1" {
		t.Fatalf("GetSubscription = %+v, %v", sub, err)
	}
	app := store.Application{ObjectID: "o1", AppID: "a1", TenantID: "t1", DisplayName: "app", SignInAudience: "AzureADMyOrg", CreatedAt: now}
	must(t, s.CreateApplication(ctx, app))
	wantErr(t, s.CreateApplication(ctx, store.Application{ObjectID: "o2", AppID: "a1", TenantID: "t1", CreatedAt: now}), store.ErrExists)
	if got, err := s.GetApplicationByAppID(ctx, "a1"); err != nil || !reflect.DeepEqual(got, app) {
		t.Fatalf("GetApplicationByAppID = %+v, %v", got, err)
	}
	cred := store.PasswordCredential{KeyID: "k1", AppObjectID: "o1", DisplayName: "d", Hint: "abc", Salt: []byte{1, 2}, Hash: []byte{3, 4}, StartDateTime: now, EndDateTime: now.Add(time.Hour)}
	must(t, s.AddPasswordCredential(ctx, cred))
	wantErr(t, s.AddPasswordCredential(ctx, store.PasswordCredential{KeyID: "k2", AppObjectID: "missing", Salt: []byte{}, Hash: []byte{}}), store.ErrNotFound)
	creds, err := s.ListPasswordCredentials(ctx, "o1")
	if err != nil || len(creds) != 1 || string(creds[0].Hash) != string(cred.Hash) || !creds[0].EndDateTime.Equal(cred.EndDateTime) {
		t.Fatalf("ListPasswordCredentials = %+v, %v", creds, err)
	}
	sp := store.ServicePrincipal{ObjectID: "sp1", TenantID: "t1", AppID: "a1", AppOwnerTenantID: "t1", Type: store.PrincipalApplication, DisplayName: "app", CreatedAt: now}
	must(t, s.CreateServicePrincipal(ctx, sp))
	wantErr(t, s.CreateServicePrincipal(ctx, store.ServicePrincipal{ObjectID: "sp2", TenantID: "t1", AppID: "a1", CreatedAt: now}), store.ErrExists)
	if got, err := s.GetServicePrincipalByAppID(ctx, "t1", "a1"); err != nil || got != sp {
		t.Fatalf("GetServicePrincipalByAppID = %+v, %v", got, err)
	}
	must(t, s.CreateRegistry(ctx, store.Registry{Name: "reg", TenantID: "t1", ResourceID: "/x", CreatedAt: now}))
	wantErr(t, s.CreateRegistry(ctx, store.Registry{Name: "reg", TenantID: "t1", CreatedAt: now}), store.ErrExists)
	if r, err := s.GetRegistry(ctx, "reg"); err != nil || r.ResourceID != "/x" {
		t.Fatalf("GetRegistry = %+v, %v", r, err)
	}
}

func testBlobs(t *testing.T, s store.Store) {
	seed(t, s)
	ctx := context.Background()
	a, b := store.Repo{Registry: registry, Name: "a"}, store.Repo{Registry: registry, Name: "b/c"}
	d := dg("blob")
	_, err := s.StatBlob(ctx, a, d)
	wantErr(t, err, store.ErrBlobUnknown)
	link(t, s, a, d, 4)
	link(t, s, a, d, 4)
	if n, err := s.StatBlob(ctx, a, d); err != nil || n != 4 {
		t.Fatalf("StatBlob = %d, %v", n, err)
	}
	_, err = s.StatBlob(ctx, b, d)
	wantErr(t, err, store.ErrBlobUnknown)
	_, err = s.MountBlob(ctx, b, a, dg("other"))
	wantErr(t, err, store.ErrBlobUnknown)
	if n, err := s.MountBlob(ctx, a, b, d); err != nil || n != 4 {
		t.Fatalf("MountBlob = %d, %v", n, err)
	}
	if n, err := s.StatBlob(ctx, b, d); err != nil || n != 4 {
		t.Fatalf("StatBlob after mount = %d, %v", n, err)
	}
	must(t, s.UnlinkBlob(ctx, a, d))
	wantErr(t, s.UnlinkBlob(ctx, a, d), store.ErrBlobUnknown)
	_, err = s.StatBlob(ctx, a, d)
	wantErr(t, err, store.ErrBlobUnknown)
	wantErr(t, s.LinkBlob(ctx, store.Repo{Registry: "no-such-registry", Name: "x"}, d, 4), store.ErrNotFound)
}

func image(repoTag string, blobs ...oci.Digest) store.Manifest {
	content := []byte("manifest " + repoTag + fmt.Sprint(blobs))
	return store.Manifest{Digest: oci.FromBytes(oci.SHA256, content), MediaType: oci.MediaTypeImageManifest, Content: content, Annotations: "{}", Blobs: blobs}
}

func testManifests(t *testing.T, s store.Store) {
	seed(t, s)
	ctx := context.Background()
	repo := store.Repo{Registry: registry, Name: "app"}
	cfg, layer := dg("cfg"), dg("layer")
	m := image("m", cfg, layer)
	wantErr(t, s.PutManifest(ctx, repo, m, "v1"), store.ErrBlobUnknown)
	link(t, s, repo, cfg, 3)
	wantErr(t, s.PutManifest(ctx, repo, m, "v1"), store.ErrBlobUnknown)
	if _, err := s.ListTags(ctx, repo, "", 0); err != nil {
		t.Fatalf("a failed put must leave the repository usable: %v", err)
	}
	if tags, _ := s.ListTags(ctx, repo, "", 0); len(tags) != 0 {
		t.Fatalf("failed put left tags %v", tags)
	}
	link(t, s, repo, layer, 5)
	must(t, s.PutManifest(ctx, repo, m, "v1"))
	must(t, s.PutManifest(ctx, repo, m, "v1"))
	for _, ref := range []oci.Reference{{Tag: "v1"}, {Digest: m.Digest}} {
		got, err := s.GetManifest(ctx, repo, ref)
		if err != nil || got.Digest != m.Digest || string(got.Content) != string(m.Content) || got.MediaType != m.MediaType {
			t.Fatalf("GetManifest(%v) = %+v, %v", ref, got, err)
		}
	}
	_, err := s.GetManifest(ctx, repo, oci.Reference{Tag: "v2"})
	wantErr(t, err, store.ErrManifestUnknown)
	// An index needs its children in the same repository.
	idx := store.Manifest{Digest: dg("index"), MediaType: oci.MediaTypeImageIndex, Content: []byte("index"), Annotations: "{}", Children: []oci.Digest{m.Digest}}
	wantErr(t, s.PutManifest(ctx, store.Repo{Registry: registry, Name: "other"}, idx), store.ErrManifestUnknown)
	must(t, s.PutManifest(ctx, repo, idx, "multi"))
	// Retagging moves the tag.
	m2 := image("m2", cfg)
	must(t, s.PutManifest(ctx, repo, m2, "v1"))
	if got, _ := s.GetManifest(ctx, repo, oci.Reference{Tag: "v1"}); got.Digest != m2.Digest {
		t.Fatalf("v1 = %s, want %s", got.Digest, m2.Digest)
	}
	must(t, s.PutManifest(ctx, repo, m, "v0", "v0b"))
	if got, _ := s.GetManifest(ctx, repo, oci.Reference{Tag: "v0b"}); got.Digest != m.Digest {
		t.Fatalf("second tag of one put = %s, want %s", got.Digest, m.Digest)
	}
	must(t, s.DeleteTag(ctx, repo, "v0"))
	wantErr(t, s.DeleteTag(ctx, repo, "v0"), store.ErrManifestUnknown)
	if _, err := s.GetManifest(ctx, repo, oci.Reference{Digest: m.Digest}); err != nil {
		t.Fatalf("deleting a tag removed its manifest: %v", err)
	}
	must(t, s.PutManifest(ctx, repo, m2, "also"))
	must(t, s.DeleteManifest(ctx, repo, m2.Digest))
	wantErr(t, s.DeleteManifest(ctx, repo, m2.Digest), store.ErrManifestUnknown)
	for _, tag := range []string{"v1", "also"} {
		_, err := s.GetManifest(ctx, repo, oci.Reference{Tag: tag})
		wantErr(t, err, store.ErrManifestUnknown)
	}
}

func testTagsAndCatalog(t *testing.T, s store.Store) {
	seed(t, s)
	ctx := context.Background()
	_, err := s.ListTags(ctx, store.Repo{Registry: registry, Name: "none"}, "", 0)
	wantErr(t, err, store.ErrNotFound)
	for _, name := range []string{"z", "a/b", "A-not-valid-but-stored", "m"} {
		repo := store.Repo{Registry: registry, Name: strings.ToLower(name)}
		c := dg(name)
		link(t, s, repo, c, 1)
		for _, tag := range []string{"b", "B", "a", "10", "9", "_x"} {
			must(t, s.PutManifest(ctx, repo, image(name+tag, c), tag))
		}
	}
	repo := store.Repo{Registry: registry, Name: "m"}
	all, err := s.ListTags(ctx, repo, "", 0)
	if want := "10 9 B _x a b"; err != nil || strings.Join(all, " ") != want {
		t.Fatalf("ListTags = %v, %v; want byte order %q", all, err, want)
	}
	page, err := s.ListTags(ctx, repo, "9", 2)
	if err != nil || strings.Join(page, " ") != "B _x" {
		t.Fatalf("ListTags(last=9, n=2) = %v, %v", page, err)
	}
	repos, err := s.ListRepositories(ctx, registry, "", 0)
	if want := "a-not-valid-but-stored a/b m z"; err != nil || strings.Join(repos, " ") != want {
		t.Fatalf("ListRepositories = %v, %v; want %q", repos, err, want)
	}
	repos, err = s.ListRepositories(ctx, registry, "a/b", 1)
	if err != nil || strings.Join(repos, " ") != "m" {
		t.Fatalf("ListRepositories(last=a/b, n=1) = %v, %v", repos, err)
	}
	if repos, err := s.ListRepositories(ctx, "elsewhere", "", 0); err != nil || len(repos) != 0 {
		t.Fatalf("another registry's catalog = %v, %v", repos, err)
	}
}

func testReferrers(t *testing.T, s store.Store) {
	seed(t, s)
	ctx := context.Background()
	repo := store.Repo{Registry: registry, Name: "r"}
	c := dg("c")
	link(t, s, repo, c, 1)
	subject := image("subject", c)
	must(t, s.PutManifest(ctx, repo, subject))
	sig := image("sig", c)
	sig.Subject, sig.ArtifactType, sig.Annotations = subject.Digest, "application/vnd.example.sig", `{"k":"v"}`
	sbom := image("sbom", c)
	sbom.Subject, sbom.ArtifactType = subject.Digest, "application/vnd.example.sbom"
	must(t, s.PutManifest(ctx, repo, sig))
	must(t, s.PutManifest(ctx, repo, sbom))
	refs, err := s.Referrers(ctx, repo, subject.Digest, "")
	if err != nil || len(refs) != 2 {
		t.Fatalf("Referrers = %+v, %v", refs, err)
	}
	refs, err = s.Referrers(ctx, repo, subject.Digest, "application/vnd.example.sig")
	if err != nil || len(refs) != 1 || refs[0].Digest != sig.Digest || refs[0].Annotations != `{"k":"v"}` || refs[0].Size != int64(len(sig.Content)) {
		t.Fatalf("filtered Referrers = %+v, %v", refs, err)
	}
	if refs, err := s.Referrers(ctx, repo, dg("nothing"), ""); err != nil || len(refs) != 0 {
		t.Fatalf("Referrers of unknown subject = %+v, %v", refs, err)
	}
}

func testUploads(t *testing.T, s store.Store) {
	seed(t, s)
	ctx := context.Background()
	old := time.Now().Add(-time.Hour)
	u := store.Upload{ID: "u1", Repo: store.Repo{Registry: registry, Name: "up"}, StartedAt: old, UpdatedAt: old}
	must(t, s.CreateUpload(ctx, u))
	wantErr(t, s.CreateUpload(ctx, u), store.ErrExists)
	if got, err := s.GetUpload(ctx, "u1"); err != nil || got.Repo != u.Repo {
		t.Fatalf("GetUpload = %+v, %v", got, err)
	}
	stale, err := s.StaleUploads(ctx, time.Now().Add(-time.Minute))
	if err != nil || len(stale) != 1 {
		t.Fatalf("StaleUploads = %v, %v", stale, err)
	}
	must(t, s.TouchUpload(ctx, "u1", time.Now()))
	if stale, _ := s.StaleUploads(ctx, time.Now().Add(-time.Minute)); len(stale) != 0 {
		t.Fatalf("touched upload still stale: %v", stale)
	}
	must(t, s.DeleteUpload(ctx, "u1"))
	_, err = s.GetUpload(ctx, "u1")
	wantErr(t, err, store.ErrUploadUnknown)
	wantErr(t, s.TouchUpload(ctx, "u1", time.Now()), store.ErrUploadUnknown)
}

func testCollector(t *testing.T, s store.Store) {
	seed(t, s)
	ctx := context.Background()
	repo := store.Repo{Registry: registry, Name: "gc"}
	kept, orphan := dg("kept"), dg("orphan")
	link(t, s, repo, kept, 1)
	link(t, s, repo, orphan, 1)
	must(t, s.PutManifest(ctx, repo, image("gc", kept), "t"))
	// Inside the grace window nothing is a candidate.
	if c, err := s.UnreferencedBlobs(ctx, time.Now().Add(-time.Hour), 10); err != nil || len(c) != 0 {
		t.Fatalf("candidates inside grace = %v, %v", c, err)
	}
	cutoff := time.Now().Add(time.Second)
	c, err := s.UnreferencedBlobs(ctx, cutoff, 10)
	if err != nil || len(c) != 1 || c[0] != orphan {
		t.Fatalf("candidates = %v, %v; want [%s]", c, err, orphan)
	}
	if ok, err := s.MarkBlobDeleting(ctx, kept, cutoff); err != nil || ok {
		t.Fatalf("marked a referenced blob: %v, %v", ok, err)
	}
	if ok, err := s.MarkBlobDeleting(ctx, orphan, cutoff); err != nil || !ok {
		t.Fatalf("MarkBlobDeleting = %v, %v", ok, err)
	}
	// A blob being deleted is gone for readers, and busy for writers.
	_, err = s.StatBlob(ctx, repo, orphan)
	wantErr(t, err, store.ErrBlobUnknown)
	wantErr(t, s.LinkBlob(ctx, repo, orphan, 1), store.ErrBlobBusy)
	wantErr(t, s.PutManifest(ctx, repo, image("late", orphan)), store.ErrBlobUnknown)
	if d, err := s.DeletingBlobs(ctx); err != nil || len(d) != 1 || d[0] != orphan {
		t.Fatalf("DeletingBlobs = %v, %v", d, err)
	}
	must(t, s.ForgetBlob(ctx, orphan))
	link(t, s, repo, orphan, 1)
	if n, err := s.StatBlob(ctx, repo, orphan); err != nil || n != 1 {
		t.Fatalf("blob stored again after GC = %d, %v", n, err)
	}
	recs, err := s.ListBlobs(ctx, "", 10)
	if err != nil || len(recs) != 2 {
		t.Fatalf("ListBlobs = %+v, %v", recs, err)
	}
	// Deleting the manifest makes its blob collectable.
	m := image("gc", kept)
	must(t, s.DeleteManifest(ctx, repo, m.Digest))
	if c, _ := s.UnreferencedBlobs(ctx, time.Now().Add(time.Second), 10); len(c) != 2 {
		t.Fatalf("candidates after manifest delete = %v", c)
	}
	ms, err := s.ListManifests(ctx, store.ManifestCursor{}, 10)
	if err != nil || len(ms) != 0 {
		t.Fatalf("ListManifests = %+v, %v", ms, err)
	}
}

// testCollectorRace runs the collector's mark step against pushes that
// reference the same blobs: every manifest that was stored must have all its
// blobs live afterwards.
func testCollectorRace(t *testing.T, s store.Store) {
	seed(t, s)
	ctx := context.Background()
	repo := store.Repo{Registry: registry, Name: "race"}
	const n = 40
	blobs := make([]oci.Digest, n)
	for i := range blobs {
		blobs[i] = dg(fmt.Sprint("race", i))
		link(t, s, repo, blobs[i], 1)
	}
	// Every blob is old enough to collect from here on.
	time.Sleep(10 * time.Millisecond)
	cutoff := time.Now()
	var wg sync.WaitGroup
	stored := make([]bool, n)
	wg.Add(2)
	go func() {
		defer wg.Done()
		for i := range blobs {
			err := s.PutManifest(ctx, repo, image(fmt.Sprint("race", i), blobs[i]))
			if err == nil {
				stored[i] = true
			} else if !errors.Is(err, store.ErrBlobUnknown) {
				t.Error(err)
			}
		}
	}()
	go func() {
		defer wg.Done()
		for i := len(blobs) - 1; i >= 0; i-- {
			if _, err := s.MarkBlobDeleting(ctx, blobs[i], cutoff); err != nil {
				t.Error(err)
			}
		}
	}()
	wg.Wait()
	for i, d := range blobs {
		_, err := s.StatBlob(ctx, repo, d)
		if stored[i] && err != nil {
			t.Errorf("manifest %d stored but its blob is %v", i, err)
		}
	}
}

// testPending covers the window between recording an upload and publishing
// its content.
func testPending(t *testing.T, s store.Store) {
	seed(t, s)
	ctx := context.Background()
	repo := store.Repo{Registry: registry, Name: "pending"}
	d := dg("pending")
	must(t, s.LinkBlob(ctx, repo, d, 7))
	_, err := s.StatBlob(ctx, repo, d)
	wantErr(t, err, store.ErrBlobUnknown)
	wantErr(t, s.PutManifest(ctx, repo, image("p", d)), store.ErrBlobUnknown)
	_, err = s.MountBlob(ctx, repo, store.Repo{Registry: registry, Name: "elsewhere"}, d)
	wantErr(t, err, store.ErrBlobUnknown)
	// A crashed upload's record is collectable like an unreferenced one.
	if c, err := s.UnreferencedBlobs(ctx, time.Now().Add(time.Second), 10); err != nil || len(c) != 1 || c[0] != d {
		t.Fatalf("UnreferencedBlobs = %v, %v", c, err)
	}
	recs, err := s.ListBlobs(ctx, "", 10)
	if err != nil || len(recs) != 1 || recs[0].State != store.BlobPending || recs[0].Size != 7 {
		t.Fatalf("ListBlobs = %+v, %v", recs, err)
	}
	if live, err := s.PublishBlob(ctx, d); err != nil || !live {
		t.Fatalf("PublishBlob = %v, %v", live, err)
	}
	if live, err := s.PublishBlob(ctx, d); err != nil || !live {
		t.Fatalf("second PublishBlob = %v, %v", live, err)
	}
	if n, err := s.StatBlob(ctx, repo, d); err != nil || n != 7 {
		t.Fatalf("StatBlob = %d, %v", n, err)
	}
	// Linking live content again keeps it live.
	must(t, s.LinkBlob(ctx, repo, d, 7))
	if _, err := s.StatBlob(ctx, repo, d); err != nil {
		t.Fatalf("relinked blob: %v", err)
	}
	// A collector taking the record between link and publish is seen.
	e := dg("taken")
	must(t, s.LinkBlob(ctx, repo, e, 1))
	if ok, err := s.MarkBlobDeleting(ctx, e, time.Now().Add(time.Second)); err != nil || !ok {
		t.Fatalf("MarkBlobDeleting(pending) = %v, %v", ok, err)
	}
	if live, err := s.PublishBlob(ctx, e); err != nil || live {
		t.Fatalf("PublishBlob of a record being deleted = %v, %v", live, err)
	}
	must(t, s.ForgetBlob(ctx, e))
	if live, err := s.PublishBlob(ctx, e); err != nil || live {
		t.Fatalf("PublishBlob of a forgotten record = %v, %v", live, err)
	}
}

func testLeases(t *testing.T, s store.Store) {
	ctx := context.Background()
	got := func(holder string, ttl time.Duration) bool {
		t.Helper()
		ok, err := s.AcquireLease(ctx, "job", holder, ttl)
		must(t, err)
		return ok
	}
	if !got("a", time.Hour) {
		t.Fatal("first holder refused")
	}
	if got("b", time.Hour) {
		t.Fatal("second holder got a held lease")
	}
	if !got("a", time.Hour) {
		t.Fatal("holder could not renew")
	}
	must(t, s.ReleaseLease(ctx, "job", "b"))
	if got("b", time.Hour) {
		t.Fatal("release by a non-holder freed the lease")
	}
	must(t, s.ReleaseLease(ctx, "job", "a"))
	if !got("b", time.Millisecond) {
		t.Fatal("released lease not available")
	}
	time.Sleep(5 * time.Millisecond)
	if !got("c", time.Hour) {
		t.Fatal("expired lease not available")
	}
}

func testSigningKeys(t *testing.T, s store.Store) {
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Microsecond)
	if keys, err := s.ListSigningKeys(ctx); err != nil || len(keys) != 0 {
		t.Fatalf("ListSigningKeys on an empty store = %v, %v", keys, err)
	}
	a := store.SigningKey{ID: "a", Certificate: []byte{1}, PrivateKey: []byte{2}, CreatedAt: now, SignsFrom: now}
	b := store.SigningKey{ID: "b", Certificate: []byte{3}, PrivateKey: []byte{4}, CreatedAt: now.Add(time.Second), SignsFrom: now.Add(time.Hour)}
	must(t, s.CreateSigningKey(ctx, a))
	must(t, s.CreateSigningKey(ctx, b))
	wantErr(t, s.CreateSigningKey(ctx, a), store.ErrExists)
	must(t, s.RetireSigningKey(ctx, "a", now.Add(2*time.Hour)))
	wantErr(t, s.RetireSigningKey(ctx, "missing", now), store.ErrNotFound)
	keys, err := s.ListSigningKeys(ctx)
	if err != nil || len(keys) != 2 {
		t.Fatalf("ListSigningKeys = %+v, %v", keys, err)
	}
	if keys[0].ID != "a" || !keys[0].RetireAt.Equal(now.Add(2*time.Hour)) || string(keys[0].PrivateKey) != "\x02" {
		t.Fatalf("first key %+v", keys[0])
	}
	if keys[1].ID != "b" || !keys[1].RetireAt.IsZero() || !keys[1].SignsFrom.Equal(b.SignsFrom) {
		t.Fatalf("second key %+v", keys[1])
	}
}

func testKeyCredentials(t *testing.T, s store.Store) {
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Microsecond)
	must(t, s.CreateTenant(ctx, store.Tenant{ID: "t1", Domain: "a.example", CreatedAt: now}))
	must(t, s.CreateApplication(ctx, store.Application{ObjectID: "o1", AppID: "a1", TenantID: "t1", CreatedAt: now}))
	must(t, s.CreateApplication(ctx, store.Application{ObjectID: "o2", AppID: "a2", TenantID: "t1", CreatedAt: now}))
	if creds, err := s.ListKeyCredentials(ctx, "o1"); err != nil || len(creds) != 0 {
		t.Fatalf("ListKeyCredentials on a new application = %v, %v", creds, err)
	}
	a := store.KeyCredential{KeyID: "k1", AppObjectID: "o1", DisplayName: "CN=a", Type: store.KeyTypeX509Cert, Usage: store.KeyUsageVerify,
		Certificate: []byte{0x30, 1, 2}, Thumbprint: "sha1-a", ThumbprintSHA256: "sha256-a", StartDateTime: now, EndDateTime: now.Add(time.Hour)}
	b := a
	b.KeyID, b.DisplayName, b.Certificate, b.Thumbprint, b.ThumbprintSHA256, b.StartDateTime = "k2", "CN=b", []byte{0x30, 3}, "sha1-b", "sha256-b", now.Add(time.Second)
	must(t, s.AddKeyCredential(ctx, b))
	must(t, s.AddKeyCredential(ctx, a))
	wantErr(t, s.AddKeyCredential(ctx, a), store.ErrExists)
	missing := a
	missing.KeyID, missing.AppObjectID = "k3", "missing"
	wantErr(t, s.AddKeyCredential(ctx, missing), store.ErrNotFound)
	creds, err := s.ListKeyCredentials(ctx, "o1")
	if err != nil || len(creds) != 2 {
		t.Fatalf("ListKeyCredentials = %+v, %v", creds, err)
	}
	for i, want := range []store.KeyCredential{a, b} {
		got := creds[i]
		if got.KeyID != want.KeyID || got.AppObjectID != want.AppObjectID || got.DisplayName != want.DisplayName || got.Type != want.Type || got.Usage != want.Usage ||
			string(got.Certificate) != string(want.Certificate) || got.Thumbprint != want.Thumbprint || got.ThumbprintSHA256 != want.ThumbprintSHA256 ||
			!got.StartDateTime.Equal(want.StartDateTime) || !got.EndDateTime.Equal(want.EndDateTime) {
			t.Errorf("credential %d = %+v, want %+v", i, got, want)
		}
	}
	if creds, err := s.ListKeyCredentials(ctx, "o2"); err != nil || len(creds) != 0 {
		t.Fatalf("another application's credentials = %v, %v", creds, err)
	}
}

func testDirectoryAPI(t *testing.T, s store.Store) {
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Microsecond)
	for _, id := range []string{"t1", "t2"} {
		must(t, s.CreateTenant(ctx, store.Tenant{ID: id, Domain: id + ".example", CreatedAt: now}))
	}
	web := store.Application{ObjectID: "o1", AppID: "a1", TenantID: "t1", DisplayName: "web", SignInAudience: "AzureADMultipleOrgs",
		WebRedirectURIs: []string{"https://a.example/cb", "https://b.example/cb"}, CreatedAt: now}
	must(t, s.CreateApplication(ctx, web))
	must(t, s.CreateApplication(ctx, store.Application{ObjectID: "o2", AppID: "a2", TenantID: "t1", DisplayName: "api", CreatedAt: now}))
	must(t, s.CreateApplication(ctx, store.Application{ObjectID: "o3", AppID: "a3", TenantID: "t2", DisplayName: "other", CreatedAt: now}))
	if got, err := s.GetApplication(ctx, "o1"); err != nil || !reflect.DeepEqual(got, web) {
		t.Fatalf("GetApplication = %+v, %v", got, err)
	}
	_, err := s.GetApplication(ctx, "a1")
	wantErr(t, err, store.ErrNotFound)
	apps, err := s.ListApplications(ctx, "t1")
	if err != nil || len(apps) != 2 || apps[0].DisplayName != "api" || apps[1].AppID != "a1" || apps[0].WebRedirectURIs != nil {
		t.Fatalf("ListApplications = %+v, %v", apps, err)
	}

	for _, k := range []string{"k1", "k2"} {
		must(t, s.AddPasswordCredential(ctx, store.PasswordCredential{KeyID: k, AppObjectID: "o1", Salt: []byte{1}, Hash: []byte{2}, StartDateTime: now, EndDateTime: now}))
	}
	must(t, s.RemovePasswordCredential(ctx, "o1", "k1"))
	wantErr(t, s.RemovePasswordCredential(ctx, "o1", "k1"), store.ErrNotFound)
	wantErr(t, s.RemovePasswordCredential(ctx, "o2", "k2"), store.ErrNotFound)
	if creds, err := s.ListPasswordCredentials(ctx, "o1"); err != nil || len(creds) != 1 || creds[0].KeyID != "k2" {
		t.Fatalf("after RemovePasswordCredential: %+v, %v", creds, err)
	}

	home := store.ServicePrincipal{ObjectID: "sp1", TenantID: "t1", AppID: "a1", AppOwnerTenantID: "t1", Type: store.PrincipalApplication, DisplayName: "web", CreatedAt: now}
	must(t, s.CreateServicePrincipal(ctx, home))
	must(t, s.CreateServicePrincipal(ctx, store.ServicePrincipal{ObjectID: "sp2", TenantID: "t2", AppID: "a1", AppOwnerTenantID: "t1", Type: store.PrincipalApplication, DisplayName: "web", CreatedAt: now}))
	must(t, s.CreateServicePrincipal(ctx, store.ServicePrincipal{ObjectID: "sp3", TenantID: "t1", AppID: "a2", AppOwnerTenantID: "t1", Type: store.PrincipalApplication, DisplayName: "api", CreatedAt: now}))
	if got, err := s.GetServicePrincipal(ctx, "sp1"); err != nil || got != home {
		t.Fatalf("GetServicePrincipal = %+v, %v", got, err)
	}
	if sps, err := s.ListServicePrincipals(ctx, "t1"); err != nil || len(sps) != 2 || sps[0].ObjectID != "sp3" || sps[1].ObjectID != "sp1" {
		t.Fatalf("ListServicePrincipals = %+v, %v", sps, err)
	}

	has := func(tenant, principal, role string) bool {
		t.Helper()
		ok, err := s.HasDirectoryRole(ctx, tenant, principal, role)
		must(t, err)
		return ok
	}
	must(t, s.AddDirectoryRole(ctx, "t1", "sp1", store.RoleGlobalAdministrator))
	must(t, s.AddDirectoryRole(ctx, "t1", "sp1", store.RoleGlobalAdministrator))
	must(t, s.AddDirectoryRole(ctx, "t2", "sp2", store.RoleApplicationAdministrator))
	must(t, s.AddDirectoryRole(ctx, "t1", "sp3", store.RoleApplicationAdministrator))
	if !has("t1", "sp1", store.RoleGlobalAdministrator) || has("t2", "sp1", store.RoleGlobalAdministrator) || has("t1", "sp1", store.RoleApplicationAdministrator) {
		t.Fatal("HasDirectoryRole answers wrong")
	}

	// Deleting the application takes its service principals, in every
	// tenant, and their roles; the other application keeps its own.
	must(t, s.DeleteApplication(ctx, "o1"))
	wantErr(t, s.DeleteApplication(ctx, "o1"), store.ErrNotFound)
	_, err = s.GetApplicationByAppID(ctx, "a1")
	wantErr(t, err, store.ErrNotFound)
	_, err = s.GetServicePrincipal(ctx, "sp2")
	wantErr(t, err, store.ErrNotFound)
	if creds, err := s.ListPasswordCredentials(ctx, "o1"); err != nil || len(creds) != 0 {
		t.Fatalf("credentials outlived their application: %+v, %v", creds, err)
	}
	if has("t1", "sp1", store.RoleGlobalAdministrator) || has("t2", "sp2", store.RoleApplicationAdministrator) || !has("t1", "sp3", store.RoleApplicationAdministrator) {
		t.Fatal("directory roles after DeleteApplication")
	}
}

func testUsers(t *testing.T, s store.Store) {
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Microsecond)
	for _, id := range []string{"t1", "t2"} {
		must(t, s.CreateTenant(ctx, store.Tenant{ID: id, Domain: id + ".example", CreatedAt: now}))
	}
	ada := store.User{ObjectID: "u1", TenantID: "t1", UserPrincipalName: "Ada@T1.example", DisplayName: "Ada", PasswordHash: "$argon2id$x", CreatedAt: now}
	must(t, s.CreateUser(ctx, ada))
	must(t, s.CreateUser(ctx, store.User{ObjectID: "u2", TenantID: "t1", UserPrincipalName: "bob@t1.example", DisplayName: "Bob", PasswordHash: "h", CreatedAt: now}))
	// The same name in another tenant is another user.
	must(t, s.CreateUser(ctx, store.User{ObjectID: "u3", TenantID: "t2", UserPrincipalName: "ada@t1.example", DisplayName: "Ada", PasswordHash: "h", CreatedAt: now}))
	wantErr(t, s.CreateUser(ctx, store.User{ObjectID: "u4", TenantID: "t1", UserPrincipalName: "ADA@t1.EXAMPLE", DisplayName: "x", PasswordHash: "h", CreatedAt: now}), store.ErrExists)
	wantErr(t, s.CreateUser(ctx, store.User{ObjectID: "u1", TenantID: "t1", UserPrincipalName: "other@t1.example", PasswordHash: "h", CreatedAt: now}), store.ErrExists)
	wantErr(t, s.CreateUser(ctx, store.User{ObjectID: "u5", TenantID: "nope", UserPrincipalName: "x@nope", PasswordHash: "h", CreatedAt: now}), store.ErrNotFound)

	if got, err := s.GetUser(ctx, "u1"); err != nil || got != ada {
		t.Fatalf("GetUser = %+v, %v", got, err)
	}
	_, err := s.GetUser(ctx, "u4")
	wantErr(t, err, store.ErrNotFound)
	if got, err := s.GetUserByUPN(ctx, "t1", "ada@t1.example"); err != nil || got != ada {
		t.Fatalf("GetUserByUPN = %+v, %v", got, err)
	}
	if got, err := s.GetUserByUPN(ctx, "t2", "ADA@T1.EXAMPLE"); err != nil || got.ObjectID != "u3" {
		t.Fatalf("GetUserByUPN in t2 = %+v, %v", got, err)
	}
	_, err = s.GetUserByUPN(ctx, "t2", "bob@t1.example")
	wantErr(t, err, store.ErrNotFound)
	users, err := s.ListUsers(ctx, "t1")
	if err != nil || len(users) != 2 || users[0].ObjectID != "u1" || users[1].ObjectID != "u2" {
		t.Fatalf("ListUsers = %+v, %v", users, err)
	}

	// Directory roles key on object ids, so users hold them as service
	// principals do.
	must(t, s.AddDirectoryRole(ctx, "t1", "u2", store.RoleUserAdministrator))
	if ok, err := s.HasDirectoryRole(ctx, "t1", "u2", store.RoleUserAdministrator); err != nil || !ok {
		t.Fatalf("HasDirectoryRole of a user = %v, %v", ok, err)
	}
}

func testApplicationOwners(t *testing.T, s store.Store) {
	ctx := context.Background()
	now := time.Now().UTC()
	must(t, s.CreateTenant(ctx, store.Tenant{ID: "t1", Domain: "t1.example", CreatedAt: now}))
	for _, a := range []store.Application{
		{ObjectID: "o1", AppID: "a1", TenantID: "t1", DisplayName: "one", CreatedAt: now},
		{ObjectID: "o2", AppID: "a2", TenantID: "t1", DisplayName: "two", CreatedAt: now},
	} {
		must(t, s.CreateApplication(ctx, a))
	}
	// sp2 is the principal of application o2, and owns o1.
	must(t, s.CreateServicePrincipal(ctx, store.ServicePrincipal{ObjectID: "sp2", TenantID: "t1", AppID: "a2", AppOwnerTenantID: "t1", Type: store.PrincipalApplication, CreatedAt: now}))
	must(t, s.CreateUser(ctx, store.User{ObjectID: "u1", TenantID: "t1", UserPrincipalName: "u@t1.example", PasswordHash: "h", CreatedAt: now}))

	is := func(app, principal string) bool {
		t.Helper()
		ok, err := s.IsApplicationOwner(ctx, app, principal)
		must(t, err)
		return ok
	}
	owners := func(app string) []string {
		t.Helper()
		ids, err := s.ListApplicationOwners(ctx, app)
		must(t, err)
		return ids
	}
	if got := owners("o1"); len(got) != 0 {
		t.Fatalf("owners of a new application: %v", got)
	}
	must(t, s.AddApplicationOwner(ctx, "o1", "u1"))
	must(t, s.AddApplicationOwner(ctx, "o1", "sp2"))
	must(t, s.AddApplicationOwner(ctx, "o1", "sp2"))
	must(t, s.AddApplicationOwner(ctx, "o2", "u1"))
	wantErr(t, s.AddApplicationOwner(ctx, "missing", "u1"), store.ErrNotFound)
	if got := owners("o1"); !reflect.DeepEqual(got, []string{"sp2", "u1"}) {
		t.Fatalf("ListApplicationOwners = %v", got)
	}
	if !is("o1", "u1") || !is("o1", "sp2") || is("o2", "sp2") || is("missing", "u1") {
		t.Fatal("IsApplicationOwner answers wrong")
	}

	// Deleting o2 takes its own owners and its principal's ownership of
	// o1; deleting o1 takes the rest.
	must(t, s.DeleteApplication(ctx, "o2"))
	if got := owners("o2"); len(got) != 0 {
		t.Fatalf("owners outlived their application: %v", got)
	}
	if got := owners("o1"); !reflect.DeepEqual(got, []string{"u1"}) {
		t.Fatalf("owners of o1 after its owner's application was deleted: %v", got)
	}
	must(t, s.DeleteApplication(ctx, "o1"))
	if is("o1", "u1") {
		t.Fatal("ownership outlived its application")
	}
}
