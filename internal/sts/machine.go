package sts

import (
	"context"
	"crypto/ecdsa"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/berthhq/berth/internal/jws"
	"github.com/berthhq/berth/internal/resourcetype"
	"github.com/berthhq/berth/internal/store"
)

// ManagedIdentityGrant is the grant type of berth's metadata agent: a
// virtual machine, proving itself with its machine credential, asks for a
// token of one of the identities assigned to it.
const ManagedIdentityGrant = "urn:berth:params:oauth:grant-type:managed-identity"

// Errors of the managed-identity grant.
var (
	// ErrIdentityNotFound: the identity asked for is not assigned to the
	// machine (or the machine has none). The agent answers its clients
	// 400 "Identity not found".
	ErrIdentityNotFound = errors.New("identity not found")
	// ErrMachineCredential: the assertion is not the machine's.
	ErrMachineCredential = errors.New("the machine credential is not valid")
)

// MachineStore reads virtual machines.
type MachineStore interface {
	GetResource(ctx context.Context, id string) (store.Resource, error)
}

// ManagedIdentityRequest is a metadata agent's token request. At most one
// of ClientID, ObjectID and ResourceID names the identity; none means the
// machine's system-assigned identity (or its only user-assigned one).
type ManagedIdentityRequest struct {
	Tenant     string
	Assertion  string // ES256 JWT signed with the machine credential; iss = sub = the VM's resource id
	Resource   string
	ClientID   string
	ObjectID   string
	ResourceID string
	Authority  string
}

// ManagedIdentityToken is an issued token and the identity's client id,
// which the metadata endpoint reports.
type ManagedIdentityToken struct {
	Token
	ClientID string
}

// machineAssertionLifetime bounds how far ahead an agent may date its
// assertion.
const machineAssertionLifetime = 10 * time.Minute

// IssueManagedIdentity issues a token for a managed identity to the
// machine it is assigned to, at this moment.
func (s *Service) IssueManagedIdentity(ctx context.Context, req ManagedIdentityRequest) (ManagedIdentityToken, error) {
	tenant, err := s.ResolveTenant(ctx, req.Tenant)
	if err != nil {
		return ManagedIdentityToken{}, err
	}
	res, ok := LookupResource(req.Resource)
	if !ok {
		return ManagedIdentityToken{}, ErrResourceNotFound
	}
	named := 0
	for _, v := range []string{req.ClientID, req.ObjectID, req.ResourceID} {
		if v != "" {
			named++
		}
	}
	if named > 1 {
		return ManagedIdentityToken{}, fmt.Errorf("%w: name the identity by one of client_id, object_id and msi_res_id", ErrInvalidRequest)
	}
	if req.Assertion == "" {
		return ManagedIdentityToken{}, missing("client_assertion")
	}
	now := time.Now()
	var c struct {
		Iss string       `json:"iss"`
		Sub string       `json:"sub"`
		Aud jws.Audience `json:"aud"`
		Exp numericDate  `json:"exp"`
		Nbf numericDate  `json:"nbf"`
	}
	jwt, err := jws.Parse(req.Assertion)
	if err == nil {
		err = jwt.Claims(&c)
	}
	if err != nil {
		return ManagedIdentityToken{}, fmt.Errorf("%w: %v", ErrMachineCredential, err)
	}
	if jwt.Header.Alg != "ES256" || c.Iss == "" || c.Sub != c.Iss {
		return ManagedIdentityToken{}, fmt.Errorf("%w: ES256, with iss and sub the machine's resource id", ErrMachineCredential)
	}
	m, err := s.machine(ctx, c.Iss)
	if errors.Is(err, store.ErrNotFound) {
		return ManagedIdentityToken{}, fmt.Errorf("%w: no such machine", ErrMachineCredential)
	}
	if err != nil {
		return ManagedIdentityToken{}, err
	}
	if m.Key == nil || m.Key.KeyID != jwt.Header.Kid || !verifyMachineKey(jwt, m.Key.PublicKey, c.Exp, c.Nbf, now) {
		return ManagedIdentityToken{}, fmt.Errorf("%w: signature, key or time range", ErrMachineCredential)
	}
	var auds []string
	for _, t := range []string{req.Tenant, tenant.ID, tenant.Domain} {
		auds = append(auds, req.Authority+"/"+t+"/oauth2/token")
	}
	if !audienceMatches(c.Aud, auds) {
		return ManagedIdentityToken{}, fmt.Errorf("%w: audience", ErrMachineCredential)
	}
	if m.TenantID != tenant.ID {
		return ManagedIdentityToken{}, ErrIdentityNotFound
	}
	principal, mirid, err := pickIdentity(ctx, s.Directory, m, c.Iss, req)
	if err != nil {
		return ManagedIdentityToken{}, err
	}
	sp, err := s.Directory.GetServicePrincipal(ctx, principal)
	if errors.Is(err, store.ErrNotFound) || err == nil && (sp.TenantID != tenant.ID || sp.Type != store.PrincipalManagedIdentity) {
		return ManagedIdentityToken{}, ErrIdentityNotFound
	}
	if err != nil {
		return ManagedIdentityToken{}, err
	}
	cc := ClientCredentials{Tenant: req.Tenant, ClientID: sp.AppID, Resource: req.Resource, Authority: req.Authority}
	tok, err := s.sign(ctx, cc, tenant, store.Application{AppID: sp.AppID}, sp, res, "2", now, map[string]any{"xms_mirid": mirid})
	return ManagedIdentityToken{Token: tok, ClientID: sp.AppID}, err
}

