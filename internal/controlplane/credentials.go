package controlplane

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"time"

	"github.com/berthhq/berth/internal/audit"
	"github.com/berthhq/berth/internal/resourceid"
	"github.com/berthhq/berth/internal/resourcetype"
	"github.com/berthhq/berth/internal/secret"
	"github.com/berthhq/berth/internal/store"
)

// Actions on a registry's admin user credentials.
const (
	actionListCredentials      = resourcetype.Registry + "/listCredentials/action"
	actionRegenerateCredential = resourcetype.Registry + "/regenerateCredential/action"
)

// RegistryPasswordNames are the admin user's two passwords, so that one
// can be renewed while clients still use the other.
var RegistryPasswordNames = []string{"password", "password2"}

// RegistryCredentials are a registry admin user's name and passwords.
type RegistryCredentials struct {
	Username  string             `json:"username"`
	Passwords []RegistryPassword `json:"passwords"`
}

// RegistryPassword is one admin password. Value is nil except in the
// answer that made the password: only its salted hash is kept.
type RegistryPassword struct {
	Name  string  `json:"name"`
	Value *string `json:"value"`
}

// ListRegistryCredentials returns the admin user's name and its password
// names. The values cannot be shown: berth keeps only their hashes.
func (s *Service) ListRegistryCredentials(ctx context.Context, c Caller, id resourceid.ID) (RegistryCredentials, error) {
	r, err := s.adminRegistry(ctx, c, id, actionListCredentials)
	if err != nil {
		return RegistryCredentials{}, err
	}
	return credentialsOf(r, "", ""), nil
}

// RegenerateRegistryCredential replaces one admin password with a new
// random one and returns it, the one time it can be seen.
func (s *Service) RegenerateRegistryCredential(ctx context.Context, c Caller, id resourceid.ID, name string) (_ RegistryCredentials, err error) {
	defer func() {
		s.record(ctx, c, actionRegenerateCredential, id, id.String(), audit.Done(err, "admin password "+name+" renewed"), err)
	}()
	r, err := s.adminRegistry(ctx, c, id, actionRegenerateCredential)
	if err != nil {
		return RegistryCredentials{}, err
	}
	canon := ""
	for _, n := range RegistryPasswordNames {
		if strings.EqualFold(n, name) {
			canon = n
		}
	}
	if canon == "" {
		return RegistryCredentials{}, fail(ErrBadRequest, "InvalidParameter",
			"The password name '%s' is invalid: it must be one of %s.", name, strings.Join(RegistryPasswordNames, ", "))
	}
	name = canon
	value := secret.Generate()
	salt, sum := secret.Hash(value)
	err = s.Store.PutRegistryPassword(ctx, store.RegistryPassword{
		Registry: RegistryKey(r.Name), Name: canon, Hint: secret.Hint(value), Salt: salt, Hash: sum, CreatedAt: time.Now().UTC(),
	})
	if errors.Is(err, store.ErrNotFound) {
		return RegistryCredentials{}, resourceNotFound(resourcetype.Registry, id.Name(), id.ResourceGroup)
	}
	if err != nil {
		return RegistryCredentials{}, err
	}
	return credentialsOf(r, canon, value), nil
}

func credentialsOf(r store.Resource, name, value string) RegistryCredentials {
	out := RegistryCredentials{Username: r.Name}
	for _, n := range RegistryPasswordNames {
		p := RegistryPassword{Name: n}
		if n == name {
			p.Value = &value
		}
		out.Passwords = append(out.Passwords, p)
	}
	return out
}

// adminRegistry finds a registry whose admin user the caller may act on
// with action.
func (s *Service) adminRegistry(ctx context.Context, c Caller, id resourceid.ID, action string) (store.Resource, error) {
	k, err := s.kindOf(id)
	if err != nil {
		return store.Resource{}, err
	}
	if k.Type() != resourcetype.Registry {
		return store.Resource{}, fail(ErrBadRequest, "InvalidResourceType", "The resource type '%s' has no admin credentials.", k.Type())
	}
	id = canonical(id, k)
	if _, err := s.subscription(ctx, c, id.Subscription); err != nil {
		return store.Resource{}, err
	}
	if err := s.authorize(ctx, c, id.String(), action); err != nil {
		return store.Resource{}, err
	}
	r, err := s.Store.GetResource(ctx, id.String())
	if errors.Is(err, store.ErrNotFound) {
		return r, resourceNotFound(k.Type(), id.Name(), id.ResourceGroup)
	}
	if err != nil {
		return r, err
	}
	var p resourcetype.RegistryProperties
	if err := json.Unmarshal(r.Properties, &p); err != nil {
		return r, err
	}
	if !p.AdminUserEnabled {
		return r, fail(ErrBadRequest, "UnAuthorizedForCredentialOperations",
			"Cannot perform credential operations for %s as admin user is disabled. Enable the admin user (berth acr update --name %s --admin-enabled true) and try again.", r.ID, r.Name)
	}
	return r, nil
}
