package portal

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/berthhq/berth/internal/authz"
	"github.com/berthhq/berth/internal/controlplane"
	"github.com/berthhq/berth/internal/ids"
	"github.com/berthhq/berth/internal/oci"
	"github.com/berthhq/berth/internal/registry"
	"github.com/berthhq/berth/internal/store"
)

// TestManifestPage: an image index's page lists its platforms, each
// linked to its manifest; an image's page lists its signature among its
// referrers, and says what it is about on the signature's own page.
func TestManifestPage(t *testing.T) {
	f := newFixture(t)
	amd := f.push("app", "amd64")
	index := []byte(`{"schemaVersion":2,"mediaType":"` + oci.MediaTypeImageIndex + `","manifests":[` +
		`{"mediaType":"` + oci.MediaTypeImageManifest + `","digest":"` + amd.String() + `","size":1,"platform":{"os":"linux","architecture":"amd64"}},` +
		`{"mediaType":"` + oci.MediaTypeImageManifest + `","digest":"` + amd.String() + `","size":1,"platform":{"os":"linux","architecture":"arm64","variant":"v8"}}]}`)
	id, err := f.putManifest("app", "v1", oci.MediaTypeImageIndex, index)
	must(t, err)
	empty := f.blob("app", []byte("{}"))
	sig := []byte(`{"schemaVersion":2,"mediaType":"` + oci.MediaTypeImageManifest + `","artifactType":"application/vnd.dev.cosign.artifact.sig.v1+json",` +
		`"config":{"mediaType":"` + oci.MediaTypeEmptyJSON + `","digest":"` + empty.String() + `","size":2},"layers":[],` +
		`"subject":{"mediaType":"` + oci.MediaTypeImageManifest + `","digest":"` + amd.String() + `","size":1}}`)
	sd, err := f.putManifest("app", "", oci.MediaTypeImageManifest, sig)
	must(t, err)

	b := f.browser()
	b.signIn("admin@contoso.example")
	base := "/portal/registries/images/repositories/app"
	wantPage(t, b.get(base), http.StatusOK, `href="`+manifestHref(base, id)+`"`)
	wantPage(t, b.get(base+"?manifest="+id.String()), http.StatusOK, "Image index", "<h2>Platforms</h2>",
		"linux/amd64", "linux/arm64/v8", `href="`+manifestHref(base, amd)+`"`,
		`value="docker pull images.cr.test/app@`+id.String()+`"`, "images.cr.test/app:v1", "No referrers.")
	image := b.get(base + "?manifest=" + amd.String())
	wantPage(t, image, http.StatusOK, `<span class="tag">Image</span>`, "<h2>Referrers</h2>", "application/vnd.dev.cosign.artifact.sig.v1&#43;json",
		`href="`+manifestHref(base, sd)+`"`)
	if strings.Contains(image.body, "<dt>Artifact type</dt>") {
		t.Fatalf("an image's page gives it an artifact type:\n%s", image.body)
	}
	wantPage(t, b.get(base+"?manifest="+sd.String()), http.StatusOK, "Artifact", "<dt>About</dt>", amd.String())
	wantPage(t, b.get(base+"?manifest=sha256:"+strings.Repeat("0", 64)), http.StatusNotFound, "has no manifest")
	wantPage(t, b.get(base+"?manifest=nonsense"), http.StatusBadRequest, "No such manifest")
}

// manifestHref is the link to a manifest's page as the templates escape it.
func manifestHref(base string, d oci.Digest) string {
	return base + "?manifest=" + strings.Replace(d.String(), ":", "%3a", 1)
}

// blob uploads content to a repository of the fixture's registry.
func (f *fixture) blob(repoName string, content []byte) oci.Digest {
	f.t.Helper()
	images := registry.New(f.meta, f.blobs)
	repo, err := images.Repository("images", repoName)
	must(f.t, err)
	d := oci.FromBytes(oci.SHA256, content)
	id, err := images.StartUpload(f.t.Context(), repo)
	must(f.t, err)
	_, err = images.FinishUpload(f.t.Context(), repo, id, d, strings.NewReader(string(content)))
	must(f.t, err)
	return d
}

