package graph

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/berthhq/berth/internal/audit"
	"github.com/berthhq/berth/internal/ids"
	"github.com/berthhq/berth/internal/redirecturi"
	"github.com/berthhq/berth/internal/secret"
	"github.com/berthhq/berth/internal/store"
)

// Sign-in audiences an application may have.
const (
	AudienceMyOrg         = "AzureADMyOrg"
	AudienceMultipleOrgs  = "AzureADMultipleOrgs"
	defaultSecretLifetime = 2 * 365 * 24 * time.Hour
)

// Caller is who makes a request: a principal in a tenant, as its verified
// token says, or a user signed in on the consent pages. Kind says which
// (audit.ServicePrincipal or audit.User).
type Caller struct {
	TenantID string
	ObjectID string
	Kind     string
}

// Service is the directory API's logic over the store.
type Service struct {
	Directory store.Directory
	// Audit records every change, and every attempt refused for lack of
	// rights (package audit).
	Audit audit.Recorder
}

// writerRoles may change the tenant's applications and service principals.
var writerRoles = []string{store.RoleGlobalAdministrator, store.RoleApplicationAdministrator}

func (s *Service) authorizeWrite(ctx context.Context, c Caller) error {
	return s.hasAnyRole(ctx, c, writerRoles...)
}

// hasAnyRole is nil if the caller holds one of roles in its tenant, and
// ErrForbidden if it holds none.
func (s *Service) hasAnyRole(ctx context.Context, c Caller, roles ...string) error {
	for _, role := range roles {
		ok, err := s.Directory.HasDirectoryRole(ctx, c.TenantID, c.ObjectID, role)
		if err != nil {
			return err
		}
		if ok {
			return nil
		}
	}
	return ErrForbidden
}

// NewApplication is what a caller gives to create an application.
type NewApplication struct {
	DisplayName     string
	SignInAudience  string
	WebRedirectURIs []string
}

// CreateApplication registers an application in the caller's tenant.
func (s *Service) CreateApplication(ctx context.Context, c Caller, n NewApplication) (a store.Application, err error) {
	defer func() {
		s.record(ctx, c, opAddApplication, a.ObjectID, audit.Done(err, "application "+n.DisplayName+", app id "+a.AppID), err)
	}()
	if err := s.authorizeWrite(ctx, c); err != nil {
		return store.Application{}, err
	}
	if strings.TrimSpace(n.DisplayName) == "" {
		return store.Application{}, invalid("Property displayName is required.")
	}
	switch n.SignInAudience {
	case "":
		n.SignInAudience = AudienceMyOrg
	case AudienceMyOrg, AudienceMultipleOrgs:
	default:
		return store.Application{}, invalid("Property signInAudience has an unsupported value " + n.SignInAudience + ".")
	}
	if err := checkRedirectURIs(n.WebRedirectURIs); err != nil {
		return store.Application{}, err
	}
	a = store.Application{
		ObjectID: ids.New(), AppID: ids.New(), TenantID: c.TenantID, DisplayName: n.DisplayName,
		SignInAudience: n.SignInAudience, WebRedirectURIs: n.WebRedirectURIs, CreatedAt: time.Now().UTC(),
	}
	if err := s.Directory.CreateApplication(ctx, a); err != nil {
		return store.Application{}, err
	}
	// The creator owns what it creates, as in the cloud, so that it can
	// still manage the application's secrets if it later loses its role.
	// An application without that owner would silently differ, so it is
	// taken back rather than kept.
	if err := s.Directory.AddApplicationOwner(ctx, a.ObjectID, c.ObjectID); err != nil {
		return store.Application{}, errors.Join(err, s.Directory.DeleteApplication(ctx, a.ObjectID))
	}
	return a, nil
}

func checkRedirectURIs(uris []string) error {
	if err := redirecturi.CheckAll(uris); err != nil {
		return invalid("Invalid value specified for property 'redirectUris' of resource 'Application': " + err.Error() + ".")
	}
	return nil
}

// GetApplication finds an application of the caller's tenant by object id.
func (s *Service) GetApplication(ctx context.Context, c Caller, objectID string) (store.Application, error) {
	a, err := s.Directory.GetApplication(ctx, objectID)
	if errors.Is(err, store.ErrNotFound) || (err == nil && a.TenantID != c.TenantID) {
		return store.Application{}, ErrNotFound
	}
	return a, err
}

