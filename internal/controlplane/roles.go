package controlplane

import (
	"context"
	"errors"
	"regexp"
	"strings"
	"time"

	"github.com/berthhq/berth/internal/audit"
	"github.com/berthhq/berth/internal/authz"
	"github.com/berthhq/berth/internal/resourceid"
	"github.com/berthhq/berth/internal/store"
)

// Actions on role assignments.
const (
	actionAssignmentRead   = "Microsoft.Authorization/roleAssignments/read"
	actionAssignmentWrite  = "Microsoft.Authorization/roleAssignments/write"
	actionAssignmentDelete = "Microsoft.Authorization/roleAssignments/delete"
)

// Principal types of role assignments.
const (
	PrincipalTypeServicePrincipal = "ServicePrincipal"
	PrincipalTypeUser             = "User"
)

var guid = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

// scope checks that a scope names a subscription of the caller's tenant
// and, below that, a resource group or resource that exists.
func (s *Service) scope(ctx context.Context, c Caller, id resourceid.ID) error {
	if _, err := s.subscription(ctx, c, id.Subscription); err != nil {
		return err
	}
	if id.IsSubscription() {
		return nil
	}
	if _, err := s.Store.GetResourceGroup(ctx, id.Subscription, id.ResourceGroup); errors.Is(err, store.ErrNotFound) {
		return groupNotFound(id.ResourceGroup)
	} else if err != nil {
		return err
	}
	if id.IsResourceGroup() {
		return nil
	}
	// A child scope (a registry's repository) lives as long as its
	// top-level resource.
	top := resourceid.ID{Subscription: id.Subscription, ResourceGroup: id.ResourceGroup, Namespace: id.Namespace,
		Types: id.Types[:1], Names: id.Names[:1]}
	if _, err := s.Store.GetResource(ctx, top.String()); errors.Is(err, store.ErrNotFound) {
		return resourceNotFound(top.Type(), top.Name(), id.ResourceGroup)
	} else if err != nil {
		return err
	}
	return nil
}

// RoleDefinitions lists the role definitions, or the one named name
// (ignoring case) when name is not empty.
func (s *Service) RoleDefinitions(ctx context.Context, c Caller, scope resourceid.ID, name string) ([]authz.RoleDefinition, error) {
	if _, err := s.subscription(ctx, c, scope.Subscription); err != nil {
		return nil, err
	}
	if name == "" {
		return authz.Roles(), nil
	}
	if r, ok := authz.RoleByName(name); ok {
		return []authz.RoleDefinition{r}, nil
	}
	return nil, nil
}

// RoleDefinition returns one role definition by id.
func (s *Service) RoleDefinition(ctx context.Context, c Caller, scope resourceid.ID, id string) (authz.RoleDefinition, error) {
	if _, err := s.subscription(ctx, c, scope.Subscription); err != nil {
		return authz.RoleDefinition{}, err
	}
	r, ok := authz.RoleByID(id)
	if !ok {
		return r, roleDefinitionNotFound(id)
	}
	return r, nil
}

func roleDefinitionNotFound(id string) error {
	return fail(ErrNotFound, "RoleDefinitionDoesNotExist", "The specified role definition with ID '%s' does not exist.", id)
}

// NewRoleAssignment is the body of a role assignment PUT.
type NewRoleAssignment struct {
	RoleDefinitionID string // a full role definition id, or its GUID
	PrincipalID      string
	PrincipalType    string // optional; checked against the principal when given
}

// CreateRoleAssignment assigns a role at a scope under the GUID name.
func (s *Service) CreateRoleAssignment(ctx context.Context, c Caller, scope resourceid.ID, name string, in NewRoleAssignment) (a store.RoleAssignment, err error) {
	defer func() {
		s.record(ctx, c, actionAssignmentWrite, scope, assignmentID(scope, name), granted(in.RoleDefinitionID, in.PrincipalType, in.PrincipalID), err)
	}()
	if !guid.MatchString(name) {
		return store.RoleAssignment{}, fail(ErrBadRequest, "InvalidRoleAssignmentId",
			"The role assignment ID '%s' is not valid. The role assignment ID must be a GUID.", name)
	}
	if err := s.scope(ctx, c, scope); err != nil {
		return store.RoleAssignment{}, err
	}
	if err := s.authorize(ctx, c, scope.String(), actionAssignmentWrite); err != nil {
		return store.RoleAssignment{}, err
	}
	defID := in.RoleDefinitionID
	if i := strings.LastIndex(strings.ToLower(defID), "/roledefinitions/"); i >= 0 {
		defID = defID[i+len("/roledefinitions/"):]
	}
	role, ok := authz.RoleByID(defID)
	if !ok {
		return store.RoleAssignment{}, fail(ErrBadRequest, "RoleDefinitionDoesNotExist",
			"The specified role definition with ID '%s' does not exist.", in.RoleDefinitionID)
	}
	typ, err := s.principalType(ctx, c.TenantID, in.PrincipalID)
	if err != nil {
		return store.RoleAssignment{}, err
	}
	if in.PrincipalType != "" && !strings.EqualFold(in.PrincipalType, typ) {
		return store.RoleAssignment{}, fail(ErrBadRequest, "UnmatchedPrincipalType",
			"The PrincipalId '%s' has type '%s', which is different from specified PrincipalType '%s'.", in.PrincipalID, typ, in.PrincipalType)
	}
	in.PrincipalType = typ
	a = store.RoleAssignment{
		ID: strings.ToLower(name), Scope: scope.String(), RoleDefinitionID: role.ID, PrincipalID: in.PrincipalID,
		PrincipalType: typ, TenantID: c.TenantID, CreatedBy: c.ObjectID, CreatedAt: time.Now().UTC(),
	}
	err = s.Store.CreateRoleAssignment(ctx, a)
	if errors.Is(err, store.ErrExists) {
		return a, fail(ErrConflict, "RoleAssignmentExists", "The role assignment already exists.")
	}
	return a, err
}

