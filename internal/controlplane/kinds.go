package controlplane

import (
	"context"
	"encoding/json"
	"errors"
	"regexp"
	"strings"

	"github.com/berthhq/berth/internal/ids"
	"github.com/berthhq/berth/internal/resourcetype"
	"github.com/berthhq/berth/internal/store"
)

// kind is what the control plane knows of one resource type: how to make
// real, change and remove what its resources stand for, and their
// properties.
type kind interface {
	Type() string
	// create fills r's SKU and properties and makes what r stands for.
	create(ctx context.Context, s *Service, sub store.Subscription, r *store.Resource, in ResourceInput) error
	// update fills r, a copy of old, from a PUT (replace) or a PATCH of an
	// existing resource.
	update(ctx context.Context, s *Service, old store.Resource, r *store.Resource, in ResourceInput, replace bool) error
	// destroy removes what r stands for; it is not an error if that is
	// already gone.
	destroy(ctx context.Context, s *Service, r store.Resource) error
}

var kinds = map[string]kind{
	strings.ToLower(resourcetype.Registry):       registryKind{},
	strings.ToLower(resourcetype.Identity):       identityKind{},
	strings.ToLower(resourcetype.VirtualMachine): vmKind{},
	strings.ToLower(resourcetype.ManagedCluster): clusterKind{},

	strings.ToLower(resourcetype.VirtualNetwork):       networkKind{resourcetype.VirtualNetwork},
	strings.ToLower(resourcetype.NetworkSecurityGroup): networkKind{resourcetype.NetworkSecurityGroup},
	strings.ToLower(resourcetype.PublicIPAddress):      networkKind{resourcetype.PublicIPAddress},
	strings.ToLower(resourcetype.NetworkInterface):     networkKind{resourcetype.NetworkInterface},
}

// errRaced is a create that found what it was about to make already made
// by a concurrent create of the same resource.
var errRaced = errors.New("created concurrently")

func decodeInput(raw json.RawMessage, v any) error {
	if len(raw) == 0 || string(raw) == "null" {
		return nil
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return fail(ErrBadRequest, "InvalidRequestContent", "The request content was invalid and could not be deserialized: %v.", err)
	}
	return nil
}

type registryInput struct {
	AdminUserEnabled     *bool `json:"adminUserEnabled"`
	AnonymousPullEnabled *bool `json:"anonymousPullEnabled"`
	Policies             *struct {
		AzureADAuthenticationAsArmPolicy *struct {
			Status string `json:"status"`
		} `json:"azureADAuthenticationAsArmPolicy"`
	} `json:"policies"`
}

type skuJSON struct {
	Name string `json:"name"`
	Tier string `json:"tier,omitempty"`
}

var registryName = regexp.MustCompile(`^[a-zA-Z0-9]{5,50}$`)

type registryKind struct{}

func (registryKind) Type() string { return resourcetype.Registry }

// RegistryKey is the registry's name as the data plane knows it: login
// servers are host names, so case does not tell registries apart.
func RegistryKey(name string) string { return strings.ToLower(name) }

func (k registryKind) create(ctx context.Context, s *Service, sub store.Subscription, r *store.Resource, in ResourceInput) error {
	if !registryName.MatchString(r.Name) {
		return fail(ErrBadRequest, "InvalidResourceName",
			"Resource name '%s' is invalid. The name can contain only alphanumeric characters and must be between 5 and 50 characters.", r.Name)
	}
	p := resourcetype.RegistryProperties{
		LoginServer: s.LoginServer(r.Name), CreationDate: r.CreatedAt, ProvisioningState: "Succeeded",
		PublicNetworkAccess: "Enabled", ZoneRedundancy: "Disabled",
	}
	p.Policies.AzureADAuthenticationAsArmPolicy.Status = "enabled"
	if err := k.fill(r, &p, in); err != nil {
		return err
	}
	err := s.Store.CreateRegistry(ctx, store.Registry{Name: RegistryKey(r.Name), TenantID: sub.TenantID, ResourceID: r.ID, CreatedAt: r.CreatedAt})
	if errors.Is(err, store.ErrExists) {
		if reg, gerr := s.Store.GetRegistry(ctx, RegistryKey(r.Name)); gerr == nil && strings.EqualFold(reg.ResourceID, r.ID) {
			return errRaced
		}
		return fail(ErrConflict, "AlreadyInUse", "The registry DNS name %s is already in use.", p.LoginServer)
	}
	return err
}

