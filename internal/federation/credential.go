package federation

import (
	"net/url"
	"regexp"
	"strings"

	"github.com/berthhq/berth/internal/store"
)

// The rules of federated identity credentials, the same for an
// application's (the directory API) and a managed identity's (the
// management API), as the cloud has them.
const (
	// MaxCredentials is how many one application or identity may have.
	MaxCredentials = 20
	// DefaultAudience is the audience workload identity tokens carry,
	// taken when a credential names none.
	DefaultAudience = "api://AzureADTokenExchange"
	// maxField bounds issuer, subject, each audience and description.
	maxField = 600
)

var credentialName = regexp.MustCompile(`^[A-Za-z0-9_-]{3,120}$`)

// InvalidCredential is a federated credential that breaks a rule; its text
// says which, in words fit for the caller.
type InvalidCredential string

func (e InvalidCredential) Error() string { return string(e) }

// CheckCredential reports the first rule f breaks, as an
// InvalidCredential, or nil.
func CheckCredential(f store.FederatedCredential) error {
	if !credentialName.MatchString(f.Name) {
		return InvalidCredential("Property name must be 3 to 120 characters of letters, digits, '-' and '_'.")
	}
	u, err := url.Parse(f.Issuer)
	if err != nil || u.Scheme != "https" || u.Host == "" || len(f.Issuer) > maxField {
		return InvalidCredential("Property issuer must be an https URL.")
	}
	if strings.TrimSpace(f.Subject) == "" || len(f.Subject) > maxField {
		return InvalidCredential("Property subject is required and at most 600 characters.")
	}
	if len(f.Audiences) == 0 {
		return InvalidCredential("Property audiences must name at least one audience.")
	}
	for _, a := range f.Audiences {
		if strings.TrimSpace(a) == "" || len(a) > maxField {
			return InvalidCredential("Each audience must be non-empty and at most 600 characters.")
		}
	}
	if len(f.Description) > maxField {
		return InvalidCredential("Property description is at most 600 characters.")
	}
	return nil
}

// OwnIssuerTenant reads the tenant id of an issuer of berth's own form,
// <scheme://host>/<tenant id>/v2.0: the issuer of the tokens a tenant's
// managed identities get for the token exchange audience. The host is not
// read: berth may be reached under several names, and only tokens berth
// signed verify against such an issuer anyway.
func OwnIssuerTenant(iss string) (string, bool) {
	u, err := url.Parse(iss)
	if err != nil || u.Scheme != "https" || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return "", false
	}
	tenant, ok := strings.CutSuffix(strings.TrimPrefix(u.Path, "/"), "/v2.0")
	if !ok || tenant == "" || strings.Contains(tenant, "/") {
		return "", false
	}
	return tenant, true
}
