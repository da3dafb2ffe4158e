package controlplane

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"regexp"
	"strings"
	"time"

	"github.com/berthhq/berth/internal/audit"
	"github.com/berthhq/berth/internal/ids"
	"github.com/berthhq/berth/internal/resourceid"
	"github.com/berthhq/berth/internal/resourcetype"
	"github.com/berthhq/berth/internal/store"
)

var vmName = regexp.MustCompile(`^[a-zA-Z0-9][-a-zA-Z0-9_.]{0,62}$`)

type vmKind struct{}

func (vmKind) Type() string { return resourcetype.VirtualMachine }

func (k vmKind) create(ctx context.Context, s *Service, sub store.Subscription, r *store.Resource, in ResourceInput) error {
	if !vmName.MatchString(r.Name) || strings.HasSuffix(r.Name, ".") {
		return fail(ErrBadRequest, "InvalidParameter", "The virtual machine name '%s' is invalid: 1 to 64 letters, digits, hyphens, underscores and periods, not ending in a period.", r.Name)
	}
	p := resourcetype.VMProperties{VMID: ids.New(), ProvisioningState: "Succeeded"}
	if err := fillVM(&p, in); err != nil {
		return err
	}
	var err error
	if r.Properties, err = json.Marshal(p); err != nil {
		return err
	}
	return k.applyIdentity(ctx, s, sub.TenantID, r, nil, in)
}

func (k vmKind) update(ctx context.Context, s *Service, old store.Resource, r *store.Resource, in ResourceInput, _ bool) error {
	var p resourcetype.VMProperties
	if err := json.Unmarshal(old.Properties, &p); err != nil {
		return err
	}
	if err := fillVM(&p, in); err != nil {
		return err
	}
	var err error
	if r.Properties, err = json.Marshal(p); err != nil {
		return err
	}
	var cur resourcetype.VMIdentity
	if len(old.Identity) > 0 {
		if err := json.Unmarshal(old.Identity, &cur); err != nil {
			return err
		}
	}
	sub, err := s.Store.GetSubscription(ctx, old.SubscriptionID)
	if err != nil {
		return err
	}
	return k.applyIdentity(ctx, s, sub.TenantID, r, &cur, in)
}

// fillVM applies the profiles a PUT or PATCH states; those it leaves out
// stay. An OS profile's secrets are not kept: berth makes no machine
// they would be for.
func fillVM(p *resourcetype.VMProperties, in ResourceInput) error {
	var pin struct {
		HardwareProfile json.RawMessage `json:"hardwareProfile"`
		StorageProfile  json.RawMessage `json:"storageProfile"`
		NetworkProfile  json.RawMessage `json:"networkProfile"`
		OSProfile       map[string]any  `json:"osProfile"`
	}
	if err := decodeInput(in.Properties, &pin); err != nil {
		return err
	}
	for _, f := range []struct{ from, to *json.RawMessage }{{&pin.HardwareProfile, &p.HardwareProfile}, {&pin.StorageProfile, &p.StorageProfile}, {&pin.NetworkProfile, &p.NetworkProfile}} {
		if *f.from != nil {
			*f.to = *f.from
		}
	}
	if pin.OSProfile != nil {
		for k := range pin.OSProfile {
			if strings.EqualFold(k, "adminPassword") || strings.EqualFold(k, "customData") {
				delete(pin.OSProfile, k)
			}
		}
		b, err := json.Marshal(pin.OSProfile)
		if err != nil {
			return err
		}
		p.OSProfile = b
	}
	return nil
}

func (vmKind) destroy(ctx context.Context, s *Service, r store.Resource) error {
	var cur resourcetype.VMIdentity
	if len(r.Identity) == 0 {
		return nil
	}
	if err := json.Unmarshal(r.Identity, &cur); err != nil {
		return err
	}
	if cur.PrincipalID == "" {
		return nil
	}
	err := s.Store.DeleteServicePrincipal(ctx, cur.PrincipalID)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	return err
}

