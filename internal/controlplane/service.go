package controlplane

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"regexp"
	"strings"
	"time"

	"github.com/berthhq/berth/internal/audit"
	"github.com/berthhq/berth/internal/authz"
	"github.com/berthhq/berth/internal/clientauth"
	"github.com/berthhq/berth/internal/resourceid"
	"github.com/berthhq/berth/internal/resourcetype"
	"github.com/berthhq/berth/internal/store"
)

// Caller is who makes a request: a principal in a tenant, as its verified
// token says.
type Caller struct {
	TenantID string
	ObjectID string
}

// Store is what the control plane keeps its state in.
type Store interface {
	store.Directory
	store.Registries
	store.Resources
	store.ClusterIssuers
	store.RoleAssignments
	store.Events
}

// Service is the control plane.
type Service struct {
	Store Store
	Authz *authz.Engine
	// RegistrySuffix makes login servers: <registry name>.<suffix>.
	RegistrySuffix string
	// LoginServerPort, if set, is added to login servers, for clients
	// that reach berth on a port other than 443.
	LoginServerPort string
	// Clients checks the secrets of clusters' service principals, as it
	// does for every surface.
	Clients *clientauth.Checker
	// RegistryDeleted, if set, is told the name of each registry deleted,
	// after the fact, so that the data plane stops serving it at once.
	RegistryDeleted func(name string)
	// Audit records every change, and every attempt refused for lack of
	// rights (package audit).
	Audit audit.Recorder
}

// Actions on resource groups.
const (
	actionGroupRead   = "Microsoft.Resources/subscriptions/resourceGroups/read"
	actionGroupWrite  = "Microsoft.Resources/subscriptions/resourceGroups/write"
	actionGroupDelete = "Microsoft.Resources/subscriptions/resourceGroups/delete"
)

func (s *Service) authorize(ctx context.Context, c Caller, scope, action string) error {
	g, err := s.Authz.Grants(ctx, c.ObjectID)
	if err != nil {
		return err
	}
	return allowed(g, c, scope, action)
}

func allowed(g authz.Grants, c Caller, scope, action string) error {
	if g.Allows(scope, action) {
		return nil
	}
	return fail(ErrForbidden, "AuthorizationFailed",
		"The client '%s' with object id '%s' does not have authorization to perform action '%s' over scope '%s' or the scope is invalid. If access was recently granted, please refresh your credentials.",
		c.ObjectID, c.ObjectID, action, scope)
}

// subscription finds a subscription of the caller's tenant. Another
// tenant's is reported as not found: its existence is none of the
// caller's business.
func (s *Service) subscription(ctx context.Context, c Caller, id string) (store.Subscription, error) {
	sub, err := s.Store.GetSubscription(ctx, id)
	if errors.Is(err, store.ErrNotFound) || err == nil && sub.TenantID != c.TenantID {
		return store.Subscription{}, subscriptionNotFound(id)
	}
	return sub, err
}

// ListSubscriptions returns the subscriptions of the caller's tenant in
// which it holds some role assignment.
func (s *Service) ListSubscriptions(ctx context.Context, c Caller) ([]store.Subscription, error) {
	subs, err := s.Store.ListSubscriptions(ctx, c.TenantID)
	if err != nil {
		return nil, err
	}
	g, err := s.Authz.Grants(ctx, c.ObjectID)
	if err != nil {
		return nil, err
	}
	var out []store.Subscription
	for _, sub := range subs {
		if g.Touches("/subscriptions/" + sub.ID) {
			out = append(out, sub)
		}
	}
	return out, nil
}

// GetSubscription returns a subscription the caller has some access in.
func (s *Service) GetSubscription(ctx context.Context, c Caller, id string) (store.Subscription, error) {
	sub, err := s.subscription(ctx, c, id)
	if err != nil {
		return sub, err
	}
	g, err := s.Authz.Grants(ctx, c.ObjectID)
	if err != nil {
		return sub, err
	}
	if !g.Touches("/subscriptions/" + sub.ID) {
		return store.Subscription{}, subscriptionNotFound(id)
	}
	return sub, nil
}