// ListApplications lists the caller's tenant's applications that match a
// $filter on displayName or appId.
func (s *Service) ListApplications(ctx context.Context, c Caller, filterExpr string) ([]store.Application, error) {
	f, err := parseFilter(filterExpr, "displayName", "appId")
	if err != nil {
		return nil, err
	}
	all, err := s.Directory.ListApplications(ctx, c.TenantID)
	if err != nil {
		return nil, err
	}
	out := []store.Application{}
	for _, a := range all {
		if f == nil || (f.prop == "displayName" && f.match(a.DisplayName)) || (f.prop == "appId" && f.match(a.AppID)) {
			out = append(out, a)
		}
	}
	return out, nil
}

// DeleteApplication removes an application and its service principals.
func (s *Service) DeleteApplication(ctx context.Context, c Caller, objectID string) (err error) {
	defer func() {
		s.record(ctx, c, opDeleteApplication, objectID, audit.Done(err, "deleted with its service principals"), err)
	}()
	if err := s.authorizeWrite(ctx, c); err != nil {
		return err
	}
	if _, err := s.GetApplication(ctx, c, objectID); err != nil {
		return err
	}
	return notFound(s.Directory.DeleteApplication(ctx, objectID))
}

// PasswordCredentials lists an application's secrets (never their values).
func (s *Service) PasswordCredentials(ctx context.Context, a store.Application) ([]store.PasswordCredential, error) {
	return s.Directory.ListPasswordCredentials(ctx, a.ObjectID)
}

// NewPassword is what a caller gives to add a secret; zero times default
// to now and two years from the start.
type NewPassword struct {
	DisplayName   string
	StartDateTime time.Time
	EndDateTime   time.Time
}

// AddPassword adds a generated secret to an application and returns it
// with its value, the only time the value is seen. Administrators and the
// application's owners may.
func (s *Service) AddPassword(ctx context.Context, c Caller, objectID string, n NewPassword) (pc store.PasswordCredential, value string, err error) {
	defer func() {
		s.record(ctx, c, opCredentials, objectID, audit.Done(err, "secret "+pc.KeyID+" added, valid until "+pc.EndDateTime.Format(time.RFC3339)), err)
	}()
	a, err := s.GetApplication(ctx, c, objectID)
	if err != nil {
		return store.PasswordCredential{}, "", err
	}
	if err := s.authorizeOwner(ctx, c, a); err != nil {
		return store.PasswordCredential{}, "", err
	}
	if n.StartDateTime.IsZero() {
		n.StartDateTime = time.Now().UTC()
	}
	if n.EndDateTime.IsZero() {
		n.EndDateTime = n.StartDateTime.Add(defaultSecretLifetime)
	}
	if !n.EndDateTime.After(n.StartDateTime) {
		return store.PasswordCredential{}, "", invalid("endDateTime must be after startDateTime.")
	}
	value = secret.Generate()
	salt, sum := secret.Hash(value)
	pc = store.PasswordCredential{
		KeyID: ids.New(), AppObjectID: a.ObjectID, DisplayName: n.DisplayName, Hint: secret.Hint(value),
		Salt: salt, Hash: sum, StartDateTime: n.StartDateTime.UTC(), EndDateTime: n.EndDateTime.UTC(),
	}
	if err := s.Directory.AddPasswordCredential(ctx, pc); err != nil {
		return store.PasswordCredential{}, "", notFound(err)
	}
	return pc, value, nil
}

// RemovePassword removes one of an application's secrets; administrators
// and the application's owners may.
func (s *Service) RemovePassword(ctx context.Context, c Caller, objectID, keyID string) (err error) {
	defer func() { s.record(ctx, c, opCredentials, objectID, audit.Done(err, "secret "+keyID+" removed"), err) }()
	a, err := s.GetApplication(ctx, c, objectID)
	if err != nil {
		return err
	}
	if err := s.authorizeOwner(ctx, c, a); err != nil {
		return err
	}
	if keyID == "" {
		return invalid("Property keyId is required.")
	}
	err = s.Directory.RemovePasswordCredential(ctx, a.ObjectID, keyID)
	if errors.Is(err, store.ErrNotFound) {
		return invalid("No password credential found with keyId " + keyID + ".")
	}
	return err
}

