package portal

import (
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/berthhq/berth/internal/graph"
	"github.com/berthhq/berth/internal/secret"
	"github.com/berthhq/berth/internal/store"
	"github.com/berthhq/berth/internal/web"
)

// What the refusals of changes to users say would allow them.
const (
	userWriters = "the Global Administrator or User Administrator directory role (a user with an administrator role: Global Administrator)"
	roleGivers  = "the Global Administrator directory role"
)

func usersCrumbs() []crumb { return []crumb{{"Home", Prefix + "/"}, {"Users", Prefix + "/users"}} }

func (h *Handler) users(w http.ResponseWriter, r *http.Request, rq *request) error {
	all, err := h.Directory.ListUsers(r.Context(), rq.dir, "")
	if err != nil {
		return err
	}
	search := strings.TrimSpace(r.URL.Query().Get("search"))
	if search != "" {
		all = slices.DeleteFunc(all, func(u store.User) bool { return !matches(search, u.DisplayName, u.UserPrincipalName) })
	}
	slices.SortFunc(all, func(a, b store.User) int {
		return strings.Compare(strings.ToLower(a.DisplayName), strings.ToLower(b.DisplayName))
	})
	base := Prefix + "/users"
	if search != "" {
		base += "?search=" + url.QueryEscape(search)
	}
	from, to, p := paginate(r, len(all), base)
	h.render(w, http.StatusOK, "users", rq, view{Title: "Users", Section: "users", Crumbs: []crumb{{"Home", Prefix + "/"}},
		Data: struct {
			Users  []store.User
			Search string
			Page   pager
		}{all[from:to], search, p}})
	return nil
}

// matches reports whether search is in any of names, ignoring case.
func matches(search string, names ...string) bool {
	for _, n := range names {
		if strings.Contains(strings.ToLower(n), strings.ToLower(search)) {
			return true
		}
	}
	return false
}

// userForm is the New user form's fields.
type userForm struct {
	Name, Username, Domain string
}

func (h *Handler) newUser(w http.ResponseWriter, r *http.Request, rq *request) error {
	h.render(w, http.StatusOK, "usernew", rq, view{Title: "New user", Section: "users", Crumbs: usersCrumbs(), Data: userForm{Domain: rq.Tenant.Domain}})
	return nil
}

// createUser makes a user with a random password, shown once on the
// answer, that they must change when they first sign in.
func (h *Handler) createUser(w http.ResponseWriter, r *http.Request, rq *request) error {
	f := userForm{Name: strings.TrimSpace(r.PostForm.Get("name")), Username: strings.TrimSpace(r.PostForm.Get("username")), Domain: rq.Tenant.Domain}
	var errs []web.FieldError
	if f.Name == "" {
		errs = append(errs, web.FieldError{Field: "name", Message: "Enter the user's name"})
	}
	if f.Username == "" || strings.Contains(f.Username, "@") {
		errs = append(errs, web.FieldError{Field: "username", Message: "Enter a user name, without @ and domain"})
	}
	if errs == nil {
		pw := secret.Generate()
		u, err := h.Directory.CreateUser(r.Context(), rq.dir, graph.NewUser{AccountEnabled: true, DisplayName: f.Name,
			UserPrincipalName: f.Username + "@" + f.Domain, Password: pw, ForceChangePassword: true})
		switch {
		case err == nil:
			return h.showUser(w, r, rq, u.ObjectID, "created", pw)
		case errors.Is(err, graph.ErrBadRequest), errors.Is(err, graph.ErrConflict):
			errs = append(errs, web.FieldError{Field: "username", Message: serviceMessage(err)})
		default:
			return refused(err, "Creating users needs %s; your account has neither.", userWriters)
		}
	}
	h.render(w, http.StatusBadRequest, "usernew", rq, view{Title: "New user", Section: "users", Crumbs: usersCrumbs(), Errors: errs, Data: f})
	return nil
}

// userView is a user's page's data.
type userView struct {
	User  store.User
	Base  string
	Roles []userRole
	// Password is a new password, shown on the answer to the form that
	// set it only; Done says which form that was.
	Password, Done string
	// Confirm asks before deleting the user.
	Confirm bool
	// Mark stands for the user's password as the page shows it: Reset
	// password acts only while it is the same (web.Handler.Mark).
	Mark string
}