var groupName = regexp.MustCompile(`^[-\w._()]{1,90}$`)

func validGroupName(name string) error {
	if !groupName.MatchString(name) || strings.HasSuffix(name, ".") {
		return fail(ErrBadRequest, "InvalidResourceGroup",
			"The provided resource group name '%s' has these invalid characters or length. The name can be up to 90 characters long, may contain letters, digits, underscores, hyphens, periods and parentheses, and cannot end with a period.", name)
	}
	return nil
}

// PutResourceGroup creates a resource group, or updates the tags of one
// that exists in the same location. created says which.
func (s *Service) PutResourceGroup(ctx context.Context, c Caller, g store.ResourceGroup) (_ store.ResourceGroup, created bool, err error) {
	if err := validGroupName(g.Name); err != nil {
		return g, false, err
	}
	id := resourceid.ID{Subscription: g.SubscriptionID, ResourceGroup: g.Name}
	defer func() {
		s.record(ctx, c, actionGroupWrite, id, id.String(), audit.Done(err, createdOrUpdated(created)), err)
	}()
	if _, err := s.subscription(ctx, c, g.SubscriptionID); err != nil {
		return g, false, err
	}
	if err := s.authorize(ctx, c, id.String(), actionGroupWrite); err != nil {
		return g, false, err
	}
	if g.Location == "" {
		return g, false, fail(ErrBadRequest, "LocationRequired", "The location property is required for this definition.")
	}
	g.CreatedAt = time.Now().UTC()
	err = s.Store.CreateResourceGroup(ctx, g)
	if !errors.Is(err, store.ErrExists) {
		return g, err == nil, err
	}
	old, err := s.Store.GetResourceGroup(ctx, g.SubscriptionID, g.Name)
	if err != nil {
		return g, false, err
	}
	if !strings.EqualFold(normalizeLocation(old.Location), normalizeLocation(g.Location)) {
		return g, false, fail(ErrConflict, "InvalidResourceGroupLocation",
			"Invalid resource group location '%s'. The Resource group already exists in location '%s'.", g.Location, old.Location)
	}
	old.Tags = g.Tags
	return old, false, s.Store.UpdateResourceGroup(ctx, old)
}

// normalizeLocation compares locations the way the resource manager does:
// "West Europe" is "westeurope".
func normalizeLocation(l string) string { return strings.ReplaceAll(strings.ToLower(l), " ", "") }

// GetResourceGroup returns a group the caller may read.
func (s *Service) GetResourceGroup(ctx context.Context, c Caller, subscriptionID, name string) (store.ResourceGroup, error) {
	if _, err := s.subscription(ctx, c, subscriptionID); err != nil {
		return store.ResourceGroup{}, err
	}
	if err := s.authorize(ctx, c, resourceid.ID{Subscription: subscriptionID, ResourceGroup: name}.String(), actionGroupRead); err != nil {
		return store.ResourceGroup{}, err
	}
	g, err := s.Store.GetResourceGroup(ctx, subscriptionID, name)
	if errors.Is(err, store.ErrNotFound) {
		return g, groupNotFound(name)
	}
	return g, err
}

// ListResourceGroups returns the groups the caller may read.
func (s *Service) ListResourceGroups(ctx context.Context, c Caller, subscriptionID string) ([]store.ResourceGroup, error) {
	if _, err := s.subscription(ctx, c, subscriptionID); err != nil {
		return nil, err
	}
	all, err := s.Store.ListResourceGroups(ctx, subscriptionID)
	if err != nil {
		return nil, err
	}
	grants, err := s.Authz.Grants(ctx, c.ObjectID)
	if err != nil {
		return nil, err
	}
	var out []store.ResourceGroup
	for _, g := range all {
		if grants.Allows(resourceid.ID{Subscription: subscriptionID, ResourceGroup: g.Name}.String(), actionGroupRead) {
			out = append(out, g)
		}
	}
	return out, nil
}

