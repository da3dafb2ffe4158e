package portal

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/berthhq/berth/internal/oci"
	"github.com/berthhq/berth/internal/registry"
	"github.com/berthhq/berth/internal/registryauth"
	"github.com/berthhq/berth/internal/store"
)

// What the refusals of locking and deleting say would allow them.
const (
	registryWriters  = "a role assignment at the registry or above it, or on the repository, that allows pushing or writing metadata (AcrPush, Contributor, Owner and others do)"
	registryDeleters = "a role assignment at the registry or above it, or on the repository, that allows deleting (AcrDelete, Contributor, Owner and others do)"
)

// imageConfigs are the config media types of images: a manifest with one
// is an image, not an artifact, though the registry gives it that
// artifact type, as the referrers API asks.
var imageConfigs = map[string]bool{"": true, "application/vnd.oci.image.config.v1+json": true, "application/vnd.docker.container.image.v1+json": true}

// platform is an image index's entry as the manifest page shows it.
type platform struct {
	OS           string `json:"os"`
	Architecture string `json:"architecture"`
	Variant      string `json:"variant"`
	Digest       oci.Digest
	MediaType    string
	Size         int64
	// Here is whether the manifest is in the repository, to link to.
	Here bool
}

// manifestView is a manifest page's data.
type manifestView struct {
	Registry     registryauth.Registry
	Repository   string
	Base         string
	Info         store.ManifestInfo
	ArtifactType string
	// Subject is the manifest this one is about, for a referrer.
	Subject   oci.Digest
	Platforms []platform
	Referrers []store.Referrer
	Tags      []store.TagInfo
	// HiddenTags counts its tags that are listEnabled false.
	HiddenTags int
	Pull       string
	// MayLock and MayDelete are whether the user may change the
	// attributes and delete, as the registry's API would allow them.
	MayLock, MayDelete bool
}

func (h *Handler) manifest(w http.ResponseWriter, r *http.Request, rq *request, o opened, digest string) error {
	ctx := r.Context()
	d, err := oci.ParseDigest(digest)
	if err != nil {
		return &problem{status: http.StatusBadRequest, title: "No such manifest", message: "The address does not name a manifest by its digest."}
	}
	v := manifestView{Registry: o.reg, Repository: o.repo.Name, Base: o.base,
		MayLock: o.reader.May(o.repo.Name, registryauth.ActionMetadataWrite), MayDelete: o.reader.May(o.repo.Name, registryauth.ActionDelete),
		Pull: "docker pull " + o.reg.LoginServer + "/" + o.repo.Name + "@" + d.String()}
	v.Info, err = h.Registries.ManifestInfo(ctx, o.repo, d)
	var m store.Manifest
	if err == nil {
		m, err = h.Registries.GetManifest(ctx, o.repo, oci.Reference{Digest: d})
	}
	if err == nil {
		v.Tags, err = h.Registries.TagInfos(ctx, o.repo, store.ArtifactQuery{Digest: d})
		v.Tags, v.HiddenTags = listed(v.Tags, tagAttributes)
	}
	if err == nil {
		v.Referrers, err = h.Registries.ReferrerInfos(ctx, o.repo, d)
	}
	if err != nil {
		return h.artifactErr(err, o, "manifest "+digest)
	}
	v.Subject = m.Subject
	if !imageConfigs[m.ArtifactType] {
		v.ArtifactType = m.ArtifactType
	}
	if parsed, err := oci.ParseManifest(m.MediaType, m.Content); err == nil {
		for _, c := range parsed.Manifests {
			p := platform{Digest: c.Digest, MediaType: c.MediaType, Size: c.Size}
			if len(c.Platform) > 0 {
				_ = json.Unmarshal(c.Platform, &p) // a platform that does not parse is shown as unknown
			}
			_, err := h.Registries.ManifestInfo(ctx, o.repo, c.Digest)
			p.Here = err == nil
			v.Platforms = append(v.Platforms, p)
		}
	}
	h.render(w, http.StatusOK, "manifest", rq, view{Title: "Manifest " + d.String(), Section: "registries",
		Crumbs: append(o.crumbs(), crumb{o.repo.Name, o.base}), Data: v})
	return nil
}

// artifactErr is a registry service's error about what in o the page
// names as the page shows it.
func (h *Handler) artifactErr(err error, o opened, what string) error {
	switch {
	case errors.Is(err, registry.ErrNameUnknown):
		return o.notFound
	case errors.Is(err, registry.ErrManifestUnknown), errors.Is(err, registry.ErrTagInvalid):
		return &problem{status: http.StatusNotFound, title: "Not found", message: "Repository " + o.repo.Name + " has no " + what + "."}
	case errors.Is(err, registry.ErrDisallowed):
		return &problem{status: http.StatusConflict, title: "Locked", message: "The " + what + " is locked: its attributes (or its repository's) do not allow this. Unlock it first."}
	case errors.Is(err, registry.ErrBusy):
		return &problem{status: http.StatusConflict, title: "Busy", message: "Garbage collection is working on the " + what + " right now. Try again shortly."}
	case errors.Is(err, registry.ErrInsufficientStorage):
		return store.ErrInsufficientStorage
	}
	return err
}

// confirmView is the data of the page that confirms a deletion.
type confirmView struct {
	Base, Repository string
	// Tag is the tag to delete; otherwise Manifest with its tags.
	Tag      string
	Manifest store.ManifestInfo
	// Back is where Cancel goes.
	Back string
}

