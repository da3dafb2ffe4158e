package portal

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/berthhq/berth/internal/controlplane"
	"github.com/berthhq/berth/internal/registryauth"
	"github.com/berthhq/berth/internal/resourceid"
	"github.com/berthhq/berth/internal/resourcetype"
	"github.com/berthhq/berth/internal/store"
	"github.com/berthhq/berth/internal/web"
)

// registryAdmins is what the refusal to create or change a registry says
// would allow it.
const registryAdmins = "a role assignment there or above it that allows writing registries (Contributor or Owner)"

// groupChoice is a resource group the create form offers.
type groupChoice struct {
	Value, Name, Subscription string
}

// registryForm is the create form's fields.
type registryForm struct {
	Name, Group string
	Groups      []groupChoice
}

func (h *Handler) newRegistry(w http.ResponseWriter, r *http.Request, rq *request) error {
	return h.showRegistryForm(w, r, rq, http.StatusOK, registryForm{}, nil)
}

// showRegistryForm offers the resource groups the user may read (the
// service lists those only); creating there may still be refused.
func (h *Handler) showRegistryForm(w http.ResponseWriter, r *http.Request, rq *request, status int, f registryForm, errs []web.FieldError) error {
	ctx := r.Context()
	subs, err := h.Resources.ListSubscriptions(ctx, rq.res)
	if err != nil {
		return err
	}
	for _, sub := range subs {
		groups, err := h.Resources.ListResourceGroups(ctx, rq.res, sub.ID)
		if err != nil {
			return err
		}
		for _, g := range groups {
			f.Groups = append(f.Groups, groupChoice{Value: sub.ID + "/" + g.Name, Name: g.Name, Subscription: sub.DisplayName})
		}
	}
	h.render(w, status, "registrynew", rq, view{Title: "Create a container registry", Section: "registries", Errors: errs,
		Crumbs: registryCrumbs(), Data: f})
	return nil
}

func (h *Handler) createRegistry(w http.ResponseWriter, r *http.Request, rq *request) error {
	f := registryForm{Name: strings.TrimSpace(r.PostForm.Get("name")), Group: r.PostForm.Get("group")}
	var errs []web.FieldError
	if f.Name == "" {
		errs = append(errs, web.FieldError{Field: "name", Message: "Enter a name for the registry"})
	}
	sub, group, ok := strings.Cut(f.Group, "/")
	if !ok || sub == "" || group == "" {
		errs = append(errs, web.FieldError{Field: "group", Message: "Choose a resource group"})
	}
	if errs != nil {
		return h.showRegistryForm(w, r, rq, http.StatusBadRequest, f, errs)
	}
	id := resourceid.Resource(sub, group, resourcetype.Registry, f.Name)
	_, created, err := h.Resources.PutResource(r.Context(), rq.res, id, controlplane.ResourceInput{})
	switch {
	case errors.Is(err, controlplane.ErrForbidden):
		return refused(err, "Creating a registry in resource group %s needs %s; your account has none.", group, registryAdmins)
	case errors.Is(err, controlplane.ErrBadRequest), errors.Is(err, controlplane.ErrConflict):
		return h.showRegistryForm(w, r, rq, http.StatusBadRequest, f, []web.FieldError{{Field: "name", Message: serviceMessage(err)}})
	case errors.Is(err, controlplane.ErrNotFound):
		return h.showRegistryForm(w, r, rq, http.StatusBadRequest, f, []web.FieldError{{Field: "group", Message: serviceMessage(err)}})
	case err != nil:
		return err
	case !created:
		// A PUT replaces: the form only ever makes a new registry, and
		// a name taken in the same group is said so, not overwritten.
		return h.showRegistryForm(w, r, rq, http.StatusConflict, f, []web.FieldError{{Field: "name", Message: "A registry with this name is in this resource group already"}})
	}
	http.Redirect(w, r, Prefix+"/registries/"+url.PathEscape(f.Name)+"/settings", http.StatusSeeOther)
	return nil
}

// settingsView is a registry's settings page.
type settingsView struct {
	Resource     store.Resource
	Props        resourcetype.RegistryProperties
	Subscription string
	Saved        bool
}

// registryResource finds the registry the path names in the user's tenant
// and reads its resource as the user.
func (h *Handler) registryResource(r *http.Request, rq *request) (resourceid.ID, store.Resource, error) {
	name := r.PathValue("name")
	reg, err := h.RegistryAuth.Registry(r.Context(), name)
	if errors.Is(err, registryauth.ErrRegistryUnknown) || (err == nil && reg.TenantID != rq.Tenant.ID) {
		return resourceid.ID{}, store.Resource{}, &problem{status: http.StatusNotFound, title: "Not found", message: "No registry called " + name + " exists in " + tenantName(rq.Tenant) + "."}
	}
	if err != nil {
		return resourceid.ID{}, store.Resource{}, err
	}
	id, err := resourceid.Parse(reg.ResourceID)
	if err != nil {
		return id, store.Resource{}, err
	}
	res, err := h.Resources.GetResource(r.Context(), rq.res, id)
	if err != nil {
		return id, res, refused(err, "Seeing the settings of registry %s needs a role assignment there or above it that allows reading it (Reader, Contributor, Owner and others do); your account has none.", name)
	}
	return id, res, nil
}

func (h *Handler) registrySettings(w http.ResponseWriter, r *http.Request, rq *request) error {
	_, res, err := h.registryResource(r, rq)
	if err != nil {
		return err
	}
	v := settingsView{Resource: res, Saved: r.URL.Query().Has("saved")}
	if err := json.Unmarshal(res.Properties, &v.Props); err != nil {
		return err
	}
	v.Props.LoginServer = h.Resources.LoginServer(res.Name)
	v.Subscription = h.scopeNames(r.Context(), rq)(resourceid.ID{Subscription: res.SubscriptionID})
	h.render(w, http.StatusOK, "registry", rq, view{Title: res.Name + " settings", Section: "registries", Crumbs: registryCrumbs(), Data: v})
	return nil
}

func (h *Handler) changeRegistrySettings(w http.ResponseWriter, r *http.Request, rq *request) error {
	id, res, err := h.registryResource(r, rq)
	if err != nil {
		return err
	}
	props, err := json.Marshal(map[string]bool{
		"adminUserEnabled":     r.PostForm.Has("admin_user"),
		"anonymousPullEnabled": r.PostForm.Has("anonymous_pull"),
	})
	if err != nil {
		return err
	}
	if _, err := h.Resources.PatchResource(r.Context(), rq.res, id, controlplane.ResourceInput{Properties: props}); err != nil {
		return refused(err, "Changing the settings of registry %s needs %s; your account has none.", res.Name, registryAdmins)
	}
	http.Redirect(w, r, Prefix+"/registries/"+url.PathEscape(res.Name)+"/settings?saved", http.StatusSeeOther)
	return nil
}