// DeleteResourceGroup deletes a group and everything in it. found is false
// when there was no such group.
func (s *Service) DeleteResourceGroup(ctx context.Context, c Caller, subscriptionID, name string) (found bool, err error) {
	if _, err := s.subscription(ctx, c, subscriptionID); err != nil {
		return false, err
	}
	id := resourceid.ID{Subscription: subscriptionID, ResourceGroup: name}
	scope := id.String()
	// What goes with the group (its resources, their role assignments) is
	// part of this one change.
	defer func() {
		s.record(ctx, c, actionGroupDelete, id, scope, audit.Done(err, "deleted with its resources"), err)
	}()
	if err := s.authorize(ctx, c, scope, actionGroupDelete); err != nil {
		return false, err
	}
	g, err := s.Store.GetResourceGroup(ctx, subscriptionID, name)
	if errors.Is(err, store.ErrNotFound) {
		return false, groupNotFound(name)
	}
	if err != nil {
		return false, err
	}
	rs, err := s.Store.ListResources(ctx, store.ResourceQuery{SubscriptionID: subscriptionID, ResourceGroup: g.Name})
	if err != nil {
		return true, err
	}
	for _, r := range rs {
		if err := s.destroy(ctx, r); err != nil {
			return true, err
		}
	}
	if err := s.Store.DeleteRoleAssignmentsAtOrBelow(ctx, scope); err != nil {
		return true, err
	}
	err = s.Store.DeleteResourceGroup(ctx, subscriptionID, g.Name)
	if errors.Is(err, store.ErrNotFound) {
		err = nil // deleted meanwhile by another request: the same outcome
	}
	return true, err
}

// ResourceInput is the body of a resource PUT.
type ResourceInput struct {
	Location   string
	Tags       map[string]string
	SKU        json.RawMessage
	Properties json.RawMessage
	Identity   json.RawMessage
	// IssuerBase is the address the client reached berth at: an issuer
	// berth hosts for a cluster is under it.
	IssuerBase string

	caller Caller // for kinds that authorize more (attaching identities)
}

func (s *Service) kindOf(id resourceid.ID) (kind, error) {
	k, ok := kinds[strings.ToLower(id.Type())]
	if !ok {
		return nil, fail(ErrBadRequest, "InvalidResourceType", "The resource type '%s' could not be found in the namespace '%s'.",
			strings.Join(id.Types, "/"), id.Namespace)
	}
	return k, nil
}

// admit resolves a resource id's type and canonical form, checks that its
// subscription is the caller's tenant's, and that the caller may do verb
// ("read", "write", "delete") on it.
func (s *Service) admit(ctx context.Context, c Caller, id resourceid.ID, verb string) (kind, resourceid.ID, store.Subscription, error) {
	k, err := s.kindOf(id)
	if err != nil {
		return nil, id, store.Subscription{}, err
	}
	id = canonical(id, k)
	sub, err := s.subscription(ctx, c, id.Subscription)
	if err != nil {
		return nil, id, sub, err
	}
	return k, id, sub, s.authorize(ctx, c, id.String(), k.Type()+"/"+verb)
}

// canonical gives an id its type's canonical case, keeping the names'.
func canonical(id resourceid.ID, k kind) resourceid.ID {
	ns, types, _ := strings.Cut(k.Type(), "/")
	id.Namespace, id.Types = ns, strings.Split(types, "/")
	return id
}

// LoginServer is where clients reach a registry, as its loginServer
// property says: from the server's current settings, so that a new
// suffix or port applies to registries made before it.
func (s *Service) LoginServer(registry string) string {
	host := RegistryKey(registry) + "." + s.RegistrySuffix
	if s.LoginServerPort != "" {
		return net.JoinHostPort(host, s.LoginServerPort)
	}
	return host
}

