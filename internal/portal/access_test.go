package portal

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/berthhq/berth/internal/authz"
	"github.com/berthhq/berth/internal/controlplane"
	"github.com/berthhq/berth/internal/ids"
	"github.com/berthhq/berth/internal/store"
)

// TestCheckAccess: on a registry's access control, the Owner of its
// subscription finds principals by name and sees, for each, the role
// assignments that apply there and what they allow; a user who may not
// read the registry's role assignments may not check them either.
func TestCheckAccess(t *testing.T) {
	f := newFixture(t)
	must(t, f.meta.CreateRoleAssignment(t.Context(), store.RoleAssignment{ID: ids.New(), Scope: f.registry.String(), RoleDefinitionID: authz.AcrPull,
		PrincipalID: f.sp.ObjectID, PrincipalType: controlplane.PrincipalTypeServicePrincipal, TenantID: f.tenant.ID}))
	iam := "/portal/iam?scope=" + url.QueryEscape(f.registry.String())
	b := f.browser()
	b.signIn("admin@contoso.example")
	search := b.get(iam + "&check=PULL")
	wantPage(t, search, http.StatusOK, `principal=`+f.sp.ObjectID+`#check">puller</a>`)
	if strings.Contains(search.body, `principal=u-admin`) {
		t.Fatalf("the search for pull finds the administrator:\n%s", search.body)
	}
	wantPage(t, b.get(iam+"&check=nobody-at-all"), http.StatusOK, "Nobody in Contoso matches “nobody-at-all”")
	allowed := regexp.MustCompile(`<td data-label="Permission">([^<]+)</td><td data-label="Action"><code>[^<]+</code></td><td data-label="Allowed"><span class="tag allowed">`)
	permitted := func(p page) string {
		var out []string
		for _, m := range allowed.FindAllStringSubmatch(p.body, -1) {
			out = append(out, m[1])
		}
		return strings.Join(out, ", ")
	}
	sp := b.get(iam + "&principal=" + f.sp.ObjectID)
	wantPage(t, sp, http.StatusOK, `<td data-label="Role">AcrPull</td><td data-label="Scope">This container registry</td>`)
	if got := permitted(sp); got != "Pull images" {
		t.Fatalf("AcrPull at the registry allows %q", got)
	}
	admin := b.get(iam + "&principal=u-admin")
	wantPage(t, admin, http.StatusOK, `<td data-label="Role">Owner</td>`, "(inherited)")
	if got := permitted(admin); got != "Read, Change, Delete, See role assignments, Add and remove role assignments, Pull images, Push images, Delete images, Sign images" {
		t.Fatalf("Owner of the subscription allows %q at the registry", got)
	}
	none := b.get(iam + "&principal=u-plain")
	wantPage(t, none, http.StatusOK, "No role assignment gives them access here.")
	if got := permitted(none); got != "" {
		t.Fatalf("no role assignment allows %q", got)
	}
	wantPage(t, b.get(iam+"&principal=nobody"), http.StatusNotFound, "No user, application or managed identity")

	u := f.browser()
	u.signIn("user@contoso.example")
	wantPage(t, u.get(iam+"&principal=u-admin"), http.StatusForbidden, "reading role assignments")
}