// machine reads a virtual machine's current key and identities. Nothing
// is authorized: the caller proves it is the machine by its key.
func (s *Service) machine(ctx context.Context, id string) (resourcetype.MachineIdentities, error) {
	r, err := s.Machines.GetResource(ctx, id)
	if err != nil {
		return resourcetype.MachineIdentities{}, err
	}
	if !strings.EqualFold(r.Type, resourcetype.VirtualMachine) {
		return resourcetype.MachineIdentities{}, store.ErrNotFound
	}
	return resourcetype.Machine(r.Properties, r.Identity)
}

// pickIdentity finds the identity a request names among the machine's:
// its principal's object id and its resource id (the machine's own, for
// the system-assigned identity).
func pickIdentity(ctx context.Context, dir store.Directory, m resourcetype.MachineIdentities, vmID string, req ManagedIdentityRequest) (principal, mirid string, err error) {
	switch {
	case req.ResourceID != "":
		for id, u := range m.User {
			if strings.EqualFold(id, req.ResourceID) {
				return u.PrincipalID, id, nil
			}
		}
	case req.ObjectID != "":
		if m.System != "" && strings.EqualFold(m.System, req.ObjectID) {
			return m.System, vmID, nil
		}
		for id, u := range m.User {
			if strings.EqualFold(u.PrincipalID, req.ObjectID) {
				return u.PrincipalID, id, nil
			}
		}
	case req.ClientID != "":
		for id, u := range m.User {
			if strings.EqualFold(u.ClientID, req.ClientID) {
				return u.PrincipalID, id, nil
			}
		}
		if m.System != "" {
			sp, err := dir.GetServicePrincipal(ctx, m.System)
			if err != nil && !errors.Is(err, store.ErrNotFound) {
				return "", "", err
			}
			if err == nil && strings.EqualFold(sp.AppID, req.ClientID) {
				return m.System, vmID, nil
			}
		}
	case m.System != "":
		return m.System, vmID, nil
	case len(m.User) == 1:
		// As the cloud's endpoint does: with no system identity, a
		// machine's only user-assigned identity is its default.
		for id, u := range m.User {
			return u.PrincipalID, id, nil
		}
	}
	return "", "", ErrIdentityNotFound
}

// verifyMachineKey checks the machine credential's signature and that it
// is short-lived: the metadata agent signs a fresh one for each request.
func verifyMachineKey(tok jws.Token, publicKey string, exp, nbf numericDate, now time.Time) bool {
	der, err := base64.StdEncoding.DecodeString(publicKey)
	if err != nil {
		return false
	}
	pub, err := x509.ParsePKIXPublicKey(der)
	if err != nil {
		return false
	}
	key, ok := pub.(*ecdsa.PublicKey)
	if !ok || tok.VerifyES256(key) != nil {
		return false
	}
	return exp.set && now.Add(-assertionSkew).Before(exp.t) && exp.t.Before(now.Add(machineAssertionLifetime+assertionSkew)) &&
		(!nbf.set || nbf.t.Before(now.Add(assertionSkew)))
}