// passwordMark is the mark of a user's current password.
func (h *Handler) passwordMark(u store.User) string {
	return h.Pages.Mark("password", u.ObjectID, u.PasswordHash)
}

type userRole struct {
	Name, TemplateID string
	Held             bool
}

func (h *Handler) user(w http.ResponseWriter, r *http.Request, rq *request) error {
	return h.showUser(w, r, rq, r.PathValue("id"), "", "")
}

func (h *Handler) showUser(w http.ResponseWriter, r *http.Request, rq *request, id, done, password string) error {
	ctx := r.Context()
	u, err := h.Directory.GetUser(ctx, rq.dir, id)
	if err != nil {
		return err
	}
	held, err := h.Directory.DirectoryRoles(ctx, rq.dir, u.ObjectID)
	if err != nil {
		return err
	}
	v := userView{User: u, Base: Prefix + "/users/" + url.PathEscape(u.ObjectID), Password: password, Done: done,
		Confirm: r.Method == http.MethodGet && r.URL.Query().Has("delete"), Mark: h.passwordMark(u)}
	for _, role := range graph.RoleNames {
		v.Roles = append(v.Roles, userRole{Name: role.Name, TemplateID: role.TemplateID, Held: slices.Contains(held, role.TemplateID)})
	}
	h.render(w, http.StatusOK, "user", rq, view{Title: u.DisplayName, Section: "users", Crumbs: usersCrumbs(), Data: v})
	return nil
}

// changeUser resets a user's password, disables or enables them, gives
// and takes directory roles, and deletes them, through the directory's
// service with its rules.
func (h *Handler) changeUser(w http.ResponseWriter, r *http.Request, rq *request) error {
	ctx := r.Context()
	id := r.PathValue("id")
	u, err := h.Directory.GetUser(ctx, rq.dir, id)
	if err != nil {
		return err
	}
	back := Prefix + "/users/" + url.PathEscape(u.ObjectID)
	who := "user " + u.UserPrincipalName
	switch f := r.PostForm; f.Get("action") {
	case "reset":
		if !web.SameMark(f.Get("mark"), h.passwordMark(u)) {
			// The form is older than the password: most likely the
			// answer to a reset, reloaded. Another reset would
			// replace the password just shown.
			return &problem{status: http.StatusConflict, title: "Password already changed",
				message: "The password of " + u.UserPrincipalName + " changed after this form was shown (was the page that showed a new password reloaded?), so it was not reset again. Open the user's page to reset it once more."}
		}
		pw, yes := secret.Generate(), true
		if err := h.Directory.UpdateUser(ctx, rq.dir, u.ObjectID, graph.UserPatch{Password: &pw, ForceChangePassword: &yes}); err != nil {
			return refused(err, "Resetting the password of %s needs %s.", who, userWriters)
		}
		return h.showUser(w, r, rq, u.ObjectID, "reset", pw)
	case "enable", "disable":
		on := f.Get("action") == "enable"
		if err := h.Directory.UpdateUser(ctx, rq.dir, u.ObjectID, graph.UserPatch{AccountEnabled: &on}); err != nil {
			return refused(err, "Enabling or disabling %s needs %s.", who, userWriters)
		}
	case "add-role", "remove-role":
		role := f.Get("role")
		if f.Get("action") == "add-role" {
			err = h.Directory.AddRoleMember(ctx, rq.dir, role, u.ObjectID)
		} else {
			err = h.Directory.RemoveRoleMember(ctx, rq.dir, role, u.ObjectID)
		}
		if err != nil {
			return refused(err, "Giving and taking directory roles needs %s.", roleGivers)
		}
	case "delete":
		if err := h.Directory.DeleteUser(ctx, rq.dir, u.ObjectID); err != nil {
			return refused(err, "Deleting %s needs %s.", who, userWriters)
		}
		back = Prefix + "/users"
	default:
		return &problem{status: http.StatusBadRequest, title: "Bad form", message: "The form asks for no known change."}
	}
	http.Redirect(w, r, back, http.StatusSeeOther)
	return nil
}
