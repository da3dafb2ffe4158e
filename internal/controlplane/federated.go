package controlplane

import (
	"context"
	"encoding/json"
	"errors"
	"strings"

	"github.com/berthhq/berth/internal/audit"
	"github.com/berthhq/berth/internal/federation"
	"github.com/berthhq/berth/internal/ids"
	"github.com/berthhq/berth/internal/resourceid"
	"github.com/berthhq/berth/internal/resourcetype"
	"github.com/berthhq/berth/internal/store"
)

// A user-assigned identity's federated identity credentials are child
// resources of the identity in the management API, and rows of the
// directory's one table of federated credentials, owned by the identity's
// service principal: the token service reads them there, as it reads an
// application's. They have no resource record of their own.

// FederatedCredentialInput is what a PUT of a federated identity
// credential states.
type FederatedCredentialInput struct {
	Issuer    string
	Subject   string
	Audiences []string
}

// PutFederatedCredential creates or replaces the federated identity
// credential id (a child of a user-assigned identity). created says which.
func (s *Service) PutFederatedCredential(ctx context.Context, c Caller, id resourceid.ID, in FederatedCredentialInput) (f store.FederatedCredential, created bool, err error) {
	var what string
	defer func() {
		s.record(ctx, c, resourcetype.FederatedIdentityCredential+"/write", id, id.String(), what, err)
	}()
	id, owner, err := s.federatedOwner(ctx, c, id, "write")
	if err != nil {
		return f, false, err
	}
	all, err := s.Store.ListFederatedCredentials(ctx, owner)
	if err != nil {
		return f, false, err
	}
	f = store.FederatedCredential{ID: ids.New(), OwnerObjectID: owner, Name: id.Name(), Issuer: in.Issuer, Subject: in.Subject, Audiences: in.Audiences}
	old, found := findFederated(all, id.Name())
	if found {
		f.ID, f.Name, f.Description = old.ID, old.Name, old.Description
	}
	if err := federation.CheckCredential(f); err != nil {
		return f, false, fail(ErrBadRequest, "BadRequest", "%v", err)
	}
	if found {
		what = "issuer " + f.Issuer + ", subject " + f.Subject
		return f, false, federatedWritten(id, s.Store.UpdateFederatedCredential(ctx, f))
	}
	what = "created: issuer " + f.Issuer + ", subject " + f.Subject
	err = s.Store.CreateFederatedCredential(ctx, f, federation.MaxCredentials)
	switch {
	case errors.Is(err, store.ErrLimit):
		return f, false, fail(ErrBadRequest, "BadRequest",
			"Too many federated identity credentials: the identity '%s' already has %d, the most it may have.", id.Parent().Name(), federation.MaxCredentials)
	case errors.Is(err, store.ErrExists):
		return f, false, fail(ErrConflict, "Conflict", "The federated identity credential %s is being created by another request: retry.", id.Name())
	}
	return f, true, federatedWritten(id, err)
}

// federatedWritten maps a write's ErrNotFound: the identity went away
// between its look-up and the write.
func federatedWritten(id resourceid.ID, err error) error {
	if errors.Is(err, store.ErrNotFound) {
		return parentNotFound(id)
	}
	return err
}

// GetFederatedCredential returns one of an identity's federated identity
// credentials by name, in any letter case.
func (s *Service) GetFederatedCredential(ctx context.Context, c Caller, id resourceid.ID) (store.FederatedCredential, error) {
	id, owner, err := s.federatedOwner(ctx, c, id, "read")
	if err != nil {
		return store.FederatedCredential{}, err
	}
	all, err := s.Store.ListFederatedCredentials(ctx, owner)
	if err != nil {
		return store.FederatedCredential{}, err
	}
	f, ok := findFederated(all, id.Name())
	if !ok {
		return f, federatedNotFound(id)
	}
	return f, nil
}