// TestLockAndDelete: the registry's Owner locks a tag, and a push over it
// is refused and so is its deletion; unlocked, it is deleted after the
// confirmation page, and so is a manifest. A user with AcrPull sees the
// locks but may change nothing, and a form without the session's token
// changes nothing.
func TestLockAndDelete(t *testing.T) {
	f := newFixture(t)
	d := f.push("app", "v1")
	f.push("app", "v2")
	base := "/portal/registries/images/repositories/app"
	repo := store.Repo{Registry: "images", Name: "app"}
	b := f.browser()
	b.signIn("admin@contoso.example")
	wantPage(t, b.get(base+"?manifest="+d.String()), http.StatusOK, `id="write-v1" name="write" checked`, `href="`+base+`?delete=tag&amp;tag=v1"`)
	if p := b.post(base, url.Values{"action": {"attributes"}, "tag": {"v1"}}); p.status != http.StatusSeeOther || p.header.Get("Location") != base+"?manifest="+url.QueryEscape(d.String()) {
		t.Fatalf("locking v1: %d %q\n%s", p.status, p.header.Get("Location"), p.body)
	}
	tag, err := f.meta.GetTagInfo(t.Context(), repo, "v1")
	must(t, err)
	if tag.WriteEnabled || tag.DeleteEnabled {
		t.Fatalf("v1 after locking: %+v", tag)
	}
	wantPage(t, b.get(base), http.StatusOK, `v1 <span class="tag locked">Locked</span>`)
	other := []byte(`{"schemaVersion":2,"mediaType":"` + oci.MediaTypeImageManifest + `","config":{"mediaType":"` + oci.MediaTypeEmptyJSON +
		`","digest":"` + f.blob("app", []byte("{}")).String() + `","size":2},"layers":[]}`)
	if _, err := f.putManifest("app", "v1", oci.MediaTypeImageManifest, other); !errors.Is(err, registry.ErrDisallowed) {
		t.Fatalf("a push over the locked tag: %v", err)
	}
	wantPage(t, b.get(base+"?delete=tag&tag=v1"), http.StatusOK, "Delete tag v1?", `name="action" value="delete"`, `name="tag" value="v1"`)
	wantPage(t, b.post(base, url.Values{"action": {"delete"}, "tag": {"v1"}}), http.StatusConflict, "is locked")

	u := f.browser()
	u.signIn("user@contoso.example")
	must(t, f.meta.CreateRoleAssignment(t.Context(), store.RoleAssignment{ID: ids.New(), Scope: f.registry.String(), RoleDefinitionID: authz.AcrPull,
		PrincipalID: "u-plain", PrincipalType: controlplane.PrincipalTypeUser, TenantID: f.tenant.ID}))
	mine := u.get(base + "?manifest=" + d.String())
	wantPage(t, mine, http.StatusOK, "cannot be overwritten, cannot be deleted")
	if strings.Contains(mine.body, `value="attributes"`) || strings.Contains(mine.body, "?delete=") {
		t.Fatalf("a user with AcrPull is offered changes:\n%s", mine.body)
	}
	wantPage(t, u.get(base+"?delete=tag&tag=v2"), http.StatusForbidden, "Deleting in repository app needs")
	wantPage(t, u.post(base, url.Values{"action": {"attributes"}, "tag": {"v1"}, "write": {"on"}, "delete": {"on"}}), http.StatusForbidden, "allows pushing or writing metadata")
	wantPage(t, u.post(base, url.Values{"action": {"delete"}, "tag": {"v2"}}), http.StatusForbidden, "allows deleting")
	b.csrf = "forged"
	wantPage(t, b.post(base, url.Values{"action": {"delete"}, "tag": {"v2"}}), http.StatusForbidden, "The form could not be verified")
	if tags, _ := f.meta.ListTagInfo(t.Context(), repo, store.ArtifactQuery{}); len(tags) != 2 || tags[0].WriteEnabled {
		t.Fatalf("refused changes changed the tags: %+v", tags)
	}

	b.get(base + "?manifest=" + d.String())
	if p := b.post(base, url.Values{"action": {"attributes"}, "tag": {"v1"}, "write": {"on"}, "delete": {"on"}}); p.status != http.StatusSeeOther {
		t.Fatalf("unlocking v1: %d\n%s", p.status, p.body)
	}
	if p := b.post(base, url.Values{"action": {"delete"}, "tag": {"v1"}}); p.status != http.StatusSeeOther || p.header.Get("Location") != base {
		t.Fatalf("deleting v1: %d %q\n%s", p.status, p.header.Get("Location"), p.body)
	}
	if _, err := f.meta.GetTagInfo(t.Context(), repo, "v1"); err == nil {
		t.Fatal("v1 is still there")
	}
	if _, err := f.meta.GetManifestInfo(t.Context(), repo, d); err != nil {
		t.Fatalf("deleting the tag took its manifest: %v", err)
	}
	// v2 is the same image, so the manifest goes with it.
	wantPage(t, b.get(base+"?delete=manifest&digest="+d.String()), http.StatusOK, "Delete manifest?", d.String(), "with its tags <strong>v2</strong>")
	if p := b.post(base, url.Values{"action": {"delete"}, "digest": {d.String()}}); p.status != http.StatusSeeOther {
		t.Fatalf("deleting the manifest: %d\n%s", p.status, p.body)
	}
	if _, err := f.meta.GetManifestInfo(t.Context(), repo, d); err == nil {
		t.Fatal("the manifest is still there")
	}
	wantPage(t, b.get(base), http.StatusOK, "tags: 0 · manifests: 0")
}