// confirmDelete asks before deleting the tag (?delete=tag&tag=) or the
// manifest (?delete=manifest&digest=) the address names.
func (h *Handler) confirmDelete(w http.ResponseWriter, r *http.Request, rq *request, o opened) error {
	ctx := r.Context()
	if !o.reader.May(o.repo.Name, registryauth.ActionDelete) {
		return &problem{status: http.StatusForbidden, title: "Not allowed", message: "Deleting in repository " + o.repo.Name + " needs " + registryDeleters + "; your account has none."}
	}
	q := r.URL.Query()
	v := confirmView{Base: o.base, Repository: o.repo.Name}
	switch q.Get("delete") {
	case "tag":
		v.Tag = q.Get("tag")
		t, err := h.Registries.TagInfo(ctx, o.repo, v.Tag)
		if err != nil {
			return h.artifactErr(err, o, "tag "+v.Tag)
		}
		v.Back = o.base + "?manifest=" + url.QueryEscape(t.Digest.String())
	case "manifest":
		d, err := oci.ParseDigest(q.Get("digest"))
		if err == nil {
			v.Manifest, err = h.Registries.ManifestInfo(ctx, o.repo, d)
		} else {
			err = registry.ErrManifestUnknown
		}
		if err != nil {
			return h.artifactErr(err, o, "manifest "+q.Get("digest"))
		}
		v.Back = o.base + "?manifest=" + url.QueryEscape(d.String())
	default:
		return &problem{status: http.StatusBadRequest, title: "Bad address", message: "The address asks to delete neither a tag nor a manifest."}
	}
	h.render(w, http.StatusOK, "confirm", rq, view{Title: "Delete?", Section: "registries",
		Crumbs: append(o.crumbs(), crumb{o.repo.Name, o.base}), Data: v})
	return nil
}

// changeRepository locks and unlocks the repository, its tags and
// manifests, and deletes tags and manifests, as the registry's metadata
// API does, with the same rights.
func (h *Handler) changeRepository(w http.ResponseWriter, r *http.Request, rq *request) error {
	ctx := r.Context()
	o, err := h.open(r, rq)
	if err != nil {
		return err
	}
	f := r.PostForm
	if f.Get("action") == "repository" {
		if !o.reader.May(o.repo.Name, registryauth.ActionMetadataWrite) {
			return &problem{status: http.StatusForbidden, title: "Not allowed", message: "Locking and unlocking repository " + o.repo.Name + " needs " + registryWriters + "; your account has none."}
		}
		// Each box is the attribute itself: one left unticked is false.
		up := store.AttributesUpdate{}
		for name, field := range map[string]**bool{"write": &up.WriteEnabled, "delete": &up.DeleteEnabled, "read": &up.ReadEnabled, "list": &up.ListEnabled} {
			on := f.Get(name) == "on"
			*field = &on
		}
		if _, err := h.Registries.UpdateRepository(ctx, o.repo, up); err != nil {
			return h.artifactErr(err, o, "repository")
		}
		http.Redirect(w, r, o.base, http.StatusSeeOther)
		return nil
	}
	tag, digest := f.Get("tag"), f.Get("digest")
	d, derr := oci.ParseDigest(digest)
	what := "tag " + tag
	if tag == "" {
		what = "manifest " + digest
		if derr != nil {
			return &problem{status: http.StatusBadRequest, title: "Bad form", message: "The form names neither a tag nor a manifest."}
		}
	}
	next := o.base
	switch f.Get("action") {
	case "attributes":
		if !o.reader.May(o.repo.Name, registryauth.ActionMetadataWrite) {
			return &problem{status: http.StatusForbidden, title: "Not allowed", message: "Locking and unlocking in repository " + o.repo.Name + " needs " + registryWriters + "; your account has none."}
		}
		write, del := f.Get("write") == "on", f.Get("delete") == "on"
		up := store.AttributesUpdate{WriteEnabled: &write, DeleteEnabled: &del}
		if tag != "" {
			var t store.TagInfo
			t, err = h.Registries.UpdateTag(ctx, o.repo, tag, up)
			d = t.Digest
		} else {
			_, err = h.Registries.UpdateManifest(ctx, o.repo, d, up)
		}
		next = o.base + "?manifest=" + url.QueryEscape(d.String())
	case "delete":
		if !o.reader.May(o.repo.Name, registryauth.ActionDelete) {
			return &problem{status: http.StatusForbidden, title: "Not allowed", message: "Deleting in repository " + o.repo.Name + " needs " + registryDeleters + "; your account has none."}
		}
		if tag != "" {
			err = h.Registries.DeleteTag(ctx, o.repo, tag)
		} else {
			err = h.Registries.DeleteManifest(ctx, o.repo, oci.Reference{Digest: d})
		}
	default:
		return &problem{status: http.StatusBadRequest, title: "Bad form", message: "The form asks for no known change."}
	}
	if err != nil {
		return h.artifactErr(err, o, what)
	}
	http.Redirect(w, r, next, http.StatusSeeOther)
	return nil
}

// platformName is an index entry's platform as people write it.
func platformName(p platform) string {
	if p.OS == "" && p.Architecture == "" {
		return "unknown"
	}
	return strings.Join(slices.DeleteFunc([]string{p.OS, p.Architecture, p.Variant}, func(s string) bool { return s == "" }), "/")
}
