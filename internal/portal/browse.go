package portal

import (
	"errors"
	"net/http"
	"net/url"
	"slices"

	"github.com/berthhq/berth/internal/registry"
	"github.com/berthhq/berth/internal/registryauth"
	"github.com/berthhq/berth/internal/store"
)

// registryReaders is what the refusal to browse a registry says would
// allow it.
const registryReaders = "a role assignment at the registry or above it, or on one of its repositories, that allows pulling or reading metadata (AcrPull, Reader, Contributor, Owner and others do)"

// browsed is a registry the signed-in user opened, with what they may
// read there.
type browsed struct {
	reg    registryauth.Registry
	reader registryauth.Reader
}

// browse finds the registry the path names in the user's tenant (another
// tenant's is not found) and refuses a user who may read nothing there.
func (h *Handler) browse(r *http.Request, rq *request) (browsed, error) {
	name := r.PathValue("name")
	reg, err := h.RegistryAuth.Registry(r.Context(), name)
	if errors.Is(err, registryauth.ErrRegistryUnknown) || (err == nil && reg.TenantID != rq.Tenant.ID) {
		return browsed{}, &problem{status: http.StatusNotFound, title: "Not found", message: "No registry called " + name + " exists in " + tenantName(rq.Tenant) + "."}
	}
	if err != nil {
		return browsed{}, err
	}
	reader, err := h.RegistryAuth.ReaderFor(r.Context(), reg, rq.User.ObjectID)
	if err != nil {
		return browsed{}, err
	}
	if !reader.Catalog() {
		return browsed{}, &problem{status: http.StatusForbidden, title: "Not allowed",
			message: "Browsing registry " + name + " needs " + registryReaders + "; your account has none."}
	}
	return browsed{reg: reg, reader: reader}, nil
}

func registryCrumbs() []crumb {
	return []crumb{{"Home", Prefix + "/"}, {"Container registries", Prefix + "/registries"}}
}

func (h *Handler) repositories(w http.ResponseWriter, r *http.Request, rq *request) error {
	ctx := r.Context()
	b, err := h.browse(r, rq)
	if err != nil {
		return err
	}
	all, err := h.Registries.Catalog(ctx, b.reg.Name, "", 0)
	if err != nil {
		return err
	}
	var names []string
	for _, n := range all {
		if b.reader.Repository(n) {
			names = append(names, n)
		}
	}
	from, to, p := paginate(r, len(names), Prefix+"/registries/"+url.PathEscape(b.reg.Name))
	var repos []store.RepositoryInfo
	for _, n := range names[from:to] {
		info, err := h.Registries.RepositoryInfo(ctx, store.Repo{Registry: b.reg.Name, Name: n})
		if errors.Is(err, registry.ErrNameUnknown) {
			continue // deleted since the listing
		}
		if err != nil {
			return err
		}
		repos = append(repos, info)
	}
	h.render(w, http.StatusOK, "repositories", rq, view{Title: b.reg.Name, Section: "registries", Crumbs: registryCrumbs(),
		Data: struct {
			Registry     registryauth.Registry
			Repositories []store.RepositoryInfo
			Page         pager
		}{b.reg, repos, p}})
	return nil
}

// repositoryView is a repository page's data.
type repositoryView struct {
	Registry  registryauth.Registry
	Name      string
	Info      store.RepositoryInfo
	Tags      []store.TagInfo
	Manifests []store.ManifestInfo
	// Hidden counts the tags and manifests left out of the lists for
	// their listEnabled false, as the registry's listings leave them out.
	HiddenTags, HiddenManifests int
	// Pull is the command that pulls the newest tag.
	Pull string
	Base string
	// MayLock is whether the user may change the repository's
	// attributes.
	MayLock bool
}

// listed leaves out of a listing what is listEnabled false, as the
// registry's listings do, and counts it.
func listed[T any](all []T, attrs func(T) store.Attributes) (shown []T, hidden int) {
	shown = slices.DeleteFunc(all, func(x T) bool { return !attrs(x).ListEnabled })
	return shown, len(all) - len(shown)
}

func tagAttributes(t store.TagInfo) store.Attributes           { return t.Attributes }
func manifestAttributes(m store.ManifestInfo) store.Attributes { return m.Attributes }

// opened is a repository the signed-in user opened.
type opened struct {
	browsed
	repo store.Repo
	// base is the repository page's address.
	base     string
	notFound error
}

// open is browse for the repository the path names, which the user must
// be allowed to read.
func (h *Handler) open(r *http.Request, rq *request) (opened, error) {
	b, err := h.browse(r, rq)
	if err != nil {
		return opened{}, err
	}
	name := r.PathValue("repo")
	o := opened{browsed: b, repo: store.Repo{Registry: b.reg.Name, Name: name},
		base:     Prefix + "/registries/" + url.PathEscape(b.reg.Name) + "/repositories/" + name,
		notFound: &problem{status: http.StatusNotFound, title: "Not found", message: "Registry " + b.reg.Name + " has no repository called " + name + " that you may read."}}
	if !b.reader.Repository(name) {
		return opened{}, o.notFound
	}
	return o, nil
}

func (o opened) crumbs() []crumb {
	return append(registryCrumbs(), crumb{o.reg.Name, Prefix + "/registries/" + url.PathEscape(o.reg.Name)})
}

// repository shows a repository, or with ?manifest= one of its
// manifests, or with ?delete= the confirmation of a deletion.
func (h *Handler) repository(w http.ResponseWriter, r *http.Request, rq *request) error {
	ctx := r.Context()
	o, err := h.open(r, rq)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	switch {
	case q.Has("delete"):
		return h.confirmDelete(w, r, rq, o)
	case q.Has("manifest"):
		return h.manifest(w, r, rq, o, q.Get("manifest"))
	}
	b, name, repo, notFound := o.browsed, o.repo.Name, o.repo, o.notFound
	v := repositoryView{Registry: b.reg, Name: name, Base: o.base, MayLock: b.reader.May(name, registryauth.ActionMetadataWrite)}
	v.Info, err = h.Registries.RepositoryInfo(ctx, repo)
	if err == nil {
		v.Tags, err = h.Registries.TagInfos(ctx, repo, store.ArtifactQuery{Order: store.ByTimeDesc})
	}
	if err == nil {
		v.Manifests, err = h.Registries.ManifestInfos(ctx, repo, store.ArtifactQuery{Order: store.ByTimeDesc})
	}
	if errors.Is(err, registry.ErrNameUnknown) {
		return notFound
	}
	if err != nil {
		return err
	}
	v.Tags, v.HiddenTags = listed(v.Tags, tagAttributes)
	v.Manifests, v.HiddenManifests = listed(v.Manifests, manifestAttributes)
	if len(v.Tags) > 0 {
		v.Pull = "docker pull " + b.reg.LoginServer + "/" + name + ":" + v.Tags[0].Name
	}
	h.render(w, http.StatusOK, "repository", rq, view{Title: name, Section: "registries", Crumbs: o.crumbs(), Data: v})
	return nil
}
