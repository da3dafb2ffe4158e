package sts_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/berthhq/berth/internal/audit"
	"github.com/berthhq/berth/internal/authz"
	"github.com/berthhq/berth/internal/clientauth"
	"github.com/berthhq/berth/internal/controlplane"
	"github.com/berthhq/berth/internal/ids"
	"github.com/berthhq/berth/internal/keys"
	"github.com/berthhq/berth/internal/resourceid"
	"github.com/berthhq/berth/internal/resourcetype"
	"github.com/berthhq/berth/internal/store"
	"github.com/berthhq/berth/internal/sts"
	"github.com/berthhq/berth/internal/testutil/stores"
)

const authority = "https://login.test"

// machineAssertion signs what the metadata agent sends.
func machineAssertion(t *testing.T, cred controlplane.MachineCredential, claims map[string]any) string {
	t.Helper()
	block, _ := pem.Decode([]byte(cred.PrivateKey))
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	h, _ := json.Marshal(map[string]any{"alg": "ES256", "typ": "JWT", "kid": cred.KeyID})
	c, _ := json.Marshal(claims)
	signing := base64.RawURLEncoding.EncodeToString(h) + "." + base64.RawURLEncoding.EncodeToString(c)
	sum := sha256.Sum256([]byte(signing))
	r, s, err := ecdsa.Sign(rand.Reader, k.(*ecdsa.PrivateKey), sum[:])
	if err != nil {
		t.Fatal(err)
	}
	sig := make([]byte, 64)
	r.FillBytes(sig[:32])
	s.FillBytes(sig[32:])
	return signing + "." + base64.RawURLEncoding.EncodeToString(sig)
}

func claimsFor(cred controlplane.MachineCredential) map[string]any {
	now := time.Now()
	return map[string]any{"iss": cred.ResourceID, "sub": cred.ResourceID, "aud": authority + "/" + cred.TenantID + "/oauth2/token",
		"exp": now.Add(5 * time.Minute).Unix(), "nbf": now.Unix(), "jti": ids.New()}
}

func tokenClaims(t *testing.T, tok string) map[string]any {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(strings.Split(tok, ".")[1])
	if err != nil {
		t.Fatal(err)
	}
	var c map[string]any
	json.Unmarshal(b, &c)
	return c
}

