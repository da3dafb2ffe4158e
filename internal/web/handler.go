package web

import (
	"context"
	"crypto/hmac"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/berthhq/berth/internal/audit"
	"github.com/berthhq/berth/internal/graph"
	"github.com/berthhq/berth/internal/password"
	"github.com/berthhq/berth/internal/redirecturi"
	"github.com/berthhq/berth/internal/store"
	"github.com/berthhq/berth/internal/throttle"
)

//go:embed templates
var templateFS embed.FS

// Templates are the pages' templates; other surfaces' pages parse
// templates/base.html from them for its partials ("errors", the error
// summary), so that a form's errors read alike everywhere.
var Templates fs.FS = templateFS

// Store is what the pages read and write.
type Store interface {
	store.Directory
	store.Settings
}

// Handler serves the sign-in and consent pages.
type Handler struct {
	dir     store.Directory
	consent *graph.Service
	// audit records refused sign-ins; consent is recorded by the
	// directory service, as it is for the API.
	audit audit.Recorder
	log   *slog.Logger
	key   []byte
	pages map[string]*template.Template
	style Style
	// throttle slows down password guessing per user. Attempts made while
	// a user's wait lasts are refused without checking the password, so
	// that a guesser cannot make the server spend argon2's memory and time
	// either.
	throttle *throttle.Failures
	// hashing bounds concurrent argon2id checks, each 64 MiB, so that a
	// burst of sign-ins cannot exhaust memory.
	hashing chan struct{}
	now     func() time.Time
}

const maxConcurrentHashes = 4

// New loads (or, the first time, makes) the session key and parses the
// templates. rec is the audit trail.
func New(ctx context.Context, st Store, rec audit.Recorder, log *slog.Logger) (*Handler, error) {
	key, err := loadKey(ctx, st)
	if err != nil {
		return nil, fmt.Errorf("web session key: %w", err)
	}
	style, err := NewStyle(nil)
	if err != nil {
		return nil, err
	}
	h := &Handler{
		dir: st, consent: &graph.Service{Directory: st, Audit: rec}, audit: rec, log: log, key: key,
		pages:    map[string]*template.Template{},
		style:    style,
		hashing:  make(chan struct{}, maxConcurrentHashes),
		throttle: &throttle.Failures{Free: 5, Window: 15 * time.Minute, First: time.Second, Max: 5 * time.Minute},
		now:      time.Now,
	}
	for _, name := range []string{"signin", "newpassword", "consent", "error"} {
		t, err := template.ParseFS(templateFS, "templates/base.html", "templates/"+name+".html")
		if err != nil {
			return nil, err
		}
		h.pages[name] = t
	}
	return h, nil
}

// Match reports whether path is one of the pages' (under any tenant).
func Match(path string) bool {
	_, rest, ok := splitTenant(path)
	return ok && formOf(rest) != ""
}

const (
	formAuthorize    = "authorize"
	formAdminConsent = "adminconsent"
)

func formOf(rest string) string {
	switch rest {
	case "oauth2/authorize", "oauth2/v2.0/authorize":
		return formAuthorize
	case "adminconsent", "v2.0/adminconsent":
		return formAdminConsent
	}
	return ""
}

func splitTenant(path string) (tenant, rest string, ok bool) {
	p, found := strings.CutPrefix(path, "/")
	if !found {
		return "", "", false
	}
	tenant, rest, ok = strings.Cut(p, "/")
	return tenant, rest, ok && tenant != ""
}

// pageError is a failure shown to the person as a page.
type pageError struct {
	status         int
	title, message string
}

func (e *pageError) Error() string { return e.title + ": " + e.message }

func failure(status int, title, format string, args ...any) error {
	return &pageError{status: status, title: title, message: fmt.Sprintf(format, args...)}
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.style.SetHeaders(w.Header())
	r = audit.Attach(w, r)
	var err error
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodPost:
		err = h.serve(w, r)
	default:
		w.Header().Set("Allow", "GET, HEAD, POST")
		err = failure(http.StatusMethodNotAllowed, "Method not allowed", "This page answers GET and POST only.")
	}
	if err != nil {
		h.fail(w, r, err)
	}
}

