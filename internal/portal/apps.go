package portal

import (
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/berthhq/berth/internal/graph"
	"github.com/berthhq/berth/internal/store"
	"github.com/berthhq/berth/internal/web"
)

// appWriters is what the refusal of a change to an application says would
// allow it.
const appWriters = "the Global Administrator or Application Administrator directory role"

func (h *Handler) apps(w http.ResponseWriter, r *http.Request, rq *request) error {
	all, err := h.Directory.ListApplications(r.Context(), rq.dir, "")
	if err != nil {
		return err
	}
	search := strings.TrimSpace(r.URL.Query().Get("search"))
	if search != "" {
		all = slices.DeleteFunc(all, func(a store.Application) bool {
			return !strings.Contains(strings.ToLower(a.DisplayName), strings.ToLower(search)) && !strings.EqualFold(a.AppID, search)
		})
	}
	slices.SortFunc(all, func(a, b store.Application) int {
		return strings.Compare(strings.ToLower(a.DisplayName), strings.ToLower(b.DisplayName))
	})
	base := Prefix + "/apps"
	if search != "" {
		base += "?search=" + url.QueryEscape(search)
	}
	from, to, p := paginate(r, len(all), base)
	h.render(w, http.StatusOK, "apps", rq, view{Title: "App registrations", Section: "apps",
		Crumbs: []crumb{{"Home", Prefix + "/"}},
		Data: struct {
			Apps   []store.Application
			Search string
			Page   pager
		}{all[from:to], search, p}})
	return nil
}

// appForm is the New registration form's fields.
type appForm struct {
	Name, Audience, RedirectURI string
	Tenant                      string
	Single, Multi               string
}

func (h *Handler) newApp(w http.ResponseWriter, r *http.Request, rq *request) error {
	h.showAppForm(w, http.StatusOK, rq, appForm{Audience: graph.AudienceMyOrg}, nil)
	return nil
}

func (h *Handler) showAppForm(w http.ResponseWriter, status int, rq *request, f appForm, errs []web.FieldError) {
	f.Tenant, f.Single, f.Multi = tenantName(rq.Tenant), graph.AudienceMyOrg, graph.AudienceMultipleOrgs
	h.render(w, status, "appnew", rq, view{Title: "Register an application", Section: "apps", Errors: errs,
		Crumbs: []crumb{{"Home", Prefix + "/"}, {"App registrations", Prefix + "/apps"}}, Data: f})
}

func (h *Handler) createApp(w http.ResponseWriter, r *http.Request, rq *request) error {
	f := appForm{
		Name:        strings.TrimSpace(r.PostForm.Get("name")),
		Audience:    r.PostForm.Get("audience"),
		RedirectURI: strings.TrimSpace(r.PostForm.Get("redirect_uri")),
	}
	var errs []web.FieldError
	if f.Name == "" {
		errs = append(errs, web.FieldError{Field: "name", Message: "Enter a name for the application"})
	}
	if f.Audience != graph.AudienceMyOrg && f.Audience != graph.AudienceMultipleOrgs {
		errs = append(errs, web.FieldError{Field: "audience-single", Message: "Choose who can use the application"})
	}
	if errs != nil {
		h.showAppForm(w, http.StatusBadRequest, rq, f, errs)
		return nil
	}
	n := graph.NewApplication{DisplayName: f.Name, SignInAudience: f.Audience}
	if f.RedirectURI != "" {
		n.WebRedirectURIs = []string{f.RedirectURI}
	}
	a, err := h.Directory.CreateApplication(r.Context(), rq.dir, n)
	if errors.Is(err, graph.ErrBadRequest) {
		// Only the redirect URI can be wrong once the form is checked.
		h.showAppForm(w, http.StatusBadRequest, rq, f, []web.FieldError{{Field: "redirect_uri", Message: "Enter a redirect URI the directory accepts: " + err.Error()}})
		return nil
	}
	if err != nil {
		return refused(err, "Registering applications in %s needs %s, which your account does not hold.", tenantName(rq.Tenant), appWriters)
	}
	http.Redirect(w, r, Prefix+"/apps/"+a.ObjectID, http.StatusSeeOther)
	return nil
}

// appView is an application's pages' data.
type appView struct {
	App    store.Application
	Tenant store.Tenant
	Base   string
	// Tab is the page of the application shown.
	Tab string
}

func (h *Handler) application(r *http.Request, rq *request) (appView, error) {
	a, err := h.Directory.GetApplication(r.Context(), rq.dir, r.PathValue("id"))
	return appView{App: a, Tenant: rq.Tenant, Base: Prefix + "/apps/" + a.ObjectID}, err
}

func appCrumbs() []crumb {
	return []crumb{{"Home", Prefix + "/"}, {"App registrations", Prefix + "/apps"}}
}

func (h *Handler) app(w http.ResponseWriter, r *http.Request, rq *request) error {
	v, err := h.application(r, rq)
	if err != nil {
		return err
	}
	v.Tab = "overview"
	h.render(w, http.StatusOK, "app", rq, view{Title: v.App.DisplayName, Section: "apps", Crumbs: appCrumbs(), Data: v})
	return nil
}