// TestManagedIdentityGrant: a machine gets tokens for the identities
// assigned to it at that moment, proving itself with its machine
// credential, and for nothing else.
func TestManagedIdentityGrant(t *testing.T) {
	ctx := context.Background()
	meta, _ := stores.New(t)
	ring := &keys.Ring{Store: meta, MaxTokenLifetime: 24 * time.Hour}
	if err := ring.Ensure(ctx); err != nil {
		t.Fatal(err)
	}
	s := &sts.Service{Directory: meta, Machines: meta, Keys: ring, Clients: clientauth.NewChecker(meta), Lifetime: time.Hour}
	cp := &controlplane.Service{Store: meta, Authz: &authz.Engine{Store: meta}, Clients: clientauth.NewChecker(meta), RegistrySuffix: "cr.test",
		Audit: &audit.Trail{Store: meta, Log: slog.New(slog.DiscardHandler)}}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	const tid, sub = "tenant-m", "sub-m"
	now := time.Now()
	must(meta.CreateTenant(ctx, store.Tenant{ID: tid, Domain: "m.example", CreatedAt: now}))
	must(meta.CreateSubscription(ctx, store.Subscription{ID: sub, TenantID: tid, CreatedAt: now}))
	admin := controlplane.Caller{TenantID: tid, ObjectID: "admin"}
	must(controlplane.EnsureOwner(ctx, meta, tid, sub, "admin", controlplane.PrincipalTypeServicePrincipal))
	_, _, err := cp.PutResourceGroup(ctx, admin, store.ResourceGroup{SubscriptionID: sub, Name: "g", Location: "here"})
	must(err)
	put := func(typ, name, body string) store.Resource {
		t.Helper()
		var in struct {
			Identity json.RawMessage `json:"identity"`
		}
		json.Unmarshal([]byte(body), &in)
		r, _, err := cp.PutResource(ctx, admin, resourceid.Resource(sub, "g", typ, name), controlplane.ResourceInput{Identity: in.Identity})
		must(err)
		return r
	}
	idRes := put(resourcetype.Identity, "builder", `{}`)
	var ua resourcetype.IdentityProperties
	json.Unmarshal(idRes.Properties, &ua)
	other := put(resourcetype.Identity, "unassigned", `{}`)
	vm := put(resourcetype.VirtualMachine, "vm1", `{"identity":{"type":"SystemAssigned, UserAssigned","userAssignedIdentities":{"`+strings.ToLower(idRes.ID)+`":{}}}}`)
	var vmIdent resourcetype.VMIdentity
	must(json.Unmarshal(vm.Identity, &vmIdent))
	if vmIdent.PrincipalID == "" || vmIdent.TenantID != tid || vmIdent.UserAssignedIdentities[idRes.ID].ClientID != ua.ClientID {
		t.Fatalf("VM identity: %s", vm.Identity)
	}
	vmID, _ := resourceid.Parse(vm.ID)
	cred, err := cp.NewMachineCredential(ctx, admin, vmID)
	must(err)
	vm2 := put(resourcetype.VirtualMachine, "vm2", `{"identity":{"type":"SystemAssigned"}}`)
	vm2ID, _ := resourceid.Parse(vm2.ID)
	cred2, err := cp.NewMachineCredential(ctx, admin, vm2ID)
	must(err)

	issue := func(c controlplane.MachineCredential, claims map[string]any, req sts.ManagedIdentityRequest) (sts.ManagedIdentityToken, error) {
		req.Tenant, req.Authority, req.Assertion = tid, authority, machineAssertion(t, c, claims)
		if req.Resource == "" {
			req.Resource = "https://management.azure.com/"
		}
		return s.IssueManagedIdentity(ctx, req)
	}
	// The system identity by default, and by object id.
	tok, err := issue(cred, claimsFor(cred), sts.ManagedIdentityRequest{})
	must(err)
	c := tokenClaims(t, tok.AccessToken)
	if c["oid"] != vmIdent.PrincipalID || c["xms_mirid"] != vm.ID || c["tid"] != tid || c["appid"] != tok.ClientID || c["aud"] != "https://management.azure.com/" {
		t.Fatalf("system identity token: %v", c)
	}
	// The user-assigned one by client id, object id and resource id in
	// any case.
	for _, req := range []sts.ManagedIdentityRequest{{ClientID: ua.ClientID}, {ObjectID: ua.PrincipalID}, {ResourceID: strings.ToUpper(idRes.ID)}} {
		tok, err := issue(cred, claimsFor(cred), req)
		must(err)
		if c := tokenClaims(t, tok.AccessToken); c["oid"] != ua.PrincipalID || c["xms_mirid"] != idRes.ID || tok.ClientID != ua.ClientID {
			t.Fatalf("user-assigned by %+v: %v", req, c)
		}
	}

	refused := map[string]struct {
		cred   controlplane.MachineCredential
		claims func(map[string]any)
		req    sts.ManagedIdentityRequest
		want   error
	}{
		"an identity not assigned":          {cred, nil, sts.ManagedIdentityRequest{ResourceID: other.ID}, sts.ErrIdentityNotFound},
		"another machine's identity":        {cred2, nil, sts.ManagedIdentityRequest{ClientID: ua.ClientID}, sts.ErrIdentityNotFound},
		"another machine's system identity": {cred2, nil, sts.ManagedIdentityRequest{ObjectID: vmIdent.PrincipalID}, sts.ErrIdentityNotFound},
		"a key posing as another machine":   {cred2, func(c map[string]any) { c["iss"], c["sub"] = vm.ID, vm.ID }, sts.ManagedIdentityRequest{}, sts.ErrMachineCredential},
		"an expired assertion":              {cred, func(c map[string]any) { c["exp"] = time.Now().Add(-time.Hour).Unix() }, sts.ManagedIdentityRequest{}, sts.ErrMachineCredential},
		"an assertion valid for a day":      {cred, func(c map[string]any) { c["exp"] = time.Now().Add(24 * time.Hour).Unix() }, sts.ManagedIdentityRequest{}, sts.ErrMachineCredential},
		"another audience":                  {cred, func(c map[string]any) { c["aud"] = "https://evil.test/" + tid + "/oauth2/token" }, sts.ManagedIdentityRequest{}, sts.ErrMachineCredential},
		"two selectors":                     {cred, nil, sts.ManagedIdentityRequest{ClientID: ua.ClientID, ObjectID: ua.PrincipalID}, sts.ErrInvalidRequest},
		"an unknown resource":               {cred, nil, sts.ManagedIdentityRequest{Resource: "https://nope.example"}, sts.ErrResourceNotFound},
	}
	for name, tc := range refused {
		claims := claimsFor(tc.cred)
		if tc.claims != nil {
			tc.claims(claims)
		}
		if _, err := issue(tc.cred, claims, tc.req); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", name, err, tc.want)
		}
	}

	// A new credential retires the old one at once.
	fresh, err := cp.NewMachineCredential(ctx, admin, vmID)
	must(err)
	if _, err := issue(cred, claimsFor(cred), sts.ManagedIdentityRequest{}); !errors.Is(err, sts.ErrMachineCredential) {
		t.Fatalf("the retired credential: %v", err)
	}
	// Detaching the user-assigned identity and the system one: no more
	// tokens for them, and the system identity's principal is gone.
	put(resourcetype.VirtualMachine, "vm1", `{"identity":{"type":"None"}}`)
	if _, err := issue(fresh, claimsFor(fresh), sts.ManagedIdentityRequest{ClientID: ua.ClientID}); !errors.Is(err, sts.ErrIdentityNotFound) {
		t.Fatalf("a detached identity: %v", err)
	}
	if _, err := issue(fresh, claimsFor(fresh), sts.ManagedIdentityRequest{}); !errors.Is(err, sts.ErrIdentityNotFound) {
		t.Fatalf("a removed system identity: %v", err)
	}
	if _, err := meta.GetServicePrincipal(ctx, vmIdent.PrincipalID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("the system identity's principal after removal: %v", err)
	}
	// With only one user-assigned identity, it is the default.
	put(resourcetype.VirtualMachine, "vm1", `{"identity":{"type":"UserAssigned","userAssignedIdentities":{"`+idRes.ID+`":{}}}}`)
	tok, err = issue(fresh, claimsFor(fresh), sts.ManagedIdentityRequest{})
	must(err)
	if tok.ClientID != ua.ClientID {
		t.Fatalf("default identity: %s", tok.ClientID)
	}
}