// fail answers err as an error page.
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	var pe *pageError
	switch {
	case errors.As(err, &pe):
	case errors.Is(err, store.ErrInsufficientStorage):
		pe = &pageError{status: http.StatusInsufficientStorage, title: "Cannot save now",
			message: "berth cannot save this now: its disk is full. Try again once space is freed."}
	case errors.Is(err, store.ErrUnavailable):
		h.log.Warn("sign-in or consent page: metadata store unavailable", "path", r.URL.Path, "err", err)
		w.Header().Set("Retry-After", "1")
		pe = &pageError{status: http.StatusServiceUnavailable, title: "Unavailable for now",
			message: "berth cannot answer for a moment. Try again shortly."}
	default:
		h.log.Error("sign-in or consent page failed", "path", r.URL.Path, "err", err)
		pe = &pageError{status: http.StatusInternalServerError, title: "Something went wrong", message: "berth could not complete the request. Try again later."}
	}
	h.render(w, pe.status, "error", page{Title: pe.title, Message: pe.message})
}

// target is what a sign-in is for: a consent request, or a portal page.
type target struct {
	// tenant is zero where it is the tenant of whoever signs in (common,
	// organizations, the portal).
	tenant store.Tenant
	// action is where the page's forms post and where a sign-in returns:
	// the page's own URL, so that every POST carries, and is checked
	// against, the same request.
	action string
	// reviewing names the application whose request the person signs in
	// to review; empty for the portal.
	reviewing string
}

// flow is a consent request, checked.
type flow struct {
	target
	form     string
	app      store.Application
	home     store.Tenant
	redirect string
	query    url.Values
}

// check validates what the request names, before anything is shown.
func (h *Handler) check(ctx context.Context, r *http.Request) (*flow, error) {
	ref, rest, _ := splitTenant(r.URL.Path)
	f := &flow{form: formOf(rest), query: r.URL.Query(), target: target{action: r.URL.RequestURI()}}
	switch strings.ToLower(ref) {
	case "common", "organizations":
	default:
		t, err := h.resolveTenant(ctx, ref)
		if errors.Is(err, store.ErrNotFound) {
			return nil, failure(http.StatusNotFound, "Tenant not found", "No tenant has the id or domain name %q. Check the address you were given.", ref)
		}
		if err != nil {
			return nil, err
		}
		f.tenant = t
	}
	clientID := f.query.Get("client_id")
	if clientID == "" {
		return nil, failure(http.StatusBadRequest, "Application not named", "The address has no client_id, so there is no application to consent to.")
	}
	app, err := h.dir.GetApplicationByAppID(ctx, clientID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, failure(http.StatusBadRequest, "Application not found", "No application has the client id %q.", clientID)
	}
	if err != nil {
		return nil, err
	}
	f.app, f.reviewing = app, app.DisplayName
	if f.home, err = h.dir.GetTenant(ctx, app.TenantID); err != nil {
		return nil, err
	}
	requested := f.query.Get("redirect_uri")
	switch {
	case requested == "" && len(app.WebRedirectURIs) > 0:
		// As in the cloud, the application's first reply address
		// stands in for one not given.
		requested = app.WebRedirectURIs[0]
	case requested == "":
		return nil, failure(http.StatusBadRequest, "No redirect URI", "Application %s has no redirect URI registered, so there is nowhere to return to.", app.DisplayName)
	}
	var ok bool
	if f.redirect, ok = redirecturi.Match(app.WebRedirectURIs, requested); !ok {
		return nil, failure(http.StatusBadRequest, "Redirect URI not registered",
			"The redirect URI %q is not registered on application %s. Its owner must add it before this link can be used.", requested, app.DisplayName)
	}
	if f.tenant.ID != "" {
		if err := checkAudience(f, f.tenant); err != nil {
			return nil, err
		}
	}
	return f, nil
}

func (h *Handler) resolveTenant(ctx context.Context, ref string) (store.Tenant, error) {
	t, err := h.dir.GetTenant(ctx, strings.ToLower(ref))
	if errors.Is(err, store.ErrNotFound) {
		t, err = h.dir.GetTenantByDomain(ctx, ref)
	}
	return t, err
}

// checkAudience refuses a single-tenant application outside its home.
func checkAudience(f *flow, t store.Tenant) error {
	if f.app.TenantID == t.ID || f.app.SignInAudience == graph.AudienceMultipleOrgs {
		return nil
	}
	return failure(http.StatusBadRequest, "Application not available in this organization",
		"Application %s is registered for use in %s only, so it cannot be used in %s.", f.app.DisplayName, tenantName(f.home), tenantName(t))
}

