package controlplane_test

import (
	"fmt"
	"testing"

	"github.com/berthhq/berth/internal/controlplane"
	"github.com/berthhq/berth/internal/resourcetype"
)

// TestIdentityFederatedCredentials: a user-assigned identity's federated
// credentials are child resources, owned in the directory by the
// identity's principal, limited to 20, and gone with the identity.
func TestIdentityFederatedCredentials(t *testing.T) {
	f := newFixture(t)
	f.group("Team")
	r := f.mustPut(owner, identity, "", "", "", true)
	principal, _ := f.fields(r.Properties)["principalId"].(string)
	kube := f.id(identity + "/federatedIdentityCredentials/kube")
	in := controlplane.FederatedCredentialInput{Issuer: "https://issuer.example/", Subject: "system:serviceaccount:ns:pods", Audiences: []string{"api://AzureADTokenExchange"}}

	fc, created, err := f.cp.PutFederatedCredential(f.ctx, contributor, kube, in)
	f.must(err)
	if !created || fc.OwnerObjectID != principal || fc.Name != "kube" || fc.Issuer != in.Issuer {
		t.Fatalf("create: %+v %v", fc, created)
	}
	in.Subject = "system:serviceaccount:ns:other"
	again, created, err := f.cp.PutFederatedCredential(f.ctx, contributor, f.id(group+"/providers/microsoft.managedidentity/USERASSIGNEDIDENTITIES/BUILDER/federatedidentitycredentials/KUBE"), in)
	f.must(err)
	if created || again.ID != fc.ID || again.Name != "kube" || again.Subject != in.Subject {
		t.Fatalf("replace in another case: %+v %v", again, created)
	}
	stored, err := f.meta.ListFederatedCredentials(f.ctx, principal)
	f.must(err)
	if len(stored) != 1 || stored[0].Subject != in.Subject {
		t.Fatalf("what the token service reads: %+v", stored)
	}
	got, err := f.cp.GetFederatedCredential(f.ctx, reader, kube)
	f.must(err)
	if got.ID != fc.ID {
		t.Fatalf("get: %+v", got)
	}
	all, err := f.cp.ListFederatedCredentials(f.ctx, reader, f.id(identity))
	f.must(err)
	if len(all) != 1 {
		t.Fatalf("list: %+v", all)
	}

	// Refused, and nothing changes.
	_, _, err = f.cp.PutFederatedCredential(f.ctx, reader, kube, in)
	f.wantErr(err, controlplane.ErrForbidden, "AuthorizationFailed")
	_, err = f.cp.GetFederatedCredential(f.ctx, stranger, kube)
	f.wantErr(err, controlplane.ErrNotFound, "SubscriptionNotFound")
	bad := in
	bad.Issuer = "http://issuer.example"
	_, _, err = f.cp.PutFederatedCredential(f.ctx, owner, kube, bad)
	f.wantErr(err, controlplane.ErrBadRequest, "BadRequest")
	_, _, err = f.cp.PutFederatedCredential(f.ctx, owner, f.id(identity+"/federatedIdentityCredentials/x"), in)
	f.wantErr(err, controlplane.ErrBadRequest, "BadRequest")
	_, _, err = f.cp.PutFederatedCredential(f.ctx, owner, f.id(group+"/providers/Microsoft.ManagedIdentity/userAssignedIdentities/absent/federatedIdentityCredentials/kube"), in)
	f.wantErr(err, controlplane.ErrNotFound, "ParentResourceNotFound")
	_, err = f.cp.GetFederatedCredential(f.ctx, reader, f.id(identity+"/federatedIdentityCredentials/absent"))
	f.wantErr(err, controlplane.ErrNotFound, "NotFound")
	if got, err := f.cp.GetFederatedCredential(f.ctx, reader, kube); err != nil || got.Subject != in.Subject {
		t.Fatalf("after refusals: %+v %v", got, err)
	}

	for i := 1; i < 20; i++ {
		_, _, err := f.cp.PutFederatedCredential(f.ctx, owner, f.id(fmt.Sprintf("%s/federatedIdentityCredentials/c%02d", identity, i)), in)
		f.must(err)
	}
	_, _, err = f.cp.PutFederatedCredential(f.ctx, owner, f.id(identity+"/federatedIdentityCredentials/c21"), in)
	f.wantErr(err, controlplane.ErrBadRequest, "BadRequest")

	found, err := f.cp.DeleteFederatedCredential(f.ctx, contributor, kube)
	if err != nil || !found {
		t.Fatalf("delete: %v %v", found, err)
	}
	if found, err := f.cp.DeleteFederatedCredential(f.ctx, contributor, kube); err != nil || found {
		t.Fatalf("delete again: %v %v", found, err)
	}
	if _, err := f.cp.DeleteResource(f.ctx, owner, f.id(identity)); err != nil {
		t.Fatal(err)
	}
	if stored, err := f.meta.ListFederatedCredentials(f.ctx, principal); err != nil || len(stored) != 0 {
		t.Fatalf("federated credentials outlived their identity: %d %v", len(stored), err)
	}
	if resourcetype.StableAPIVersion(resourcetype.FederatedIdentityCredential) == "" {
		t.Error("no API version for federated identity credentials")
	}
}
