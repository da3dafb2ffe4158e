package web

import (
	"errors"
	"fmt"
	"mime"
	"net/http"
	"strings"
	"time"

	"github.com/berthhq/berth/internal/audit"
	"github.com/berthhq/berth/internal/password"

	"github.com/berthhq/berth/internal/store"
)

// Person is a signed-in user, as a page that needs one sees them.
type Person struct {
	Tenant store.Tenant
	User   store.User
	// CSRF is the token every form of the page carries.
	CSRF string
}

// Require stands before every page that needs a signed-in user (the
// portal's). It answers what comes before such a page itself, in the
// sign-in pages' look and with their headers: the sign-in form (for users
// of any tenant, found by the domain of the name they sign in with), the
// new password a user must choose first, a POST without the session's
// CSRF token, and their failures. ok means the request is a signed-in
// user's and, if it is a POST, carries their token, with r.PostForm
// parsed: the caller serves its page. Otherwise the answer is written.
// The sign-in returns to the page's own URL. r should carry its audit
// source (audit.Attach), as refused sign-ins are recorded.
func (h *Handler) Require(w http.ResponseWriter, r *http.Request) (p Person, ok bool) {
	p, ok, err := h.require(w, r)
	if err != nil {
		h.style.SetHeaders(w.Header())
		h.fail(w, r, err)
	}
	return p, ok && err == nil
}

// maxForm is the most a form sent to a signed-in page may carry.
const maxForm = 64 << 10

func (h *Handler) require(w http.ResponseWriter, r *http.Request) (Person, bool, error) {
	ctx, now := r.Context(), h.now()
	f := target{action: r.URL.RequestURI()}
	s, hasSession := h.readSession(r, now)
	if r.Method == http.MethodPost {
		r.Body = http.MaxBytesReader(w, r.Body, maxForm)
		if err := parseForm(r); err != nil {
			return Person{}, false, failure(http.StatusBadRequest, "Bad form", "The form could not be read.")
		}
		if !hasSession || !h.checkCSRF(s, r.PostForm.Get("csrf_token")) {
			h.log.Warn("refused a form without a valid CSRF token", "path", r.URL.Path, "session", hasSession)
			return Person{}, false, failure(http.StatusForbidden, "The form could not be verified",
				"The form was not sent from your current session, or the session expired. Open the page again and sign in.")
		}
		switch r.PostForm.Get("step") {
		case "signin":
			h.style.SetHeaders(w.Header())
			return Person{}, false, h.signIn(w, r, f, s, now)
		case "newpassword":
			h.style.SetHeaders(w.Header())
			return Person{}, false, h.newPassword(w, r, f, s, now)
		}
	}
	if hasSession && s.User != "" {
		t, u, ok, err := h.sessionUser(ctx, s)
		switch {
		case err != nil:
			return Person{}, false, err
		case ok && s.Change && r.Method == http.MethodPost:
			http.Redirect(w, r, f.action, http.StatusSeeOther)
			return Person{}, false, nil
		case ok && s.Change:
			h.style.SetHeaders(w.Header())
			return Person{}, false, h.showNewPassword(w, http.StatusOK, f, s, t, u, nil)
		case ok:
			s = h.renew(w, s, now)
			return Person{Tenant: t, User: u, CSRF: h.csrfToken(s)}, true, nil
		}
	}
	if r.Method == http.MethodPost {
		// The session ended since the page was shown: the sign-in is
		// at the page's address.
		http.Redirect(w, r, f.action, http.StatusSeeOther)
		return Person{}, false, nil
	}
	if !hasSession {
		s = h.writeSession(w, "", store.User{}, now)
	}
	h.style.SetHeaders(w.Header())
	return Person{}, false, h.showSignIn(w, http.StatusOK, f, s, "", nil)
}

// SignOut ends the request's session: its cookie is replaced by an
// anonymous session's, so that the next form still has a token.
func (h *Handler) SignOut(w http.ResponseWriter, p Person) {
	h.writeSession(w, "", store.User{}, h.now())
	h.log.Info("signed out", "tenant", p.Tenant.ID, "user", p.User.ObjectID)
}

// renew extends a signed-in session that is past half its lifetime, so
// that a person at work in the portal is not signed out every quarter of
// an hour; the id, and so the CSRF token, stay.
func (h *Handler) renew(w http.ResponseWriter, s session, now time.Time) session {
	if time.Unix(s.Expires, 0).Sub(now) > sessionLifetime/2 {
		return s
	}
	s.Expires = now.Add(sessionLifetime).Unix()
	h.setCookie(w, s)
	return s
}

// ChangePassword changes the signed-in user's password from a form that
// Require let through, with fields current_password, new_password and
// confirm_password. The current password is checked, and wrong ones
// throttled, as at sign-in; the new one must meet the password policy,
// be typed twice and differ from the current one. Problems with the form
// come back as errs, and change nothing. On success the user's other
// sessions end (theirs are marked with the old password's hash), this one
// goes on under a new id, and the change is an audit event.
func (h *Handler) ChangePassword(w http.ResponseWriter, r *http.Request, p Person) (errs []FieldError, err error) {
	ctx, now := r.Context(), h.now()
	current, pw := r.PostForm.Get("current_password"), r.PostForm.Get("new_password")
	who := p.Tenant.ID + "/" + strings.ToLower(p.User.UserPrincipalName)
	if wait := h.throttle.Wait(who, now); wait > 0 {
		return []FieldError{{"current_password", fmt.Sprintf("Too many wrong passwords for this account. Try again in %d seconds", int((wait+time.Second-1)/time.Second))}}, nil
	}
	ok, err := h.verify(ctx, current, p.User.PasswordHash)
	if err != nil {
		return nil, err
	}
	if !ok {
		h.throttle.Failed(who, now)
		h.audit.Record(ctx, store.Event{TenantID: p.Tenant.ID, CallerID: p.User.ObjectID, CallerKind: audit.User, Operation: opChangePassword,
			Target: p.User.ObjectID, Status: audit.Failed, Description: "password not changed: the current password was incorrect"})
		return []FieldError{{"current_password", "The current password is incorrect"}}, nil
	}
	h.throttle.Succeeded(who)
	if pw != r.PostForm.Get("confirm_password") {
		return []FieldError{{"confirm_password", "Enter the same new password twice"}}, nil
	}
	if pw == current {
		return []FieldError{{"new_password", "Choose a password other than your current one"}}, nil
	}
	hash, err := h.hash(ctx, pw)
	if errors.Is(err, password.ErrTooShort) {
		return []FieldError{{"new_password", fmt.Sprintf("Enter a password of at least %d characters", password.MinLength)}}, nil
	}
	if err != nil {
		return nil, err
	}
	if err := h.dir.UpdateUser(ctx, p.User.ObjectID, store.UserUpdate{PasswordHash: &hash}); err != nil {
		return nil, err
	}
	u := p.User
	u.PasswordHash = hash
	h.writeSession(w, p.Tenant.ID, u, now)
	h.audit.Record(ctx, store.Event{TenantID: p.Tenant.ID, CallerID: u.ObjectID, CallerKind: audit.User, Operation: opChangePassword,
		Target: u.ObjectID, Status: audit.Succeeded, Description: "a new password chosen by the user"})
	return nil, nil
}

// parseForm reads a POST's form, a multipart one (a file upload) too:
// its fields then are in PostForm like any form's, and its files, within
// the body's limit, in memory.
func parseForm(r *http.Request) error {
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt == "multipart/form-data" {
		return r.ParseMultipartForm(maxForm)
	}
	return r.ParseForm()
}