func tenantName(t store.Tenant) string {
	if t.DisplayName != "" {
		return t.DisplayName
	}
	return t.Domain
}

func (h *Handler) serve(w http.ResponseWriter, r *http.Request) error {
	ctx, now := r.Context(), h.now()
	f, err := h.check(ctx, r)
	if err != nil {
		return err
	}
	if f.form == formAuthorize && f.query.Get("response_type") != "code" {
		// The redirect URI is a registered one, so OAuth's own error
		// answer is safe to send there.
		return h.redirect(w, r, f, url.Values{"error": {"unsupported_response_type"},
			"error_description": {"Only response_type=code is supported."}})
	}
	s, hasSession := h.readSession(r, now)
	if r.Method == http.MethodPost {
		r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
		if err := r.ParseForm(); err != nil {
			return failure(http.StatusBadRequest, "Bad form", "The form could not be read.")
		}
		if !hasSession || !h.checkCSRF(s, r.PostForm.Get("csrf_token")) {
			h.log.Warn("refused a form without a valid CSRF token", "path", r.URL.Path, "session", hasSession)
			return failure(http.StatusForbidden, "The form could not be verified",
				"The form was not sent from this sign-in, or it expired. Open the link you were given again.")
		}
		switch r.PostForm.Get("step") {
		case "signin":
			return h.signIn(w, r, f.target, s, now)
		case "newpassword":
			return h.newPassword(w, r, f.target, s, now)
		case "consent":
			return h.decide(w, r, f, s)
		}
		return failure(http.StatusBadRequest, "Bad form", "The form has no known step.")
	}
	if hasSession && s.User != "" && (f.tenant.ID == "" || f.tenant.ID == s.Tenant) {
		t, u, ok, err := h.sessionUser(ctx, s)
		switch {
		case err != nil:
			return err
		case ok && s.Change:
			return h.showNewPassword(w, http.StatusOK, f.target, s, t, u, nil)
		case ok:
			return h.showConsent(w, r, f, s, t, u)
		}
	}
	if !hasSession {
		s = h.writeSession(w, "", store.User{}, now)
	}
	return h.showSignIn(w, http.StatusOK, f.target, s, "", nil)
}

func (h *Handler) showSignIn(w http.ResponseWriter, status int, f target, s session, username string, errs []FieldError) error {
	p := page{
		Title: "Sign in", App: f.reviewing, Action: f.action, CSRF: h.csrfToken(s),
		Username: username, Errors: errs,
	}
	if f.tenant.ID != "" {
		p.Tenant, p.Domain = tenantName(f.tenant), f.tenant.Domain
	}
	for _, e := range errs {
		p.UsernameInvalid = p.UsernameInvalid || e.Field == "username"
		p.PasswordInvalid = p.PasswordInvalid || e.Field == "password"
	}
	h.render(w, status, "signin", p)
	return nil
}

// dummyHash is checked against when a user does not exist, so that a
// wrong user name takes as long as a wrong password and does not tell
// which users exist.
var dummyHash = sync.OnceValue(func() string {
	enc, _ := password.Hash(randomString())
	return enc
})

