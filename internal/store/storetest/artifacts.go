package storetest

import (
	"context"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/berthhq/berth/internal/oci"
	"github.com/berthhq/berth/internal/store"
)

func tagNames(ts []store.TagInfo) string {
	var out []string
	for _, t := range ts {
		out = append(out, t.Name)
	}
	return strings.Join(out, " ")
}

func testArtifacts(t *testing.T, s store.Store) {
	seed(t, s)
	ctx := context.Background()
	repo := store.Repo{Registry: registry, Name: "team/app"}
	_, err := s.GetRepositoryInfo(ctx, repo)
	wantErr(t, err, store.ErrNotFound)
	_, err = s.ListTagInfo(ctx, repo, store.ArtifactQuery{})
	wantErr(t, err, store.ErrNotFound)
	_, err = s.ListManifestInfo(ctx, repo, store.ArtifactQuery{})
	wantErr(t, err, store.ErrNotFound)

	cfg := dg("cfg")
	link(t, s, repo, cfg, 100)
	one, two := image("one", cfg), image("two", cfg)
	// Pushed in an order that is not the names' order.
	must(t, s.PutManifest(ctx, repo, one, "c"))
	must(t, s.PutManifest(ctx, repo, two, "a"))
	must(t, s.PutManifest(ctx, repo, one, "b"))

	info, err := s.GetRepositoryInfo(ctx, repo)
	if err != nil || info.ManifestCount != 2 || info.TagCount != 3 || info.Attributes != store.AllEnabled || info.UpdatedAt.Before(info.CreatedAt) {
		t.Fatalf("GetRepositoryInfo = %+v, %v", info, err)
	}
	for _, c := range []struct {
		q    store.ArtifactQuery
		want string
	}{
		{store.ArtifactQuery{}, "a b c"},
		{store.ArtifactQuery{Last: "a", N: 1}, "b"},
		{store.ArtifactQuery{Order: store.ByTimeAsc}, "c a b"},
		{store.ArtifactQuery{Order: store.ByTimeDesc}, "b a c"},
		{store.ArtifactQuery{Order: store.ByTimeAsc, Last: "c", N: 1}, "a"},
		{store.ArtifactQuery{Order: store.ByTimeDesc, Last: "a"}, "c"},
		{store.ArtifactQuery{Digest: one.Digest}, "b c"},
	} {
		got, err := s.ListTagInfo(ctx, repo, c.q)
		if err != nil || tagNames(got) != c.want {
			t.Errorf("ListTagInfo(%+v) = %q, %v; want %q", c.q, tagNames(got), err, c.want)
		}
	}
	tag, err := s.GetTagInfo(ctx, repo, "b")
	if err != nil || tag.Digest != one.Digest || tag.Attributes != store.AllEnabled || tag.CreatedAt.IsZero() {
		t.Fatalf("GetTagInfo = %+v, %v", tag, err)
	}
	_, err = s.GetTagInfo(ctx, repo, "none")
	wantErr(t, err, store.ErrManifestUnknown)

	m, err := s.GetManifestInfo(ctx, repo, one.Digest)
	if err != nil || !slices.Equal(m.Tags, []string{"b", "c"}) || m.Size != int64(len(one.Content))+100 || m.MediaType != oci.MediaTypeImageManifest {
		t.Fatalf("GetManifestInfo = %+v, %v", m, err)
	}
	_, err = s.GetManifestInfo(ctx, repo, dg("none"))
	wantErr(t, err, store.ErrManifestUnknown)
	ms, err := s.ListManifestInfo(ctx, repo, store.ArtifactQuery{Order: store.ByTimeDesc})
	if err != nil || len(ms) != 2 || ms[0].Digest != two.Digest || !slices.Equal(ms[0].Tags, []string{"a"}) {
		t.Fatalf("ListManifestInfo(newest first) = %+v, %v", ms, err)
	}
	byDigest, err := s.ListManifestInfo(ctx, repo, store.ArtifactQuery{N: 1})
	if err != nil || len(byDigest) != 1 || byDigest[0].Digest != min(one.Digest, two.Digest) {
		t.Fatalf("ListManifestInfo(n=1) = %+v, %v", byDigest, err)
	}

	no, yes := false, true
	wantErr(t, s.UpdateTagAttributes(ctx, repo, "none", store.AttributesUpdate{WriteEnabled: &no}), store.ErrManifestUnknown)
	wantErr(t, s.UpdateManifestAttributes(ctx, repo, dg("none"), store.AttributesUpdate{WriteEnabled: &no}), store.ErrManifestUnknown)
	wantErr(t, s.UpdateRepositoryAttributes(ctx, store.Repo{Registry: registry, Name: "none"}, store.AttributesUpdate{}), store.ErrNotFound)
	must(t, s.UpdateTagAttributes(ctx, repo, "c", store.AttributesUpdate{WriteEnabled: &no, ListEnabled: &no}))
	tag, err = s.GetTagInfo(ctx, repo, "c")
	if want := (store.Attributes{DeleteEnabled: true, ReadEnabled: true}); err != nil || tag.Attributes != want || !tag.UpdatedAt.After(tag.CreatedAt) {
		t.Fatalf("after locking, tag c = %+v, %v", tag, err)
	}

	// A locked tag does not move and is not deleted; pushing what it
	// points at again is no move.
	wantErr(t, s.PutManifest(ctx, repo, two, "c"), store.ErrLocked)
	must(t, s.PutManifest(ctx, repo, one, "c"))
	wantErr(t, s.DeleteTag(ctx, repo, "c"), store.ErrLocked)
	wantErr(t, s.DeleteManifest(ctx, repo, one.Digest), store.ErrLocked)
	_, err = s.DeleteRepository(ctx, repo)
	wantErr(t, err, store.ErrLocked)
	if tag, err := s.GetTagInfo(ctx, repo, "c"); err != nil || tag.Digest != one.Digest {
		t.Fatalf("a refused write changed tag c: %+v, %v", tag, err)
	}
	must(t, s.DeleteTag(ctx, repo, "b"))
	must(t, s.UpdateTagAttributes(ctx, repo, "c", store.AttributesUpdate{WriteEnabled: &yes}))

	// A manifest that refuses deletes keeps it and its tags.
	must(t, s.UpdateManifestAttributes(ctx, repo, two.Digest, store.AttributesUpdate{DeleteEnabled: &no}))
	wantErr(t, s.DeleteManifest(ctx, repo, two.Digest), store.ErrLocked)
	must(t, s.DeleteTag(ctx, repo, "a"))
	must(t, s.UpdateManifestAttributes(ctx, repo, two.Digest, store.AttributesUpdate{DeleteEnabled: &yes}))

	// A repository that refuses writes takes no push and no delete.
	must(t, s.UpdateRepositoryAttributes(ctx, repo, store.AttributesUpdate{WriteEnabled: &no}))
	wantErr(t, s.PutManifest(ctx, repo, two, "new"), store.ErrLocked)
	wantErr(t, s.DeleteTag(ctx, repo, "c"), store.ErrLocked)
	if info, err := s.GetRepositoryInfo(ctx, repo); err != nil || info.WriteEnabled || !info.DeleteEnabled || info.TagCount != 1 {
		t.Fatalf("locked repository = %+v, %v", info, err)
	}
	must(t, s.UpdateRepositoryAttributes(ctx, repo, store.AttributesUpdate{WriteEnabled: &yes}))

	// Reads refused by a tag reach that tag only; by a manifest, it by
	// any name; by a repository, everything in it. Its metadata still
	// shows.
	readable := func(ref oci.Reference, want error) {
		t.Helper()
		// Twice: the second read may come from a cache.
		for range 2 {
			if _, err := s.GetManifest(ctx, repo, ref); !errors.Is(err, want) {
				t.Fatalf("GetManifest(%s) = %v, want %v", ref, err, want)
			}
		}
	}
	readable(oci.Reference{Tag: "c"}, nil)
	must(t, s.UpdateTagAttributes(ctx, repo, "c", store.AttributesUpdate{ReadEnabled: &no}))
	readable(oci.Reference{Tag: "c"}, store.ErrLocked)
	readable(oci.Reference{Digest: one.Digest}, nil)
	if tag, err := s.GetTagInfo(ctx, repo, "c"); err != nil || tag.ReadEnabled {
		t.Fatalf("tag c refusing reads = %+v, %v", tag, err)
	}
	must(t, s.UpdateTagAttributes(ctx, repo, "c", store.AttributesUpdate{ReadEnabled: &yes}))
	must(t, s.UpdateManifestAttributes(ctx, repo, one.Digest, store.AttributesUpdate{ReadEnabled: &no}))
	readable(oci.Reference{Tag: "c"}, store.ErrLocked)
	readable(oci.Reference{Digest: one.Digest}, store.ErrLocked)
	readable(oci.Reference{Digest: two.Digest}, nil)
	must(t, s.UpdateManifestAttributes(ctx, repo, one.Digest, store.AttributesUpdate{ReadEnabled: &yes}))
	must(t, s.UpdateRepositoryAttributes(ctx, repo, store.AttributesUpdate{ReadEnabled: &no}))
	readable(oci.Reference{Tag: "c"}, store.ErrLocked)
	readable(oci.Reference{Digest: two.Digest}, store.ErrLocked)
	readable(oci.Reference{Tag: "none"}, store.ErrManifestUnknown)
	must(t, s.UpdateRepositoryAttributes(ctx, repo, store.AttributesUpdate{ReadEnabled: &yes}))
	readable(oci.Reference{Tag: "c"}, nil)

	gone, err := s.DeleteRepository(ctx, repo)
	want := store.DeletedRepository{Manifests: []oci.Digest{min(one.Digest, two.Digest), max(one.Digest, two.Digest)}, Tags: []string{"c"}}
	if err != nil || !reflect.DeepEqual(gone, want) {
		t.Fatalf("DeleteRepository = %+v, %v; want %+v", gone, err, want)
	}
	_, err = s.GetRepositoryInfo(ctx, repo)
	wantErr(t, err, store.ErrNotFound)
	if _, err := s.StatBlob(ctx, repo, cfg); err == nil {
		t.Fatal("the deleted repository's blob link is still there")
	}
	_, err = s.DeleteRepository(ctx, repo)
	wantErr(t, err, store.ErrNotFound)
	// The name can be used again, from scratch.
	must(t, s.LinkBlob(ctx, repo, cfg, 100))
	if info, err := s.GetRepositoryInfo(ctx, repo); err != nil || info.Attributes != store.AllEnabled || info.ManifestCount != 0 {
		t.Fatalf("repository made again = %+v, %v", info, err)
	}
}