// ListFederatedCredentials lists a user-assigned identity's federated
// identity credentials, by name.
func (s *Service) ListFederatedCredentials(ctx context.Context, c Caller, identity resourceid.ID) ([]store.FederatedCredential, error) {
	// Authorized as a read of the collection: a child id with no name.
	child := identity
	child.Types = append(append([]string(nil), identity.Types...), "federatedIdentityCredentials")
	child.Names = append(append([]string(nil), identity.Names...), "")
	_, owner, err := s.federatedOwner(ctx, c, child, "read")
	if err != nil {
		return nil, err
	}
	return s.Store.ListFederatedCredentials(ctx, owner)
}

// DeleteFederatedCredential deletes one of an identity's federated
// identity credentials. found is false when there was none.
func (s *Service) DeleteFederatedCredential(ctx context.Context, c Caller, id resourceid.ID) (found bool, err error) {
	defer func() {
		s.record(ctx, c, resourcetype.FederatedIdentityCredential+"/delete", id, id.String(), audit.Done(err, deletedOrNot(found)), err)
	}()
	id, owner, err := s.federatedOwner(ctx, c, id, "delete")
	if err != nil {
		return false, err
	}
	all, err := s.Store.ListFederatedCredentials(ctx, owner)
	if err != nil {
		return false, err
	}
	f, ok := findFederated(all, id.Name())
	if !ok {
		return false, nil
	}
	err = s.Store.DeleteFederatedCredential(ctx, owner, f.ID)
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}

// federatedOwner checks that id is a federated identity credential of a
// user-assigned identity that exists, in the caller's tenant, and that
// the caller may do verb on it; it gives the id in canonical case and the
// identity's principal, the credentials' owner.
func (s *Service) federatedOwner(ctx context.Context, c Caller, id resourceid.ID, verb string) (resourceid.ID, string, error) {
	if !strings.EqualFold(id.Type(), resourcetype.FederatedIdentityCredential) {
		return id, "", fail(ErrBadRequest, "InvalidResourceType", "The resource type '%s' could not be found in the namespace '%s'.",
			strings.Join(id.Types, "/"), id.Namespace)
	}
	ns, types, _ := strings.Cut(resourcetype.FederatedIdentityCredential, "/")
	id.Namespace, id.Types = ns, strings.Split(types, "/")
	if _, err := s.subscription(ctx, c, id.Subscription); err != nil {
		return id, "", err
	}
	if err := s.authorize(ctx, c, id.String(), resourcetype.FederatedIdentityCredential+"/"+verb); err != nil {
		return id, "", err
	}
	parent, err := s.Store.GetResource(ctx, id.Parent().String())
	if errors.Is(err, store.ErrNotFound) {
		if _, gerr := s.Store.GetResourceGroup(ctx, id.Subscription, id.ResourceGroup); errors.Is(gerr, store.ErrNotFound) {
			return id, "", groupNotFound(id.ResourceGroup)
		}
		return id, "", parentNotFound(id)
	}
	if err != nil {
		return id, "", err
	}
	var p resourcetype.IdentityProperties
	if err := json.Unmarshal(parent.Properties, &p); err != nil {
		return id, "", err
	}
	return id, p.PrincipalID, nil
}

func findFederated(all []store.FederatedCredential, name string) (store.FederatedCredential, bool) {
	for _, f := range all {
		if strings.EqualFold(f.Name, name) {
			return f, true
		}
	}
	return store.FederatedCredential{}, false
}

func parentNotFound(id resourceid.ID) error {
	return fail(ErrNotFound, "ParentResourceNotFound",
		"Failed to perform the operation on resource(s) of type '%s', because the parent resource '%s' could not be found.",
		strings.Join(id.Types, "/"), id.Parent().String())
}

func federatedNotFound(id resourceid.ID) error {
	return fail(ErrNotFound, "NotFound", "The federated identity credential '%s' of the identity '%s' was not found.", id.Name(), id.Parent().Name())
}
