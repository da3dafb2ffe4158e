package e2e

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/containers/azcontainerregistry"
	"github.com/google/go-containerregistry/pkg/authn"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// TestACRMetadataAPI: the cloud's registry SDK lists and shows tags and
// manifests, locks a tag, and deletes, each with the role the cloud asks
// for; a locked tag refuses a push over it and deletes; then berth's CLI
// does the same in the cloud CLI's grammar.
func TestACRMetadataAPI(t *testing.T) {
	t.Parallel()
	e := newIdentityEnv(t, "metaid")
	ctx := t.Context()
	pusher := e.principal("meta-pusher", "acrpush", "")
	puller := e.principal("meta-puller", "acrpull", "")
	deleter := e.principal("meta-deleter", "acrdelete", "")
	one := ociImage(t, v1.Platform{OS: "linux", Architecture: "amd64"}, 512)
	two := ociImage(t, v1.Platform{OS: "linux", Architecture: "arm64"}, 256)
	e.pushAs(pusher, "meta/app:v1", one)
	e.pushAs(pusher, "meta/app:v2", two)
	d1, _ := one.Digest()

	pull, _, _ := e.sdkClients(puller)
	push, _, _ := e.sdkClients(pusher)
	del, _, _ := e.sdkClients(deleter)

	repo, err := pull.GetRepositoryProperties(ctx, "meta/app", nil)
	if err != nil || *repo.Name != "meta/app" || *repo.TagCount != 2 || *repo.ManifestCount != 2 || !*repo.ChangeableAttributes.CanWrite {
		t.Fatalf("GetRepositoryProperties = %+v, %v", repo, err)
	}
	var tags []string
	pager := pull.NewListTagsPager("meta/app", &azcontainerregistry.ClientListTagsOptions{MaxNum: ptr(int32(1)), OrderBy: ptr(azcontainerregistry.ArtifactTagOrderByLastUpdatedOnDescending)})
	for pager.More() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			t.Fatalf("ListTags: %v", err)
		}
		for _, tag := range page.Tags {
			tags = append(tags, *tag.Name)
		}
	}
	if !slices.Equal(tags, []string{"v2", "v1"}) {
		t.Errorf("tags newest first: %v", tags)
	}
	tag, err := pull.GetTagProperties(ctx, "meta/app", "v1", nil)
	if err != nil || *tag.Tag.Digest != d1.String() || tag.Tag.CreatedOn == nil || *tag.RegistryLoginServer == "" {
		t.Fatalf("GetTagProperties = %+v, %v", tag, err)
	}
	var manifests int
	mp := pull.NewListManifestsPager("meta/app", nil)
	for mp.More() {
		page, err := mp.NextPage(ctx)
		if err != nil {
			t.Fatalf("ListManifests: %v", err)
		}
		manifests += len(page.Attributes)
	}
	m, err := pull.GetManifestProperties(ctx, "meta/app", d1.String(), nil)
	if err != nil || manifests != 2 || *m.Manifest.Tags[0] != "v1" || *m.Manifest.Size < 512 {
		t.Fatalf("GetManifestProperties = %+v, %v (of %d manifests)", m, err, manifests)
	}

	// A tag that refuses reads refuses pulls by it, not by the digest; a
	// repository that refuses them refuses every pull. Properties still
	// show, to see and change the lock.
	d2, _ := two.Digest()
	pullAs := func(ref string) error {
		_, err := remote.Image(e.ref(ref), e.ggcr(ctx, authn.AuthConfig{Username: puller.appID, Password: puller.secret})...)
		return err
	}
	disallowed := func(ref string) {
		t.Helper()
		if err := pullAs(ref); err == nil || !strings.Contains(err.Error(), "REGISTRY_DISALLOWED_OPERATION") {
			t.Fatalf("pull of %s refusing reads: %v", ref, err)
		}
	}
	noRead := &azcontainerregistry.ClientUpdateTagPropertiesOptions{Value: &azcontainerregistry.TagWriteableProperties{CanRead: ptr(false)}}
	if _, err := push.UpdateTagProperties(ctx, "meta/app", "v2", noRead); err != nil {
		t.Fatalf("UpdateTagProperties(CanRead false): %v", err)
	}
	disallowed("meta/app:v2")
	if err := pullAs("meta/app@" + d2.String()); err != nil {
		t.Fatalf("pull by the digest of a tag refusing reads: %v", err)
	}
	if tag, err := pull.GetTagProperties(ctx, "meta/app", "v2", nil); err != nil || *tag.Tag.ChangeableAttributes.CanRead {
		t.Fatalf("GetTagProperties of a tag refusing reads = %+v, %v", tag, err)
	}
	e.run("acr", "repository", "update", "-n", "metaid", "--image", "meta/app:v2", "--read-enabled", "true", "-o", "none")
	e.run("acr", "repository", "update", "-n", "metaid", "--repository", "meta/app", "--read-enabled", "false", "-o", "none")
	disallowed("meta/app@" + d2.String())
	disallowed("meta/app:v1")
	e.run("acr", "repository", "update", "-n", "metaid", "--repository", "meta/app", "--read-enabled", "true", "-o", "none")
	if err := pullAs("meta/app:v2"); err != nil {
		t.Fatalf("pull after reads are enabled again: %v", err)
	}

	// AcrPull may not lock; AcrPush may.
	lock := &azcontainerregistry.ClientUpdateTagPropertiesOptions{Value: &azcontainerregistry.TagWriteableProperties{CanWrite: ptr(false), CanDelete: ptr(false)}}
	if _, err := pull.UpdateTagProperties(ctx, "meta/app", "v1", lock); !sdkStatus(err, http.StatusUnauthorized) {
		t.Fatalf("UpdateTagProperties as AcrPull: %v, want 401", err)
	}
	locked, err := push.UpdateTagProperties(ctx, "meta/app", "v1", lock)
	if err != nil || *locked.Tag.ChangeableAttributes.CanWrite || *locked.Tag.ChangeableAttributes.CanDelete {
		t.Fatalf("UpdateTagProperties as AcrPush = %+v, %v", locked, err)
	}
	err = remote.Write(e.ref("meta/app:v1"), two, e.ggcr(ctx, authn.AuthConfig{Username: pusher.appID, Password: pusher.secret})...)
	if err == nil || !strings.Contains(err.Error(), "REGISTRY_DISALLOWED_OPERATION") {
		t.Fatalf("push over a locked tag: %v", err)
	}
	if _, err := del.DeleteTag(ctx, "meta/app", "v1", nil); !sdkStatus(err, http.StatusMethodNotAllowed) {
		t.Fatalf("DeleteTag of a locked tag: %v, want 405", err)
	}
	if _, err := del.DeleteRepository(ctx, "meta/app", nil); !sdkStatus(err, http.StatusMethodNotAllowed) {
		t.Fatalf("DeleteRepository holding a locked tag: %v, want 405", err)
	}
	// AcrPush may not delete; AcrDelete may.
	if _, err := push.DeleteTag(ctx, "meta/app", "v2", nil); !sdkStatus(err, http.StatusUnauthorized) {
		t.Fatalf("DeleteTag as AcrPush: %v, want 401", err)
	}
	if _, err := del.DeleteTag(ctx, "meta/app", "v2", nil); err != nil {
		t.Fatalf("DeleteTag as AcrDelete: %v", err)
	}

	// The CLI, as the administrator (Owner), in the cloud CLI's grammar.
	if got := e.run("acr", "repository", "show", "-n", "metaid", "--image", "meta/app:v1", "--query", "changeableAttributes.writeEnabled"); got != "false" {
		t.Fatalf("show --image: writeEnabled %s", got)
	}
	if out, err := adminCLI(t, e.s).try("acr", "repository", "delete", "-n", "metaid", "--repository", "meta/app", "--yes"); err == nil || !strings.Contains(out, "REGISTRY_DISALLOWED_OPERATION") {
		t.Fatalf("CLI delete of a locked repository: %v\n%s", err, out)
	}
	e.run("acr", "repository", "update", "-n", "metaid", "--image", "meta/app:v1", "--write-enabled", "true", "--delete-enabled", "true", "-o", "none")
	if got := e.run("acr", "repository", "show-tags", "-n", "metaid", "--repository", "meta/app", "-o", "tsv"); got != "v1" {
		t.Fatalf("show-tags: %q", got)
	}
	var ms []map[string]any
	if err := json.Unmarshal([]byte(e.run("acr", "repository", "show-manifests", "-n", "metaid", "--repository", "meta/app", "--orderby", "time_desc")), &ms); err != nil || len(ms) != 2 {
		t.Fatalf("show-manifests: %v %v", ms, err)
	}
	e.run("acr", "repository", "untag", "-n", "metaid", "--image", "meta/app:v1")
	if got := e.run("acr", "repository", "list", "-n", "metaid", "-o", "tsv"); got != "meta/app" {
		t.Fatalf("list: %q", got)
	}
	gone := e.run("acr", "repository", "delete", "-n", "metaid", "--repository", "meta/app", "--yes", "--query", "length(manifestsDeleted)")
	if gone != "2" {
		t.Fatalf("delete --repository: %s manifests deleted", gone)
	}
	if _, err := pull.GetRepositoryProperties(ctx, "meta/app", nil); !sdkStatus(err, http.StatusNotFound) {
		t.Fatalf("the deleted repository: %v, want 404", err)
	}
	if out, err := adminCLI(t, e.s).try("acr", "repository", "update", "-n", "metaid", "--repository", "meta/app"); err == nil || !strings.Contains(out, "nothing to update") {
		t.Fatalf("update without attributes: %v\n%s", err, out)
	}
}