func (k registryKind) update(_ context.Context, _ *Service, old store.Resource, r *store.Resource, in ResourceInput, replace bool) error {
	var p resourcetype.RegistryProperties
	if err := json.Unmarshal(old.Properties, &p); err != nil {
		return err
	}
	if replace {
		// A PUT states the whole resource: what it leaves out takes its
		// default again.
		p.AdminUserEnabled, p.AnonymousPullEnabled = false, false
		p.Policies.AzureADAuthenticationAsArmPolicy.Status = "enabled"
	} else if len(in.SKU) == 0 {
		// A PATCH changes only what it states.
		in.SKU = old.SKU
	}
	return k.fill(r, &p, in)
}

// fill applies a PUT's SKU and properties to r.
func (registryKind) fill(r *store.Resource, p *resourcetype.RegistryProperties, in ResourceInput) error {
	var sku skuJSON
	var pin registryInput
	if err := decodeInput(in.SKU, &sku); err != nil {
		return err
	}
	if err := decodeInput(in.Properties, &pin); err != nil {
		return err
	}
	switch strings.ToLower(sku.Name) {
	case "":
		sku.Name = "Basic"
	case "basic", "standard", "premium":
		sku.Name = strings.ToUpper(sku.Name[:1]) + strings.ToLower(sku.Name[1:])
	default:
		return fail(ErrBadRequest, "InvalidSkuName", "The SKU '%s' is not valid: it must be Basic, Standard or Premium.", sku.Name)
	}
	sku.Tier = sku.Name
	if pin.AdminUserEnabled != nil {
		p.AdminUserEnabled = *pin.AdminUserEnabled
	}
	if pin.AnonymousPullEnabled != nil {
		p.AnonymousPullEnabled = *pin.AnonymousPullEnabled
	}
	if pin.Policies != nil && pin.Policies.AzureADAuthenticationAsArmPolicy != nil {
		switch st := strings.ToLower(pin.Policies.AzureADAuthenticationAsArmPolicy.Status); st {
		case "enabled", "disabled":
			p.Policies.AzureADAuthenticationAsArmPolicy.Status = st
		default:
			return fail(ErrBadRequest, "InvalidRequestContent", "policies.azureADAuthenticationAsArmPolicy.status must be enabled or disabled, not '%s'.", st)
		}
	}
	var err error
	if r.SKU, err = json.Marshal(sku); err != nil {
		return err
	}
	r.Properties, err = json.Marshal(p)
	return err
}

func (registryKind) destroy(ctx context.Context, s *Service, r store.Resource) error {
	reg, err := s.Store.GetRegistry(ctx, RegistryKey(r.Name))
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	// The name may have been claimed by another resource since: only
	// the registry this resource made goes.
	if !strings.EqualFold(reg.ResourceID, r.ID) {
		return nil
	}
	err = s.Store.DeleteRegistry(ctx, reg.Name)
	if errors.Is(err, store.ErrNotFound) {
		err = nil
	}
	if err == nil && s.RegistryDeleted != nil {
		s.RegistryDeleted(reg.Name)
	}
	return err
}

var identityName = regexp.MustCompile(`^[a-zA-Z0-9][-\w]{2,127}$`)

type identityKind struct{}

func (identityKind) Type() string { return resourcetype.Identity }

func (identityKind) create(ctx context.Context, s *Service, sub store.Subscription, r *store.Resource, _ ResourceInput) error {
	if !identityName.MatchString(r.Name) {
		return fail(ErrBadRequest, "InvalidResourceName",
			"Resource name '%s' is invalid. The name must be 3 to 128 characters of letters, digits, hyphens and underscores, starting with a letter or digit.", r.Name)
	}
	p := resourcetype.IdentityProperties{TenantID: sub.TenantID, PrincipalID: ids.New(), ClientID: ids.New()}
	err := s.Store.CreateServicePrincipal(ctx, store.ServicePrincipal{
		ObjectID: p.PrincipalID, TenantID: sub.TenantID, AppID: p.ClientID, AppOwnerTenantID: sub.TenantID,
		Type: store.PrincipalManagedIdentity, DisplayName: r.Name, CreatedAt: r.CreatedAt,
	})
	if err != nil {
		return err
	}
	r.Properties, err = json.Marshal(p)
	return err
}

// update keeps the identity: its principal does not change with a PUT or
// a PATCH.
func (identityKind) update(context.Context, *Service, store.Resource, *store.Resource, ResourceInput, bool) error {
	return nil
}

func (identityKind) destroy(ctx context.Context, s *Service, r store.Resource) error {
	var p resourcetype.IdentityProperties
	if len(r.Properties) == 0 {
		return nil
	}
	if err := json.Unmarshal(r.Properties, &p); err != nil {
		return err
	}
	err := s.Store.DeleteServicePrincipal(ctx, p.PrincipalID)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	return err
}
