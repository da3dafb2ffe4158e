package e2e

import (
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/berthhq/berth/internal/testutil/berthtest"
)

// signatureType is the artifact type of the signature the test pushes
// about an image, cosign's.
const signatureType = "application/vnd.dev.cosign.artifact.sig.v1+json"

// TestPortalRegistryBrowsing: the bootstrap tenant's first user browses
// the default registry in headless Chromium to an image index, sees its
// platforms, follows one to its image and sees the image's signature
// among its referrers. They lock the index's tag: a push over it is
// refused, and so is its deletion; unlocked, they delete it after the
// confirmation page, then the signature the same way, and the registry's
// API no longer serves either. With BERTH_SCREENSHOTS=DIR the pages are
// saved there as PNG, wide and narrow.
func TestPortalRegistryBrowsing(t *testing.T) {
	s := berthtest.Start(t)
	opts := []remote.Option{remote.WithContext(t.Context()), remote.WithTransport(loginServerTransport(s)),
		remote.WithAuth(&authn.Basic{Username: s.Boot.ClientID, Password: s.Boot.ClientSecret})}
	repo, err := name.NewRepository(registryAddress(s) + "/portal/hello")
	if err != nil {
		t.Fatal(err)
	}
	amd64, arm64 := v1.Platform{OS: "linux", Architecture: "amd64"}, v1.Platform{OS: "linux", Architecture: "arm64", Variant: "v8"}
	image := ociImage(t, amd64, 4096)
	idx := mutate.AppendManifests(mutate.IndexMediaType(empty.Index, types.OCIImageIndex),
		mutate.IndexAddendum{Add: image, Descriptor: v1.Descriptor{Platform: &amd64}},
		mutate.IndexAddendum{Add: ociImage(t, arm64, 2048), Descriptor: v1.Descriptor{Platform: &arm64}})
	if err := remote.WriteIndex(repo.Tag("v1"), idx, opts...); err != nil {
		t.Fatal(err)
	}
	imageDesc, err := partial.Descriptor(image)
	if err != nil {
		t.Fatal(err)
	}
	sig := mutate.Subject(mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), signatureType), *imageDesc).(v1.Image)
	sigDigest, err := sig.Digest()
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(repo.Digest(sigDigest.String()), sig, opts...); err != nil {
		t.Fatal(err)
	}
	idxDigest, err := idx.Digest()
	if err != nil {
		t.Fatal(err)
	}

	p := signedInPortal(t, s)
	ctx, load, text := p.ctx, p.load, p.text
	load("Container registries", 200, chromedp.Click(`//nav[@aria-label="Portal"]//a[.="Container registries"]`))
	load("the registry", 200, chromedp.Click(`//tr/td[1]/a[.="`+s.Boot.Registry+`"]`))
	load("the repository", 200, chromedp.Click(`//a[.="portal/hello"]`))
	load("the index from its tag", 200, chromedp.Click(`//tr[td[1]="v1"]/td[2]/a`))
	if got := text(`//dt[.="Digest"]/following-sibling::dd[1]`); got != idxDigest.String() {
		t.Fatalf("the index's page shows digest %q, want %s", got, idxDigest)
	}
	platforms, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll("td[data-label=Platform]")].map(c => c.innerText)`))
	if err != nil || strings.Join(platforms, " ") != "linux/amd64 linux/arm64/v8" {
		t.Fatalf("the index's platforms: %q %v", platforms, err)
	}
	if pull, err := chromedp.Run(ctx, chromedp.Value(chromedp.ID("pull"))); err != nil || !strings.HasSuffix(pull, "/portal/hello@"+idxDigest.String()) {
		t.Fatalf("the pull command: %q %v", pull, err)
	}
	shots(t, ctx, "portal-index")

	load("the amd64 image", 200, chromedp.Click(`//tr[td[1]="linux/amd64"]/td[2]/a`))
	if got := text(`//tr[td[2]//code]/td[@data-label="Artifact type"]`); got != signatureType {
		t.Fatalf("the image's referrer: %q, want its signature", got)
	}
	shots(t, ctx, "portal-manifest")

	// Lock the tag: no overwrite, no deletion.
	load("the index again", 200, chromedp.Navigate(s.URL+"/portal/registries/"+s.Boot.Registry+"/repositories/portal/hello?manifest="+idxDigest.String()))
	load("Save the locks", 200, chromedp.Click(chromedp.ID("write-v1")), chromedp.Click(chromedp.ID("delete-v1")),
		chromedp.Click(`//form[input[@name="tag"][@value="v1"]]//button`))
	if got := text(`//tr[td[1][starts-with(., "v1")]]//span[@class="tag locked"]`); got != "Locked" {
		t.Fatalf("the locked tag is shown as %q", got)
	}
	if err := remote.Write(repo.Tag("v1"), image, opts...); err == nil {
		t.Fatal("a push over the locked tag was accepted")
	}
	if d, err := remote.Head(repo.Tag("v1"), opts...); err != nil || d.Digest != idxDigest {
		t.Fatalf("the locked tag after the refused push: %v %v", d, err)
	}
	load("Delete the tag", 200, chromedp.Click(`//tr[td[1][starts-with(., "v1")]]//a[starts-with(., "Delete")]`))
	if h1 := text("h1"); h1 != "Delete tag v1?" {
		t.Fatalf("the confirmation page: %q", h1)
	}
	shots(t, ctx, "portal-confirm-delete")
	load("Delete the locked tag", 409, chromedp.Click(`//button[.="Delete"]`))
	if why := text(".refusal"); !strings.Contains(why, "is locked") {
		t.Fatalf("the refusal to delete a locked tag: %q", why)
	}

	// Unlocked, it is deleted after the confirmation.
	load("the index again", 200, chromedp.Navigate(s.URL+"/portal/registries/"+s.Boot.Registry+"/repositories/portal/hello?manifest="+idxDigest.String()))
	load("Save the locks", 200, chromedp.Click(chromedp.ID("write-v1")), chromedp.Click(chromedp.ID("delete-v1")),
		chromedp.Click(`//form[input[@name="tag"][@value="v1"]]//button`))
	load("Delete the tag", 200, chromedp.Click(`//tr[td[1]="v1"]//a[starts-with(., "Delete")]`))
	load("Cancel", 200, chromedp.Click(`//a[.="Cancel"]`))
	if _, err := remote.Head(repo.Tag("v1"), opts...); err != nil {
		t.Fatalf("the tag after Cancel: %v", err)
	}
	load("Delete the tag", 200, chromedp.Click(`//tr[td[1]="v1"]//a[starts-with(., "Delete")]`))
	load("Delete", 200, chromedp.Click(`//button[.="Delete"]`))
	if _, err := remote.Head(repo.Tag("v1"), opts...); err == nil {
		t.Fatal("the deleted tag is still served")
	}

	// The signature, by its digest.
	load("the signature", 200, chromedp.Navigate(s.URL+"/portal/registries/"+s.Boot.Registry+"/repositories/portal/hello?manifest="+sigDigest.String()))
	load("Delete manifest", 200, chromedp.Click(`//a[.="Delete manifest"]`))
	load("Delete", 200, chromedp.Click(`//button[.="Delete"]`))
	if _, err := remote.Head(repo.Digest(sigDigest.String()), opts...); err == nil {
		t.Fatal("the deleted signature is still served")
	}
	refs, err := remote.Referrers(repo.Digest(imageDesc.Digest.String()), opts...)
	if err != nil {
		t.Fatal(err)
	}
	if m, err := refs.IndexManifest(); err != nil || len(m.Manifests) != 0 {
		t.Fatalf("the image's referrers after the signature's deletion: %+v %v", m, err)
	}
}