// applyIdentity makes r's identity what a PUT asks: a system-assigned
// identity is a service principal made with it and deleted without it;
// user-assigned identities are attached by resource id, each one the
// caller may assign. A PUT without an identity block keeps the current
// one.
func (k vmKind) applyIdentity(ctx context.Context, s *Service, tenantID string, r *store.Resource, cur *resourcetype.VMIdentity, in ResourceInput) error {
	if cur == nil {
		cur = &resourcetype.VMIdentity{}
	}
	if len(in.Identity) == 0 || string(in.Identity) == "null" {
		if cur.Type == "" {
			r.Identity = nil
			return nil
		}
		var err error
		r.Identity, err = json.Marshal(cur)
		return err
	}
	var want struct {
		Type                   string                     `json:"type"`
		UserAssignedIdentities map[string]json.RawMessage `json:"userAssignedIdentities"`
	}
	if err := decodeInput(in.Identity, &want); err != nil {
		return err
	}
	system, user := false, false
	for _, t := range strings.Split(want.Type, ",") {
		switch strings.ToLower(strings.TrimSpace(t)) {
		case "systemassigned":
			system = true
		case "userassigned":
			user = true
		case "none", "":
		default:
			return fail(ErrBadRequest, "InvalidIdentityType", "The identity type '%s' is not valid: SystemAssigned, UserAssigned, 'SystemAssigned, UserAssigned' or None.", want.Type)
		}
	}
	if user != (len(want.UserAssignedIdentities) > 0) {
		return fail(ErrBadRequest, "InvalidIdentityValues", "userAssignedIdentities must be given exactly when the identity type includes UserAssigned.")
	}
	next := resourcetype.VMIdentity{TenantID: tenantID}
	// User-assigned identities first: they may refuse, and then nothing
	// has been made or deleted yet.
	if user {
		next.UserAssignedIdentities = map[string]resourcetype.UserAssignedInfo{}
		for raw, v := range want.UserAssignedIdentities {
			if string(v) == "null" {
				continue // a PATCH-style removal
			}
			info, id, err := s.userAssigned(ctx, in.caller, next.TenantID, raw)
			if err != nil {
				return err
			}
			next.UserAssignedIdentities[id] = info
		}
	}
	switch {
	case system && cur.PrincipalID != "":
		next.PrincipalID = cur.PrincipalID
	case system:
		next.PrincipalID = ids.New()
		if err := s.Store.CreateServicePrincipal(ctx, store.ServicePrincipal{
			ObjectID: next.PrincipalID, TenantID: next.TenantID, AppID: ids.New(), AppOwnerTenantID: next.TenantID,
			Type: store.PrincipalManagedIdentity, DisplayName: r.Name, CreatedAt: time.Now().UTC(),
		}); err != nil {
			return err
		}
	case cur.PrincipalID != "":
		// The system identity goes, and with it what it was granted.
		if err := s.Store.DeleteServicePrincipal(ctx, cur.PrincipalID); err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
	}
	var types []string
	if system {
		types = append(types, "SystemAssigned")
	}
	if len(next.UserAssignedIdentities) > 0 {
		types = append(types, "UserAssigned")
	}
	if len(types) == 0 {
		r.Identity = nil
		return nil
	}
	next.Type = strings.Join(types, ", ")
	var err error
	r.Identity, err = json.Marshal(next)
	return err
}

