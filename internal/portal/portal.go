package portal

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/berthhq/berth/internal/audit"
	"github.com/berthhq/berth/internal/controlplane"
	"github.com/berthhq/berth/internal/graph"
	"github.com/berthhq/berth/internal/registry"
	"github.com/berthhq/berth/internal/registryauth"
	"github.com/berthhq/berth/internal/store"
	"github.com/berthhq/berth/internal/web"
)

// Prefix is the portal's path on berth's address.
const Prefix = "/portal"

//go:embed templates
var templateFS embed.FS

// Handler serves the portal.
type Handler struct {
	// Pages signs people in and keeps their sessions.
	Pages *web.Handler
	// Directory and Resources are the services behind the directory and
	// management APIs, called as the signed-in user.
	Directory *graph.Service
	Resources *controlplane.Service
	// Registries and RegistryAuth serve a registry's repositories, and
	// decide what the user may read there as they decide for tokens.
	Registries   *registry.Service
	RegistryAuth *registryauth.Service
	Log          *slog.Logger

	style web.Style
	pages map[string]*template.Template
	mux   *http.ServeMux
}

// Match reports whether path is the portal's.
func Match(path string) bool {
	return path == Prefix || strings.HasPrefix(path, Prefix+"/")
}

// New parses the templates and routes the pages.
func New(pages *web.Handler, dir *graph.Service, res *controlplane.Service, reg *registry.Service, regAuth *registryauth.Service, log *slog.Logger) (*Handler, error) {
	css, err := templateFS.ReadFile("templates/portal.css")
	if err != nil {
		return nil, err
	}
	h := &Handler{Pages: pages, Directory: dir, Resources: res, Registries: reg, RegistryAuth: regAuth, Log: log, pages: map[string]*template.Template{}, mux: http.NewServeMux()}
	if h.style, err = web.NewStyle(css); err != nil {
		return nil, err
	}
	for _, name := range []string{"home", "apps", "appnew", "app", "secrets", "enterprise", "registries", "registrynew", "registry", "subscription", "group", "repositories", "repository", "manifest", "confirm", "users", "usernew", "user", "identities", "identity", "compute", "iam", "account", "problem"} {
		t, err := template.New(name).Funcs(funcs).ParseFS(web.Templates, "templates/base.html")
		if err == nil {
			t, err = t.ParseFS(templateFS, "templates/layout.html", "templates/"+name+".html")
		}
		if err != nil {
			return nil, err
		}
		h.pages[name] = t
	}
	for pattern, fn := range map[string]func(http.ResponseWriter, *http.Request, *request) error{
		"GET /portal/{$}":                                        h.home,
		"POST /portal/signout":                                   h.signOut,
		"GET /portal/apps":                                       h.apps,
		"GET /portal/apps/new":                                   h.newApp,
		"POST /portal/apps/new":                                  h.createApp,
		"GET /portal/apps/{id}":                                  h.app,
		"GET /portal/apps/{id}/secrets":                          h.secrets,
		"POST /portal/apps/{id}/secrets":                         h.addSecret,
		"POST /portal/apps/{id}/secrets/{key}/delete":            h.deleteSecret,
		"POST /portal/apps/{id}/certificates":                    h.uploadCertificate,
		"POST /portal/apps/{id}/certificates/{key}/delete":       h.deleteCertificate,
		"GET /portal/enterprise-apps":                            h.enterpriseApps,
		"POST /portal/enterprise-apps/{id}/delete":               h.deleteEnterpriseApp,
		"GET /portal/users":                                      h.users,
		"GET /portal/users/new":                                  h.newUser,
		"POST /portal/users/new":                                 h.createUser,
		"GET /portal/users/{id}":                                 h.user,
		"POST /portal/users/{id}":                                h.changeUser,
		"GET /portal/identities":                                 h.identities,
		"GET /portal/identity":                                   h.identity,
		"GET /portal/compute":                                    h.compute,
		"GET /portal/account":                                    h.account,
		"POST /portal/account":                                   h.changePassword,
		"GET /portal/subscriptions/{sub}":                        h.subscription,
		"GET /portal/subscriptions/{sub}/resourcegroups/{group}": h.resourceGroup,
		"GET /portal/registries/new":                             h.newRegistry,
		"POST /portal/registries/new":                            h.createRegistry,
		"GET /portal/registries/{name}/settings":                 h.registrySettings,
		"POST /portal/registries/{name}/settings":                h.changeRegistrySettings,
		"GET /portal/registries/{name}":                          h.repositories,
		"GET /portal/registries/{name}/repositories/{repo...}":   h.repository,
		"POST /portal/registries/{name}/repositories/{repo...}":  h.changeRepository,
		"GET /portal/registries":                                 h.registries,
		"GET /portal/iam":                                        h.iam,
		"POST /portal/iam":                                       h.changeIAM,
		"/portal/":                                               h.notFound,
	} {
		h.mux.Handle(pattern, h.page(fn))
	}
	return h, nil
}