// principalType finds a principal of the tenant by object id: a service
// principal (managed identities included) or a user.
func (s *Service) principalType(ctx context.Context, tenantID, objectID string) (string, error) {
	sp, err := s.Store.GetServicePrincipal(ctx, objectID)
	if err == nil && sp.TenantID == tenantID {
		return PrincipalTypeServicePrincipal, nil
	}
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return "", err
	}
	u, err := s.Store.GetUser(ctx, objectID)
	if err == nil && u.TenantID == tenantID {
		return PrincipalTypeUser, nil
	}
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return "", err
	}
	return "", fail(ErrBadRequest, "PrincipalNotFound",
		"Principal %s does not exist in the directory %s. Check that you have the correct principal ID.", objectID, tenantID)
}

// assignmentAt finds an assignment by name at exactly scope.
func (s *Service) assignmentAt(ctx context.Context, scope resourceid.ID, name string) (store.RoleAssignment, error) {
	a, err := s.Store.GetRoleAssignment(ctx, name)
	if errors.Is(err, store.ErrNotFound) || err == nil && authz.ScopeKey(a.Scope) != authz.ScopeKey(scope.String()) {
		return store.RoleAssignment{}, fail(ErrNotFound, "RoleAssignmentNotFound", "The role assignment '%s' is not found.", name)
	}
	return a, err
}

// GetRoleAssignment returns an assignment at scope.
func (s *Service) GetRoleAssignment(ctx context.Context, c Caller, scope resourceid.ID, name string) (store.RoleAssignment, error) {
	if _, err := s.subscription(ctx, c, scope.Subscription); err != nil {
		return store.RoleAssignment{}, err
	}
	if err := s.authorize(ctx, c, scope.String(), actionAssignmentRead); err != nil {
		return store.RoleAssignment{}, err
	}
	return s.assignmentAt(ctx, scope, name)
}

// DeleteRoleAssignment removes an assignment at scope; it stops granting
// with the next request. found is false if there was none.
func (s *Service) DeleteRoleAssignment(ctx context.Context, c Caller, scope resourceid.ID, name string) (a store.RoleAssignment, found bool, err error) {
	defer func() {
		what := audit.Done(err, deletedOrNot(found))
		if found {
			what = "deleted " + granted(a.RoleDefinitionID, a.PrincipalType, a.PrincipalID)
		}
		s.record(ctx, c, actionAssignmentDelete, scope, assignmentID(scope, name), what, err)
	}()
	if _, err := s.subscription(ctx, c, scope.Subscription); err != nil {
		return store.RoleAssignment{}, false, err
	}
	if err := s.authorize(ctx, c, scope.String(), actionAssignmentDelete); err != nil {
		return store.RoleAssignment{}, false, err
	}
	a, err = s.assignmentAt(ctx, scope, name)
	if errors.Is(err, ErrNotFound) {
		return a, false, nil
	}
	if err != nil {
		return a, false, err
	}
	err = s.Store.DeleteRoleAssignment(ctx, a.ID)
	if errors.Is(err, store.ErrNotFound) {
		return a, false, nil
	}
	return a, err == nil, err
}

// AssignmentFilter is a listing's $filter: atScope() keeps the scope and
// its ancestors only; PrincipalID keeps one principal's.
type AssignmentFilter struct {
	AtScope     bool
	PrincipalID string
}

// ListRoleAssignments lists the assignments that apply at scope (at it and
// above it) and, unless f.AtScope, those below it.
func (s *Service) ListRoleAssignments(ctx context.Context, c Caller, scope resourceid.ID, f AssignmentFilter) ([]store.RoleAssignment, error) {
	if _, err := s.subscription(ctx, c, scope.Subscription); err != nil {
		return nil, err
	}
	if err := s.authorize(ctx, c, scope.String(), actionAssignmentRead); err != nil {
		return nil, err
	}
	var at []string
	for id := scope; ; id = id.Parent() {
		at = append(at, id.String())
		if id.IsSubscription() {
			break
		}
	}
	all, err := s.Store.RoleAssignmentsAt(ctx, at)
	if err != nil {
		return nil, err
	}
	if !f.AtScope {
		below, err := s.Store.RoleAssignmentsBelow(ctx, scope.String())
		if err != nil {
			return nil, err
		}
		all = append(all, below...)
	}
	var out []store.RoleAssignment
	for _, a := range all {
		if a.TenantID == c.TenantID && (f.PrincipalID == "" || strings.EqualFold(a.PrincipalID, f.PrincipalID)) {
			out = append(out, a)
		}
	}
	return out, nil
}