// CreateServicePrincipal gives an application a service principal in the
// caller's tenant: its own application, or another tenant's multi-tenant
// one.
func (s *Service) CreateServicePrincipal(ctx context.Context, c Caller, appID string) (sp store.ServicePrincipal, err error) {
	// One for another tenant's application is this tenant's consent to it.
	op, what := opAddServicePrincipal, "application "+appID
	defer func() { s.record(ctx, c, op, sp.ObjectID, what, err) }()
	if err := s.authorizeWrite(ctx, c); err != nil {
		return store.ServicePrincipal{}, err
	}
	if appID == "" {
		return store.ServicePrincipal{}, invalid("Property appId is required.")
	}
	a, err := s.Directory.GetApplicationByAppID(ctx, appID)
	if errors.Is(err, store.ErrNotFound) || (err == nil && a.TenantID != c.TenantID && a.SignInAudience != AudienceMultipleOrgs) {
		return store.ServicePrincipal{}, invalid("The appId '" + appID + "' of the service principal does not reference a valid application object.")
	}
	if err != nil {
		return store.ServicePrincipal{}, err
	}
	if a.TenantID != c.TenantID {
		op, what = opConsent, what+" of tenant "+a.TenantID
	}
	sp = store.ServicePrincipal{
		ObjectID: ids.New(), TenantID: c.TenantID, AppID: a.AppID, AppOwnerTenantID: a.TenantID,
		Type: store.PrincipalApplication, DisplayName: a.DisplayName, CreatedAt: time.Now().UTC(),
	}
	err = s.Directory.CreateServicePrincipal(ctx, sp)
	if errors.Is(err, store.ErrExists) {
		return store.ServicePrincipal{}, ErrConflict
	}
	return sp, err
}

// GetServicePrincipal finds a service principal of the caller's tenant by
// object id.
func (s *Service) GetServicePrincipal(ctx context.Context, c Caller, objectID string) (store.ServicePrincipal, error) {
	sp, err := s.Directory.GetServicePrincipal(ctx, objectID)
	if errors.Is(err, store.ErrNotFound) || (err == nil && sp.TenantID != c.TenantID) {
		return store.ServicePrincipal{}, ErrNotFound
	}
	return sp, err
}

// DeleteServicePrincipal deletes a service principal of the caller's
// tenant with its role assignments and directory roles. For another
// tenant's application that withdraws this tenant's consent: the
// application gets no more tokens here. A managed identity's principal
// goes with its resource, not through the directory.
func (s *Service) DeleteServicePrincipal(ctx context.Context, c Caller, objectID string) (err error) {
	defer func() {
		s.record(ctx, c, opRemoveServicePrincipal, objectID, audit.Done(err, "deleted with its role assignments"), err)
	}()
	if err := s.authorizeWrite(ctx, c); err != nil {
		return err
	}
	sp, err := s.GetServicePrincipal(ctx, c, objectID)
	if err != nil {
		return err
	}
	if sp.Type == store.PrincipalManagedIdentity {
		return invalid("The service principal " + objectID + " belongs to a managed identity: delete the identity's resource instead.")
	}
	return keepAdministrator(notFound(s.Directory.DeleteServicePrincipal(ctx, sp.ObjectID)), "deleted")
}

// ListServicePrincipals lists the caller's tenant's service principals
// that match a $filter on appId, displayName or servicePrincipalNames.
func (s *Service) ListServicePrincipals(ctx context.Context, c Caller, filterExpr string) ([]store.ServicePrincipal, error) {
	f, err := parseFilter(filterExpr, "displayName", "appId", "servicePrincipalNames")
	if err != nil {
		return nil, err
	}
	all, err := s.Directory.ListServicePrincipals(ctx, c.TenantID)
	if err != nil {
		return nil, err
	}
	out := []store.ServicePrincipal{}
	for _, sp := range all {
		var values []string
		switch {
		case f == nil:
		case f.prop == "displayName":
			values = []string{sp.DisplayName}
		case f.prop == "appId":
			values = []string{sp.AppID}
		default:
			values = ServicePrincipalNames(sp)
		}
		if f.match(values...) {
			out = append(out, sp)
		}
	}
	return out, nil
}

// ServicePrincipalNames are the names a service principal is found by: its
// application id, and its display name as a URI ("http://name" unless it
// is one already), which is how the cloud CLI looks a principal up by the
// name it was created with.
func ServicePrincipalNames(sp store.ServicePrincipal) []string {
	names := []string{sp.AppID}
	switch {
	case sp.DisplayName == "":
	case strings.Contains(sp.DisplayName, "://"):
		names = append(names, sp.DisplayName)
	default:
		names = append(names, "http://"+sp.DisplayName)
	}
	return names
}

func notFound(err error) error {
	if errors.Is(err, store.ErrNotFound) {
		return ErrNotFound
	}
	return err
}