// request is a signed-in user's request: who, and as whom the services
// are called.
type request struct {
	web.Person
	dir graph.Caller
	res controlplane.Caller
}

type personKey struct{}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	r = audit.Attach(w, r)
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodPost:
	default:
		// Answered before the session is read: no page takes the
		// method, whoever asks.
		h.style.SetHeaders(w.Header())
		w.Header().Set("Allow", "GET, HEAD, POST")
		h.render(w, http.StatusMethodNotAllowed, "problem", &request{}, view{Title: "Method not allowed",
			Data: "Portal pages answer GET and POST only: open the page in a browser, or use the APIs."})
		return
	}
	p, ok := h.Pages.Require(w, r)
	if !ok {
		return
	}
	h.style.SetHeaders(w.Header())
	h.mux.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), personKey{}, p)))
}

// page adapts a page's function: it gets the signed-in user, and its
// error is shown as a page.
func (h *Handler) page(fn func(http.ResponseWriter, *http.Request, *request) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := r.Context().Value(personKey{}).(web.Person)
		rq := &request{Person: p,
			dir: graph.Caller{TenantID: p.Tenant.ID, ObjectID: p.User.ObjectID, Kind: audit.User},
			res: controlplane.Caller{TenantID: p.Tenant.ID, ObjectID: p.User.ObjectID}}
		if err := fn(w, r, rq); err != nil {
			h.fail(w, r, rq, err)
		}
	})
}

func (h *Handler) signOut(w http.ResponseWriter, r *http.Request, rq *request) error {
	h.Pages.SignOut(w, rq.Person)
	http.Redirect(w, r, Prefix+"/", http.StatusSeeOther)
	return nil
}

// notFound answers what no page takes: a page's address with another
// method than its own, or an address with no page.
func (h *Handler) notFound(w http.ResponseWriter, r *http.Request, rq *request) error {
	if allow := h.allowed(r); allow != nil {
		w.Header().Set("Allow", strings.Join(allow, ", "))
		return &problem{status: http.StatusMethodNotAllowed, title: "Method not allowed",
			message: "This page answers " + allow[0] + " only: follow the portal's links and forms to it."}
	}
	return &problem{status: http.StatusNotFound, title: "Page not found", message: "The portal has no page at this address."}
}

// allowed is the methods a page at r's address takes, none if there is no
// page.
func (h *Handler) allowed(r *http.Request) []string {
	var allow []string
	for _, m := range []string{http.MethodGet, http.MethodPost} {
		probe := r.Clone(r.Context())
		probe.Method = m
		if _, pattern := h.mux.Handler(probe); pattern != Prefix+"/" {
			allow = append(allow, m)
		}
	}
	if slices.Contains(allow, http.MethodGet) {
		allow = slices.Insert(allow, 1, http.MethodHead)
	}
	return allow
}

// problem is a failure shown as a page, in the portal's layout.
type problem struct {
	status         int
	title, message string
}

func (p *problem) Error() string { return p.title + ": " + p.message }

// refused turns a service's refusal for lack of rights into a page that
// says what the user may not do and what would allow it; other errors
// pass through.
func refused(err error, format string, args ...any) error {
	if errors.Is(err, graph.ErrForbidden) || errors.Is(err, controlplane.ErrForbidden) {
		return &problem{status: http.StatusForbidden, title: "Not allowed", message: fmt.Sprintf(format, args...)}
	}
	return err
}