func (h *Handler) signIn(w http.ResponseWriter, r *http.Request, f target, s session, now time.Time) error {
	ctx := r.Context()
	username := strings.TrimSpace(r.PostForm.Get("username"))
	pw := r.PostForm.Get("password")
	var errs []FieldError
	if username == "" {
		errs = append(errs, FieldError{"username", "Enter your user principal name"})
	}
	if pw == "" {
		errs = append(errs, FieldError{"password", "Enter your password"})
	}
	if errs != nil {
		return h.showSignIn(w, http.StatusBadRequest, f, s, username, errs)
	}
	tenant := f.tenant
	if tenant.ID == "" {
		_, domain, _ := strings.Cut(username, "@")
		t, err := h.dir.GetTenantByDomain(ctx, domain)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
		tenant = t
	}
	var u store.User
	hash := dummyHash()
	if tenant.ID != "" {
		found, err := h.dir.GetUserByUPN(ctx, tenant.ID, username)
		switch {
		case err == nil:
			u, hash = found, found.PasswordHash
		case !errors.Is(err, store.ErrNotFound):
			return err
		}
	}
	who := tenant.ID + "/" + strings.ToLower(username)
	if wait := h.throttle.Wait(who, now); wait > 0 {
		h.refused(ctx, tenant.ID, u.ObjectID, "too many incorrect passwords, refused without checking")
		secs := int((wait + time.Second - 1) / time.Second)
		w.Header().Set("Retry-After", strconv.Itoa(secs))
		return h.showSignIn(w, http.StatusTooManyRequests, f, s, username, []FieldError{{"password",
			fmt.Sprintf("Too many wrong passwords for this account. Try again in %d seconds", secs)}})
	}
	ok, err := h.verify(ctx, pw, hash)
	if err != nil {
		return err
	}
	if !ok || u.ObjectID == "" {
		h.throttle.Failed(who, now)
		why := "incorrect password"
		if u.ObjectID == "" {
			why = "no such user"
		}
		h.refused(ctx, tenant.ID, u.ObjectID, why)
		return h.showSignIn(w, http.StatusUnauthorized, f, s, username, []FieldError{{"password",
			"The user principal name or password is incorrect"}})
	}
	if u.Disabled {
		// Said only after the right password, so that it tells a guesser
		// nothing; and counted as a failure, so that a disabled account
		// is no faster to guess at than any other.
		h.throttle.Failed(who, now)
		h.refused(ctx, tenant.ID, u.ObjectID, "account disabled")
		return failure(http.StatusForbidden, "Account disabled",
			"The account %s is disabled, so it cannot sign in. Ask an administrator of %s to enable it.", u.UserPrincipalName, tenantName(tenant))
	}
	h.throttle.Succeeded(who)
	// A new session id, so that one planted before sign-in is worth
	// nothing after it.
	h.writeSession(w, tenant.ID, u, now)
	h.log.Info("signed in", "tenant", tenant.ID, "user", u.ObjectID)
	http.Redirect(w, r, f.action, http.StatusSeeOther)
	return nil
}

// refused records a refused sign-in: in the tenant signed in to, by the
// user if the name is one (by object id: never the name typed, into which
// people type passwords by mistake).
func (h *Handler) refused(ctx context.Context, tenantID, userID, why string) {
	h.audit.Record(ctx, store.Event{TenantID: tenantID, CallerID: userID, CallerKind: audit.User, Operation: opSignIn,
		Target: userID, Status: audit.Failed, Description: "sign-in failed: " + why})
}

// Operations recorded here: a sign-in, and a password the user changed
// (named as the cloud's directory audit log names it).
const (
	opSignIn         = "Sign-in"
	opChangePassword = "Change user password"
)

func (h *Handler) verify(ctx context.Context, pw, hash string) (ok bool, err error) {
	err = h.argon2(ctx, func() error {
		ok, err = password.Verify(pw, hash)
		return err
	})
	return ok, err
}

func (h *Handler) hash(ctx context.Context, pw string) (hash string, err error) {
	err = h.argon2(ctx, func() error {
		hash, err = password.Hash(pw)
		return err
	})
	return hash, err
}

// argon2 runs fn, an argon2id hash or check, once fewer than
// maxConcurrentHashes others run.
func (h *Handler) argon2(ctx context.Context, fn func() error) error {
	select {
	case h.hashing <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-h.hashing }()
	return fn()
}

func (h *Handler) showNewPassword(w http.ResponseWriter, status int, f target, s session, t store.Tenant, u store.User, errs []FieldError) error {
	p := page{
		Title: "Choose a new password", App: f.reviewing, Action: f.action, CSRF: h.csrfToken(s),
		Tenant: tenantName(t), Username: u.UserPrincipalName, MinLength: password.MinLength, Errors: errs,
	}
	for _, e := range errs {
		p.PasswordInvalid = p.PasswordInvalid || e.Field == "new_password"
		p.ConfirmInvalid = p.ConfirmInvalid || e.Field == "confirm_password"
	}
	h.render(w, status, "newpassword", p)
	return nil
}

