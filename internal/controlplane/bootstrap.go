package controlplane

import (
	"context"
	"errors"
	"time"

	"github.com/berthhq/berth/internal/authz"
	"github.com/berthhq/berth/internal/ids"
	"github.com/berthhq/berth/internal/resourceid"
	"github.com/berthhq/berth/internal/resourcetype"
	"github.com/berthhq/berth/internal/store"
)

// EnsureOwner makes principalID, of principalType (PrincipalTypeUser or
// PrincipalTypeServicePrincipal), Owner of a subscription, as a tenant's
// administrators are from the start. It is not an error if it already is.
func EnsureOwner(ctx context.Context, st store.RoleAssignments, tenantID, subscriptionID, principalID, principalType string) error {
	err := st.CreateRoleAssignment(ctx, store.RoleAssignment{
		ID: ids.New(), Scope: resourceid.ID{Subscription: subscriptionID}.String(), RoleDefinitionID: authz.Owner,
		PrincipalID: principalID, PrincipalType: principalType, TenantID: tenantID, CreatedBy: principalID,
		CreatedAt: time.Now().UTC(),
	})
	if errors.Is(err, store.ErrExists) {
		return nil
	}
	return err
}

// EnsureRegistry makes a registry resource in a resource group, both made
// if missing, with no caller to authorize: it is for the server's own
// bootstrap. A registry the data plane already has under the same resource
// id (a data directory made before registries were resources) gets its
// resource record.
func (s *Service) EnsureRegistry(ctx context.Context, sub store.Subscription, group, location, name string) (store.Resource, error) {
	id := resourceid.Resource(sub.ID, group, resourcetype.Registry, name)
	if r, err := s.Store.GetResource(ctx, id.String()); err == nil {
		return r, nil
	} else if !errors.Is(err, store.ErrNotFound) {
		return r, err
	}
	now := time.Now().UTC()
	err := s.Store.CreateResourceGroup(ctx, store.ResourceGroup{SubscriptionID: sub.ID, Name: group, Location: location, CreatedAt: now})
	if err != nil && !errors.Is(err, store.ErrExists) {
		return store.Resource{}, err
	}
	r := store.Resource{ID: id.String(), SubscriptionID: sub.ID, ResourceGroup: group, Type: resourcetype.Registry, Name: name,
		Location: location, CreatedAt: now, UpdatedAt: now}
	k := registryKind{}
	err = k.create(ctx, s, sub, &r, ResourceInput{})
	if errors.Is(err, errRaced) {
		err = nil // the registry is there already, under this id
	}
	if err != nil {
		return r, err
	}
	return r, s.Store.CreateResource(ctx, r)
}