// fail shows err as a page: a problem as it says; the services' domain
// errors with their messages, which are written for the person who made
// the request; anything else as a fault, logged.
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, rq *request, err error) {
	var p *problem
	switch {
	case errors.As(err, &p):
	case errors.Is(err, graph.ErrNotFound) || errors.Is(err, controlplane.ErrNotFound):
		p = &problem{status: http.StatusNotFound, title: "Not found", message: "What this page shows does not exist in " + tenantName(rq.Tenant) + ", or no longer does."}
	case errors.Is(err, graph.ErrForbidden) || errors.Is(err, controlplane.ErrForbidden):
		p = &problem{status: http.StatusForbidden, title: "Not allowed", message: "Your account is not allowed to do this."}
	case errors.Is(err, graph.ErrConflict) || errors.Is(err, controlplane.ErrConflict):
		p = &problem{status: http.StatusConflict, title: "Cannot do this", message: serviceMessage(err)}
	case errors.Is(err, graph.ErrBadRequest) || errors.Is(err, controlplane.ErrBadRequest):
		p = &problem{status: http.StatusBadRequest, title: "Cannot do this", message: serviceMessage(err)}
	case errors.Is(err, store.ErrInsufficientStorage):
		p = &problem{status: http.StatusInsufficientStorage, title: "Cannot save now",
			message: "berth cannot save this now: its disk is full. Try again once space is freed."}
	case errors.Is(err, store.ErrUnavailable):
		h.Log.Warn("portal page: metadata store unavailable", "path", r.URL.Path, "err", err)
		w.Header().Set("Retry-After", "1")
		p = &problem{status: http.StatusServiceUnavailable, title: "Unavailable for now", message: "berth cannot answer for a moment. Try again shortly."}
	default:
		h.Log.Error("portal page failed", "path", r.URL.Path, "err", err)
		p = &problem{status: http.StatusInternalServerError, title: "Something went wrong", message: "berth could not complete the request. Try again later."}
	}
	h.render(w, p.status, "problem", rq, view{Title: p.title, Data: p.message})
}

// serviceMessage is a service error's message without the resource
// manager's code before it.
func serviceMessage(err error) string {
	var ce *controlplane.Error
	if errors.As(err, &ce) {
		return ce.Message
	}
	return err.Error()
}

// view is every page's data: the layout's fields, and the page's own in
// Data.
type view struct {
	Title  string
	Style  template.CSS
	Person web.Person
	// Section is the navigation entry the page belongs to.
	Section string
	Crumbs  []crumb
	Errors  []web.FieldError
	Data    any
}

type crumb struct{ Name, Href string }

func (h *Handler) render(w http.ResponseWriter, status int, name string, rq *request, v view) {
	v.Style, v.Person = h.style.CSS, rq.Person
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	if err := h.pages[name].ExecuteTemplate(w, "layout", v); err != nil {
		h.Log.Error("rendering a portal page", "page", name, "err", err)
	}
}

func tenantName(t store.Tenant) string {
	if t.DisplayName != "" {
		return t.DisplayName
	}
	return t.Domain
}

var funcs = template.FuncMap{
	"date": func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.UTC().Format("2 Jan 2006")
	},
	"datetime":   func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
	"tenantName": tenantName,
	"lower":      strings.ToLower,
	"size":       humanSize,
	"short": func(d fmt.Stringer) string {
		s := d.String()
		if _, hex, ok := strings.Cut(s, ":"); ok && len(hex) > 12 {
			return hex[:12]
		}
		return s
	},
	"audience": audienceName,
	"platform": platformName,
}

// audienceName says who may use an application, as the registration form
// words it.
func audienceName(a string) string {
	if a == graph.AudienceMultipleOrgs {
		return "Accounts in any organizational directory (multitenant)"
	}
	return "Accounts in this organizational directory only (single tenant)"
}

// pageSize is how many rows a list shows at a time.
const pageSize = 20

// pager is one page of a long list.
type pager struct {
	Number, Count, Total int
	Prev, Next           string
}

// paginate cuts the page the request's ?page= names out of n rows, and
// links its neighbours (base is the list's URL with its other parameters).
func paginate(r *http.Request, n int, base string) (from, to int, p pager) {
	p.Total, p.Count = n, max(1, (n+pageSize-1)/pageSize)
	p.Number, _ = strconv.Atoi(r.URL.Query().Get("page"))
	p.Number = min(max(p.Number, 1), p.Count)
	sep := "?"
	if strings.Contains(base, "?") {
		sep = "&"
	}
	if p.Number > 1 {
		p.Prev = base + sep + "page=" + strconv.Itoa(p.Number-1)
	}
	if p.Number < p.Count {
		p.Next = base + sep + "page=" + strconv.Itoa(p.Number+1)
	}
	from = (p.Number - 1) * pageSize
	return from, min(from+pageSize, n), p
}

// humanSize is a size in bytes as people read it.
func humanSize(n int64) string {
	const unit = 1024
	if n < unit {
		return strconv.FormatInt(n, 10) + " B"
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