// newPassword takes the new password of a user who signed in with one
// they must change, and signs them in with it.
func (h *Handler) newPassword(w http.ResponseWriter, r *http.Request, f target, s session, now time.Time) error {
	ctx := r.Context()
	if !s.Change || (f.tenant.ID != "" && f.tenant.ID != s.Tenant) {
		http.Redirect(w, r, f.action, http.StatusSeeOther)
		return nil
	}
	t, u, ok, err := h.sessionUser(ctx, s)
	if err != nil {
		return err
	}
	if !ok {
		http.Redirect(w, r, f.action, http.StatusSeeOther)
		return nil
	}
	pw := r.PostForm.Get("new_password")
	if pw != r.PostForm.Get("confirm_password") {
		return h.showNewPassword(w, http.StatusBadRequest, f, s, t, u, []FieldError{{"confirm_password", "Enter the same new password twice"}})
	}
	hash, err := h.hash(ctx, pw)
	if errors.Is(err, password.ErrTooShort) {
		return h.showNewPassword(w, http.StatusBadRequest, f, s, t, u, []FieldError{{"new_password",
			fmt.Sprintf("Enter a password of at least %d characters", password.MinLength)}})
	}
	if err != nil {
		return err
	}
	same, err := h.verify(ctx, pw, u.PasswordHash)
	if err != nil {
		return err
	}
	if same {
		return h.showNewPassword(w, http.StatusBadRequest, f, s, t, u, []FieldError{{"new_password", "Choose a password other than your current one"}})
	}
	done := false
	err = h.dir.UpdateUser(ctx, u.ObjectID, store.UserUpdate{PasswordHash: &hash, ForceChangePassword: &done})
	if errors.Is(err, store.ErrNotFound) {
		http.Redirect(w, r, f.action, http.StatusSeeOther)
		return nil
	}
	if err != nil {
		return err
	}
	u.PasswordHash, u.ForceChangePassword = hash, false
	h.writeSession(w, t.ID, u, now)
	h.audit.Record(ctx, store.Event{TenantID: t.ID, CallerID: u.ObjectID, CallerKind: audit.User, Operation: opChangePassword,
		Target: u.ObjectID, Status: audit.Succeeded, Description: "a new password chosen at sign-in, as required"})
	http.Redirect(w, r, f.action, http.StatusSeeOther)
	return nil
}

// sessionUser is the signed-in user and their tenant; ok is false if the
// session no longer stands: the user was deleted or disabled, has a new
// password, had their sessions revoked, or must now change their password
// (or no longer must). The user is read from the store on every request
// (no cache), so that this takes effect at the session's next request, on
// every replica.
func (h *Handler) sessionUser(ctx context.Context, s session) (store.Tenant, store.User, bool, error) {
	u, err := h.dir.GetUser(ctx, s.User)
	if errors.Is(err, store.ErrNotFound) || (err == nil && (u.TenantID != s.Tenant || u.Disabled ||
		u.ForceChangePassword != s.Change || !hmac.Equal([]byte(s.Mark), []byte(h.userMark(u))))) {
		return store.Tenant{}, store.User{}, false, nil
	}
	if err != nil {
		return store.Tenant{}, store.User{}, false, err
	}
	t, err := h.dir.GetTenant(ctx, u.TenantID)
	return t, u, err == nil, err
}

// consenters are the directory roles that may consent for a tenant: the
// ones that may create its service principals through the directory API.
var consenters = []string{store.RoleGlobalAdministrator, store.RoleApplicationAdministrator}

func (h *Handler) isAdmin(ctx context.Context, t store.Tenant, u store.User) (bool, error) {
	for _, role := range consenters {
		ok, err := h.dir.HasDirectoryRole(ctx, t.ID, u.ObjectID, role)
		if err != nil || ok {
			return ok, err
		}
	}
	return false, nil
}

func needAdmin(f *flow, t store.Tenant) error {
	return failure(http.StatusForbidden, "You need an administrator",
		"Only an administrator of %s (Global Administrator or Application Administrator) can consent to %s for the organization. Ask one of them to open this link.",
		tenantName(t), f.app.DisplayName)
}

func (h *Handler) showConsent(w http.ResponseWriter, r *http.Request, f *flow, s session, t store.Tenant, u store.User) error {
	if err := checkAudience(f, t); err != nil {
		return err
	}
	admin, err := h.isAdmin(r.Context(), t, u)
	if err != nil {
		return err
	}
	if !admin {
		return needAdmin(f, t)
	}
	// Chrome applies form-action to where a form's answer redirects too,
	// so the registered redirect URI's origin must be allowed here.
	if origin := cspOrigin(f.redirect); origin != "" {
		w.Header().Set("Content-Security-Policy", h.style.CSP()+" "+origin)
	}
	h.render(w, http.StatusOK, "consent", page{
		Title: "Permissions requested", Action: f.action, CSRF: h.csrfToken(s),
		App: f.app.DisplayName, AppID: f.app.AppID, HomeTenant: tenantName(f.home), HomeDomain: f.home.Domain,
		Tenant: tenantName(t), Username: u.UserPrincipalName, Scope: f.query.Get("scope"),
	})
	return nil
}

