package portal

import (
	"net/http"

	"github.com/berthhq/berth/internal/password"
	"github.com/berthhq/berth/internal/web"
)

// accountView is the account page's data.
type accountView struct {
	MinLength int
	Changed   bool
}

func (h *Handler) account(w http.ResponseWriter, r *http.Request, rq *request) error {
	h.showAccount(w, http.StatusOK, rq, r.URL.Query().Has("changed"), nil)
	return nil
}

func (h *Handler) showAccount(w http.ResponseWriter, status int, rq *request, changed bool, errs []web.FieldError) {
	h.render(w, status, "account", rq, view{Title: "Your account", Section: "account", Errors: errs,
		Crumbs: []crumb{{"Home", Prefix + "/"}}, Data: accountView{MinLength: password.MinLength, Changed: changed}})
}

// changePassword takes the signed-in user's new password. The session
// goes on under a new id, so the page is reached again by a redirect,
// whose forms carry the new session's token.
func (h *Handler) changePassword(w http.ResponseWriter, r *http.Request, rq *request) error {
	errs, err := h.Pages.ChangePassword(w, r, rq.Person)
	if err != nil {
		return err
	}
	if errs != nil {
		h.showAccount(w, http.StatusBadRequest, rq, false, errs)
		return nil
	}
	http.Redirect(w, r, Prefix+"/account?changed", http.StatusSeeOther)
	return nil
}