// userAssigned resolves a user-assigned identity by resource id for
// attaching it to a machine: it must exist in the tenant, and the caller
// must be allowed to assign it.
func (s *Service) userAssigned(ctx context.Context, c Caller, tenantID, raw string) (resourcetype.UserAssignedInfo, string, error) {
	id, err := resourceid.Parse(raw)
	if err != nil || !strings.EqualFold(id.Type(), resourcetype.Identity) {
		return resourcetype.UserAssignedInfo{}, "", fail(ErrBadRequest, "InvalidIdentityValues", "'%s' is not the resource id of a user-assigned identity.", raw)
	}
	id = canonical(id, identityKind{})
	if err := s.authorize(ctx, c, id.String(), "Microsoft.ManagedIdentity/userAssignedIdentities/assign/action"); err != nil {
		return resourcetype.UserAssignedInfo{}, "", err
	}
	res, err := s.Store.GetResource(ctx, id.String())
	if errors.Is(err, store.ErrNotFound) {
		return resourcetype.UserAssignedInfo{}, "", fail(ErrBadRequest, "FailedIdentityOperation", "The user-assigned identity '%s' was not found.", raw)
	}
	if err != nil {
		return resourcetype.UserAssignedInfo{}, "", err
	}
	var p resourcetype.IdentityProperties
	if err := json.Unmarshal(res.Properties, &p); err != nil {
		return resourcetype.UserAssignedInfo{}, "", err
	}
	if p.TenantID != tenantID {
		return resourcetype.UserAssignedInfo{}, "", fail(ErrBadRequest, "FailedIdentityOperation", "The user-assigned identity '%s' is in another tenant.", raw)
	}
	return resourcetype.UserAssignedInfo{PrincipalID: p.PrincipalID, ClientID: p.ClientID}, res.ID, nil
}

// MachineCredential is a virtual machine's credential as handed out, once:
// what its metadata agent needs to get tokens for the machine's
// identities.
type MachineCredential struct {
	ResourceID     string `json:"resourceId"`
	VMID           string `json:"vmId"`
	Name           string `json:"name"`
	ResourceGroup  string `json:"resourceGroup"`
	SubscriptionID string `json:"subscriptionId"`
	TenantID       string `json:"tenantId"`
	Location       string `json:"location"`
	KeyID          string `json:"keyId"`
	PrivateKey     string `json:"privateKey"` // PEM, PKCS #8
}

// NewMachineCredential issues a virtual machine a new credential; the one
// it had stops working at once.
func (s *Service) NewMachineCredential(ctx context.Context, c Caller, id resourceid.ID) (_ MachineCredential, err error) {
	defer func() {
		s.record(ctx, c, resourcetype.VirtualMachine+"/generateMachineCredential/action", id, id.String(), audit.Done(err, "a new machine credential; the one before stops working"), err)
	}()
	if !strings.EqualFold(id.Type(), resourcetype.VirtualMachine) {
		return MachineCredential{}, fail(ErrBadRequest, "InvalidResourceType", "Only virtual machines have machine credentials.")
	}
	id = canonical(id, vmKind{})
	sub, err := s.subscription(ctx, c, id.Subscription)
	if err != nil {
		return MachineCredential{}, err
	}
	if err := s.authorize(ctx, c, id.String(), resourcetype.VirtualMachine+"/generateMachineCredential/action"); err != nil {
		return MachineCredential{}, err
	}
	r, err := s.Store.GetResource(ctx, id.String())
	if errors.Is(err, store.ErrNotFound) {
		return MachineCredential{}, resourceNotFound(resourcetype.VirtualMachine, id.Name(), id.ResourceGroup)
	}
	if err != nil {
		return MachineCredential{}, err
	}
	var p resourcetype.VMProperties
	if err := json.Unmarshal(r.Properties, &p); err != nil {
		return MachineCredential{}, err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return MachineCredential{}, err
	}
	pub, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		return MachineCredential{}, err
	}
	priv, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return MachineCredential{}, err
	}
	sum := sha256.Sum256(pub)
	p.MachineKey = &resourcetype.MachineKey{KeyID: base64.RawURLEncoding.EncodeToString(sum[:]), PublicKey: base64.StdEncoding.EncodeToString(pub), CreatedAt: time.Now().UTC()}
	if r.Properties, err = json.Marshal(p); err != nil {
		return MachineCredential{}, err
	}
	r.UpdatedAt = time.Now().UTC()
	if err := s.Store.UpdateResource(ctx, r); err != nil {
		return MachineCredential{}, err
	}
	return MachineCredential{
		ResourceID: r.ID, VMID: p.VMID, Name: r.Name, ResourceGroup: r.ResourceGroup, SubscriptionID: r.SubscriptionID,
		TenantID: sub.TenantID, Location: r.Location, KeyID: p.MachineKey.KeyID,
		PrivateKey: string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: priv})),
	}, nil
}