var cspHost = regexp.MustCompile(`^[A-Za-z0-9.\-]+(:[0-9]+)?$|^\[[0-9A-Fa-f:.]+\](:[0-9]+)?$`)

// cspOrigin is the scheme and host of u as a CSP source, or "" if it
// cannot safely be one.
func cspOrigin(u string) string {
	p, err := url.Parse(u)
	if err != nil || (p.Scheme != "https" && p.Scheme != "http") || !cspHost.MatchString(p.Host) {
		return ""
	}
	return p.Scheme + "://" + p.Host
}

func (h *Handler) decide(w http.ResponseWriter, r *http.Request, f *flow, s session) error {
	ctx := r.Context()
	if !s.signedIn() || (f.tenant.ID != "" && f.tenant.ID != s.Tenant) {
		http.Redirect(w, r, f.action, http.StatusSeeOther)
		return nil
	}
	t, u, ok, err := h.sessionUser(ctx, s)
	if err != nil {
		return err
	}
	if !ok {
		http.Redirect(w, r, f.action, http.StatusSeeOther)
		return nil
	}
	if err := checkAudience(f, t); err != nil {
		return err
	}
	admin, err := h.isAdmin(ctx, t, u)
	if err != nil {
		return err
	}
	if !admin {
		return needAdmin(f, t)
	}
	switch {
	case r.PostForm.Get("decision") != "accept":
		h.log.Info("admin consent declined", "tenant", t.ID, "app", f.app.AppID, "user", u.ObjectID)
		return h.redirect(w, r, f, url.Values{"error": {"access_denied"},
			"error_description": {"AADSTS65004: The administrator declined to consent to access the app."}})
	case r.PostForm.Get("consent_org") != "true":
		return h.redirect(w, r, f, url.Values{"error": {"access_denied"},
			"error_description": {"AADSTS65004: Consent on behalf of the organization was not given."}})
	}
	_, err = h.consent.CreateServicePrincipal(ctx, graph.Caller{TenantID: t.ID, ObjectID: u.ObjectID, Kind: audit.User}, f.app.AppID)
	switch {
	case errors.Is(err, graph.ErrForbidden):
		return needAdmin(f, t)
	case err != nil && !errors.Is(err, graph.ErrConflict):
		return err
	}
	h.log.Info("admin consent granted", "tenant", t.ID, "app", f.app.AppID, "user", u.ObjectID, "existed", err != nil)
	if f.form == formAuthorize {
		return h.redirect(w, r, f, url.Values{"code": {randomString()}})
	}
	return h.redirect(w, r, f, url.Values{"admin_consent": {"True"}, "tenant": {t.ID}})
}

// redirect sends the browser to the flow's registered redirect URI with
// params added and state echoed as given.
func (h *Handler) redirect(w http.ResponseWriter, r *http.Request, f *flow, params url.Values) error {
	u, err := url.Parse(f.redirect)
	if err != nil {
		return failure(http.StatusBadRequest, "Bad redirect URI", "The registered redirect URI %q cannot be used.", f.redirect)
	}
	q := u.Query()
	for k, v := range params {
		q[k] = v
	}
	if f.query.Has("state") {
		q.Set("state", f.query.Get("state"))
	}
	u.RawQuery = q.Encode()
	http.Redirect(w, r, u.String(), http.StatusSeeOther)
	return nil
}

// FieldError is a problem with one field of a form, shown in the
// form's error summary (the "errors" template) with a link to the field.
type FieldError struct {
	Field   string
	Message string
}

// page is every template's data; each uses the fields it needs.
type page struct {
	Title, Message                            string
	Style                                     template.CSS
	Action, CSRF                              string
	Errors                                    []FieldError
	Tenant, Domain, Username                  string
	UsernameInvalid, PasswordInvalid          bool
	ConfirmInvalid                            bool
	MinLength                                 int
	App, AppID, HomeTenant, HomeDomain, Scope string
}

func (h *Handler) render(w http.ResponseWriter, status int, name string, p page) {
	p.Style = h.style.CSS
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	if err := h.pages[name].ExecuteTemplate(w, "base", p); err != nil {
		h.log.Error("rendering a page", "page", name, "err", err)
	}
}