// secretLifetimes are the choices of a new secret's expiry, in days; the
// first is the default.
var secretLifetimes = []int{180, 365, 545, 730}

// secretsView is the Certificates & secrets page's data. New is the
// secret just added, its value shown this once.
type secretsView struct {
	appView
	Secrets      []store.PasswordCredential
	Certificates []certificate
	// Uploaded says the page answers a certificate's upload.
	Uploaded    bool
	Lifetimes   []int
	New         *newSecret
	Description string
	Expired     func(time.Time) bool
	// Mark stands for the secrets the page lists: Add acts only while
	// they are the same (web.Handler.Mark).
	Mark string
}

// secretsMark is the mark of an application's client secrets.
func (h *Handler) secretsMark(pcs []store.PasswordCredential) string {
	ids := make([]string, 0, len(pcs))
	for _, pc := range pcs {
		ids = append(ids, pc.KeyID)
	}
	slices.Sort(ids)
	return h.Pages.Mark(append([]string{"secrets"}, ids...)...)
}

type newSecret struct {
	Description, Value, ID string
	Expires                time.Time
}

func (h *Handler) secrets(w http.ResponseWriter, r *http.Request, rq *request) error {
	return h.showSecrets(w, r, rq, http.StatusOK, nil, "", nil)
}

func (h *Handler) showSecrets(w http.ResponseWriter, r *http.Request, rq *request, status int, added *newSecret, description string, errs []web.FieldError) error {
	v, err := h.application(r, rq)
	if err != nil {
		return err
	}
	v.Tab = "secrets"
	pcs, err := h.Directory.PasswordCredentials(r.Context(), v.App)
	if err != nil {
		return err
	}
	slices.SortFunc(pcs, func(a, b store.PasswordCredential) int { return a.EndDateTime.Compare(b.EndDateTime) })
	kcs, err := h.Directory.KeyCredentials(r.Context(), v.App)
	if err != nil {
		return err
	}
	slices.SortFunc(kcs, func(a, b store.KeyCredential) int { return a.EndDateTime.Compare(b.EndDateTime) })
	now := time.Now()
	h.render(w, status, "secrets", rq, view{Title: "Certificates & secrets", Section: "apps", Errors: errs,
		Crumbs: append(appCrumbs(), crumb{v.App.DisplayName, v.Base}),
		Data: secretsView{appView: v, Secrets: pcs, Certificates: certificateRows(kcs), Uploaded: r.Method == http.MethodGet && r.URL.Query().Get("certificate") == "uploaded", Lifetimes: secretLifetimes, New: added, Description: description,
			Expired: func(t time.Time) bool { return t.Before(now) }, Mark: h.secretsMark(pcs)}})
	return nil
}

func (h *Handler) addSecret(w http.ResponseWriter, r *http.Request, rq *request) error {
	description := strings.TrimSpace(r.PostForm.Get("description"))
	days, err := strconv.Atoi(r.PostForm.Get("expires"))
	if err != nil || !slices.Contains(secretLifetimes, days) {
		return h.showSecrets(w, r, rq, http.StatusBadRequest, nil, description, []web.FieldError{{Field: "expires", Message: "Choose when the secret expires"}})
	}
	if len(description) > 100 {
		return h.showSecrets(w, r, rq, http.StatusBadRequest, nil, description, []web.FieldError{{Field: "description", Message: "Enter a description of at most 100 characters"}})
	}
	v, err := h.application(r, rq)
	if err != nil {
		return err
	}
	pcs, err := h.Directory.PasswordCredentials(r.Context(), v.App)
	if err != nil {
		return err
	}
	if !web.SameMark(r.PostForm.Get("mark"), h.secretsMark(pcs)) {
		// The form is older than the secrets: most likely the answer to
		// Add, reloaded, which would add a second secret.
		return h.showSecrets(w, r, rq, http.StatusConflict, nil, description, []web.FieldError{{Field: "description",
			Message: "The secrets changed after this form was shown (was the page that showed a new secret reloaded?), so none was added. Add again if you need another one"}})
	}
	start := time.Now().UTC()
	pc, value, err := h.Directory.AddPassword(r.Context(), rq.dir, r.PathValue("id"), graph.NewPassword{
		DisplayName: description, StartDateTime: start, EndDateTime: start.AddDate(0, 0, days)})
	if err != nil {
		return refused(err, "Adding a secret to this application needs %s, or being one of its owners; your account is neither.", appWriters)
	}
	// The value is in this answer only: it is not kept, and the page is
	// not cached (no-store), so it is never shown again.
	return h.showSecrets(w, r, rq, http.StatusOK, &newSecret{Description: pc.DisplayName, Value: value, ID: pc.KeyID, Expires: pc.EndDateTime}, "", nil)
}

func (h *Handler) deleteSecret(w http.ResponseWriter, r *http.Request, rq *request) error {
	id := r.PathValue("id")
	if err := h.Directory.RemovePassword(r.Context(), rq.dir, id, r.PathValue("key")); err != nil {
		return refused(err, "Deleting a secret of this application needs %s, or being one of its owners; your account is neither.", appWriters)
	}
	http.Redirect(w, r, Prefix+"/apps/"+id+"/secrets", http.StatusSeeOther)
	return nil
}