// PutResource creates or replaces a resource. created says which.
// A create that lost a race waits for the winner's record up to
// maxRaceWaits times raceWait.
const (
	raceWait     = 20 * time.Millisecond
	maxRaceWaits = 100
)

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func (s *Service) PutResource(ctx context.Context, c Caller, id resourceid.ID, in ResourceInput) (_ store.Resource, created bool, err error) {
	var what string
	defer func() { s.record(ctx, c, id.Type()+"/write", id, id.String(), what, err) }()
	k, id, sub, err := s.admit(ctx, c, id, "write")
	if err != nil {
		return store.Resource{}, false, err
	}
	g, err := s.Store.GetResourceGroup(ctx, id.Subscription, id.ResourceGroup)
	if errors.Is(err, store.ErrNotFound) {
		return store.Resource{}, false, groupNotFound(id.ResourceGroup)
	}
	if err != nil {
		return store.Resource{}, false, err
	}
	if in.Location == "" {
		in.Location = g.Location
	}
	in.caller = c
	// Two creates of one resource can race: the loser finds the winner's
	// record and updates it instead, as if it had come second.
	for attempt := 0; ; attempt++ {
		old, err := s.Store.GetResource(ctx, id.String())
		now := time.Now().UTC()
		switch {
		case err == nil:
			r := old
			r.Tags, r.UpdatedAt = in.Tags, now
			if err := k.update(ctx, s, old, &r, in, true); err != nil {
				return r, false, err
			}
			what = changed(old, r)
			return r, false, s.Store.UpdateResource(ctx, r)
		case !errors.Is(err, store.ErrNotFound):
			return store.Resource{}, false, err
		}
		r := store.Resource{
			ID: id.String(), SubscriptionID: id.Subscription, ResourceGroup: g.Name, Type: k.Type(), Name: id.Name(),
			Location: in.Location, Tags: in.Tags, CreatedAt: now, UpdatedAt: now,
		}
		if err := k.create(ctx, s, sub, &r, in); err != nil {
			if errors.Is(err, errRaced) {
				// The winner made what r stands for and is about to
				// write its record: wait for it a little.
				if attempt < maxRaceWaits {
					if err := sleepCtx(ctx, raceWait); err != nil {
						return r, false, err
					}
					continue
				}
				return r, false, fail(ErrConflict, "Conflict", "The resource %s is being created by another request: retry.", id.Name())
			}
			return r, false, err
		}
		err = s.Store.CreateResource(ctx, r)
		if err == nil {
			what = "created"
			return r, true, nil
		}
		// What the kind made for the record that was not written goes.
		if derr := k.destroy(ctx, s, r); derr != nil {
			return r, false, fmt.Errorf("%w (and undoing it: %v)", err, derr)
		}
		if !errors.Is(err, store.ErrExists) || attempt > 0 {
			return r, false, err
		}
	}
}

// PatchResource changes what in states of an existing resource: tags if
// given, and properties.
func (s *Service) PatchResource(ctx context.Context, c Caller, id resourceid.ID, in ResourceInput) (_ store.Resource, err error) {
	var what string
	defer func() { s.record(ctx, c, id.Type()+"/write", id, id.String(), what, err) }()
	k, id, _, err := s.admit(ctx, c, id, "write")
	if err != nil {
		return store.Resource{}, err
	}
	old, err := s.Store.GetResource(ctx, id.String())
	if errors.Is(err, store.ErrNotFound) {
		return old, resourceNotFound(k.Type(), id.Name(), id.ResourceGroup)
	}
	if err != nil {
		return old, err
	}
	in.caller = c
	r := old
	r.UpdatedAt = time.Now().UTC()
	if in.Tags != nil {
		r.Tags = in.Tags
	}
	if err := k.update(ctx, s, old, &r, in, false); err != nil {
		return r, err
	}
	what = changed(old, r)
	return r, s.Store.UpdateResource(ctx, r)
}

// GetResource returns a resource the caller may read.
func (s *Service) GetResource(ctx context.Context, c Caller, id resourceid.ID) (store.Resource, error) {
	k, id, _, err := s.admit(ctx, c, id, "read")
	if err != nil {
		return store.Resource{}, err
	}
	r, err := s.Store.GetResource(ctx, id.String())
	if errors.Is(err, store.ErrNotFound) {
		if _, gerr := s.Store.GetResourceGroup(ctx, id.Subscription, id.ResourceGroup); errors.Is(gerr, store.ErrNotFound) {
			return r, groupNotFound(id.ResourceGroup)
		}
		return r, resourceNotFound(k.Type(), id.Name(), id.ResourceGroup)
	}
	return r, err
}

