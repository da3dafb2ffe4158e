package store

import (
	"context"
	"encoding/json"
	"time"
)

// ResourceGroup is a named container of resources in a subscription. Its
// name keeps the case it was created with; look-ups ignore case.
type ResourceGroup struct {
	SubscriptionID string
	Name           string
	Location       string
	Tags           map[string]string
	CreatedAt      time.Time
}

// Resource is a control-plane resource: a registry, a user-assigned
// identity, later virtual machines and clusters. ID is its full resource
// id as created; every look-up by id ignores case. Properties and Identity
// are the resource's own JSON (SKU too), owned by the service that knows its type.
type Resource struct {
	ID             string
	SubscriptionID string
	ResourceGroup  string
	Type           string // "Namespace/type", canonical case
	Name           string
	Location       string
	Tags           map[string]string
	SKU            json.RawMessage
	Properties     json.RawMessage
	Identity       json.RawMessage
	CreatedAt      time.Time
	UpdatedAt      time.Time
}

// ResourceQuery selects resources of one subscription; empty fields do not
// filter.
type ResourceQuery struct {
	SubscriptionID string
	ResourceGroup  string
	Type           string
}

// Resources keeps subscriptions' resource groups and resources.
type Resources interface {
	ListSubscriptions(ctx context.Context, tenantID string) ([]Subscription, error)

	// CreateResourceGroup is ErrExists if the subscription already has a
	// group of that name in any case, ErrNotFound if the subscription does
	// not exist.
	CreateResourceGroup(ctx context.Context, g ResourceGroup) error
	// UpdateResourceGroup replaces a group's tags.
	UpdateResourceGroup(ctx context.Context, g ResourceGroup) error
	GetResourceGroup(ctx context.Context, subscriptionID, name string) (ResourceGroup, error)
	ListResourceGroups(ctx context.Context, subscriptionID string) ([]ResourceGroup, error)
	// DeleteResourceGroup deletes the group and every resource record in
	// it; what the resources stand for is the caller's to delete first.
	DeleteResourceGroup(ctx context.Context, subscriptionID, name string) error

	// CreateResource is ErrExists if a resource with that id (in any case)
	// exists, ErrNotFound if its resource group does not.
	CreateResource(ctx context.Context, r Resource) error
	// UpdateResource replaces what can change of a resource: tags, SKU,
	// properties, identity and UpdatedAt.
	UpdateResource(ctx context.Context, r Resource) error
	GetResource(ctx context.Context, id string) (Resource, error)
	ListResources(ctx context.Context, q ResourceQuery) ([]Resource, error)
	DeleteResource(ctx context.Context, id string) error
}

// RoleAssignment grants a role definition to a principal at a scope and
// everything below it. ID is the assignment's GUID name.
type RoleAssignment struct {
	ID               string
	Scope            string
	RoleDefinitionID string // the definition's GUID
	PrincipalID      string
	PrincipalType    string
	TenantID         string
	CreatedBy        string
	CreatedAt        time.Time
}

// RoleAssignments keeps role assignments. Scopes are compared ignoring
// case, and "below" means on a path-segment boundary: /a/b is below /a,
// /ab is not.
type RoleAssignments interface {
	// CreateRoleAssignment is ErrExists if the id is taken or the same
	// role is already assigned to the same principal at the same scope.
	CreateRoleAssignment(ctx context.Context, a RoleAssignment) error
	GetRoleAssignment(ctx context.Context, id string) (RoleAssignment, error)
	DeleteRoleAssignment(ctx context.Context, id string) error
	// RoleAssignmentsOfPrincipal is every assignment of one principal,
	// wherever its scope: what an authorization check starts from.
	RoleAssignmentsOfPrincipal(ctx context.Context, principalID string) ([]RoleAssignment, error)
	// RoleAssignmentsAt returns assignments whose scope is one of scopes
	// exactly.
	RoleAssignmentsAt(ctx context.Context, scopes []string) ([]RoleAssignment, error)
	// RoleAssignmentsBelow returns assignments whose scope is strictly
	// below scope.
	RoleAssignmentsBelow(ctx context.Context, scope string) ([]RoleAssignment, error)
	// DeleteRoleAssignmentsAtOrBelow removes what a deleted resource was
	// granting, so that a resource made again with its name starts bare.
	DeleteRoleAssignmentsAtOrBelow(ctx context.Context, scope string) error
}

// ClusterIssuer is an OpenID Connect issuer of a cluster's service
// account tokens that berth knows: one berth hosts for the cluster, or
// the cluster's own that the cluster named. Issuer is the exact URL its
// tokens' iss claim holds; ResourceID is the cluster's.
type ClusterIssuer struct {
	Issuer     string
	ResourceID string
	CreatedAt  time.Time
}

// ClusterIssuers finds a cluster by its issuer, which a token names and
// a resource id does not. An issuer is one cluster's: issuers are
// compared exactly, as tokens' issuers are.
type ClusterIssuers interface {
	// CreateClusterIssuer is ErrExists if the issuer is already a
	// cluster's (this one's or another's).
	CreateClusterIssuer(ctx context.Context, c ClusterIssuer) error
	GetClusterIssuer(ctx context.Context, issuer string) (ClusterIssuer, error)
	// DeleteClusterIssuer is ErrNotFound if there was none.
	DeleteClusterIssuer(ctx context.Context, issuer string) error
}