func TestRepositoryLocksAndUnlisted(t *testing.T) {
	f := newFixture(t)
	d := f.push("app", "v1")
	f.push("app", "v2")
	base := "/portal/registries/images/repositories/app"
	repo := store.Repo{Registry: "images", Name: "app"}
	no := false
	must(t, f.meta.UpdateTagAttributes(t.Context(), repo, "v2", store.AttributesUpdate{ListEnabled: &no}))
	b := f.browser()
	b.signIn("admin@contoso.example")
	page := b.get(base)
	wantPage(t, page, http.StatusOK, "1 more not listed", `id="repo-write" name="write" checked`, `id="repo-list" name="list" checked`, "docker pull images.cr.test/app:v1")
	if strings.Contains(page.body, ">v2<") || strings.Contains(page.body, ":v2") {
		t.Fatalf("the repository page lists the unlisted tag v2:\n%s", page.body)
	}
	if m := b.get(base + "?manifest=" + d.String()); strings.Contains(m.body, `id="write-v2"`) || !strings.Contains(m.body, `id="write-v1"`) {
		t.Fatalf("the manifest page's tags: unlisted v2 shown or listed v1 missing:\n%s", m.body)
	}

	u := f.browser()
	u.signIn("user@contoso.example")
	must(t, f.meta.CreateRoleAssignment(t.Context(), store.RoleAssignment{ID: ids.New(), Scope: f.registry.String(), RoleDefinitionID: authz.AcrPull,
		PrincipalID: "u-plain", PrincipalType: controlplane.PrincipalTypeUser, TenantID: f.tenant.ID}))
	mine := u.get(base)
	wantPage(t, mine, http.StatusOK, "<li>Can be written</li>")
	if strings.Contains(mine.body, `value="repository"`) {
		t.Fatalf("a user with AcrPull is offered the repository's locks:\n%s", mine.body)
	}
	wantPage(t, u.post(base, url.Values{"action": {"repository"}, "list": {"on"}}), http.StatusForbidden, "Locking and unlocking repository app needs")

	if p := b.post(base, url.Values{"action": {"repository"}, "list": {"on"}}); p.status != http.StatusSeeOther || p.header.Get("Location") != base {
		t.Fatalf("locking the repository: %d %q\n%s", p.status, p.header.Get("Location"), p.body)
	}
	info, err := f.meta.GetRepositoryInfo(t.Context(), repo)
	must(t, err)
	if info.WriteEnabled || info.DeleteEnabled || info.ReadEnabled || !info.ListEnabled {
		t.Fatalf("the repository after locking: %+v", info.Attributes)
	}
	wantPage(t, b.get(base), http.StatusOK, `<span class="tag locked">Locked</span>`, "Pulls refused", `id="repo-write" name="write">`)
	other := []byte(`{"schemaVersion":2,"mediaType":"` + oci.MediaTypeImageManifest + `","config":{"mediaType":"` + oci.MediaTypeEmptyJSON +
		`","digest":"` + oci.FromBytes(oci.SHA256, []byte("{}")).String() + `","size":2},"layers":[]}`)
	if _, err := f.putManifest("app", "v3", oci.MediaTypeImageManifest, other); !errors.Is(err, registry.ErrDisallowed) {
		t.Fatalf("a push into the locked repository: %v", err)
	}
	wantPage(t, b.post(base, url.Values{"action": {"delete"}, "tag": {"v1"}}), http.StatusConflict, "is locked")

	b.post(base, url.Values{"action": {"repository"}, "write": {"on"}, "delete": {"on"}, "read": {"on"}, "list": {"on"}})
	if info, _ := f.meta.GetRepositoryInfo(t.Context(), repo); info.Attributes != store.AllEnabled {
		t.Fatalf("the repository after unlocking: %+v", info.Attributes)
	}
}