// ResourceFilter narrows a listing; empty fields do not filter.
type ResourceFilter struct {
	ResourceGroup string
	// GroupByFilter says ResourceGroup came from a $filter: like any
	// filter that matches nothing, a group that does not exist lists
	// nothing, where a group in the path must exist.
	GroupByFilter bool
	Type          string
	Name          string
	NameContains  string
	Location      string
	// A tag's name is matched without regard to case, as the resource
	// manager treats tag names; TagValue nil does not filter by value.
	TagName   string
	TagPrefix string
	TagValue  *string
}

// matches tells whether r passes the filter's fields the store does not
// query.
func (f ResourceFilter) matches(r store.Resource) bool {
	if f.Name != "" && !strings.EqualFold(f.Name, r.Name) ||
		f.NameContains != "" && !strings.Contains(strings.ToLower(r.Name), strings.ToLower(f.NameContains)) ||
		f.Location != "" && !strings.EqualFold(f.Location, r.Location) {
		return false
	}
	if f.TagName == "" && f.TagPrefix == "" {
		return true
	}
	for k, v := range r.Tags {
		if f.TagName != "" && !strings.EqualFold(k, f.TagName) ||
			f.TagPrefix != "" && !strings.HasPrefix(strings.ToLower(k), strings.ToLower(f.TagPrefix)) {
			continue
		}
		if f.TagValue == nil || *f.TagValue == v {
			return true
		}
	}
	return false
}

// ListResources returns the resources of a subscription the caller may
// read.
func (s *Service) ListResources(ctx context.Context, c Caller, subscriptionID string, f ResourceFilter) ([]store.Resource, error) {
	if _, err := s.subscription(ctx, c, subscriptionID); err != nil {
		return nil, err
	}
	if f.ResourceGroup != "" && !f.GroupByFilter {
		if _, err := s.Store.GetResourceGroup(ctx, subscriptionID, f.ResourceGroup); errors.Is(err, store.ErrNotFound) {
			return nil, groupNotFound(f.ResourceGroup)
		} else if err != nil {
			return nil, err
		}
	}
	all, err := s.Store.ListResources(ctx, store.ResourceQuery{SubscriptionID: subscriptionID, ResourceGroup: f.ResourceGroup, Type: f.Type})
	if err != nil {
		return nil, err
	}
	grants, err := s.Authz.Grants(ctx, c.ObjectID)
	if err != nil {
		return nil, err
	}
	var out []store.Resource
	for _, r := range all {
		if !f.matches(r) {
			continue
		}
		// A deployment is a record of what a template made, listed
		// only as a group's deployments.
		if r.Type == resourcetype.Deployment && !strings.EqualFold(f.Type, resourcetype.Deployment) {
			continue
		}
		if grants.Allows(r.ID, r.Type+"/read") {
			out = append(out, r)
		}
	}
	return out, nil
}

// DeleteResource deletes a resource and what it stands for. found is false
// when there was nothing to delete.
func (s *Service) DeleteResource(ctx context.Context, c Caller, id resourceid.ID) (found bool, err error) {
	defer func() {
		s.record(ctx, c, id.Type()+"/delete", id, id.String(), audit.Done(err, deletedOrNot(found)), err)
	}()
	_, id, _, err = s.admit(ctx, c, id, "delete")
	if err != nil {
		return false, err
	}
	r, err := s.Store.GetResource(ctx, id.String())
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return true, s.destroy(ctx, r)
}

// destroy deletes what a resource stands for, the role assignments at or
// below it, then its record.
func (s *Service) destroy(ctx context.Context, r store.Resource) error {
	if k, ok := kinds[strings.ToLower(r.Type)]; ok {
		if err := k.destroy(ctx, s, r); err != nil {
			return err
		}
	}
	if err := s.Store.DeleteRoleAssignmentsAtOrBelow(ctx, r.ID); err != nil {
		return err
	}
	err := s.Store.DeleteResource(ctx, r.ID)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	return err
}
