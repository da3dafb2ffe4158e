package controlplane_test

import (
	"strings"
	"testing"

	"github.com/berthhq/berth/internal/controlplane"
	"github.com/berthhq/berth/internal/secret"
)

// TestRegistryCredentials: the admin user's passwords are made by
// regenerating one, shown in that answer only, and kept as hashes; both
// actions need the admin user on and the registry's credential actions.
func TestRegistryCredentials(t *testing.T) {
	f := newFixture(t)
	f.group("Team")
	f.mustPut(owner, registry, "", "", "", true)
	id := f.id(registry)

	_, err := f.cp.ListRegistryCredentials(f.ctx, owner, id)
	f.wantErr(err, controlplane.ErrBadRequest, "UnAuthorizedForCredentialOperations")
	_, err = f.cp.RegenerateRegistryCredential(f.ctx, owner, id, "password")
	f.wantErr(err, controlplane.ErrBadRequest, "UnAuthorizedForCredentialOperations")
	_, err = f.cp.PatchResource(f.ctx, owner, id, input("", `{"adminUserEnabled":true}`, ""))
	f.must(err)

	c, err := f.cp.ListRegistryCredentials(f.ctx, contributor, f.id(strings.ToLower(registry)))
	if err != nil || c.Username != "myRegistry" || len(c.Passwords) != 2 || c.Passwords[0].Name != "password" || c.Passwords[1].Name != "password2" ||
		c.Passwords[0].Value != nil || c.Passwords[1].Value != nil {
		t.Fatalf("list: %+v %v", c, err)
	}
	c, err = f.cp.RegenerateRegistryCredential(f.ctx, owner, id, "PASSWORD2")
	if err != nil || len(c.Passwords) != 2 || c.Passwords[0].Value != nil || c.Passwords[1].Value == nil {
		t.Fatalf("regenerate: %+v %v", c, err)
	}
	value := *c.Passwords[1].Value
	stored, err := f.meta.ListRegistryPasswords(f.ctx, "myregistry")
	if err != nil || len(stored) != 1 || stored[0].Name != "password2" || !secret.Verify(value, stored[0].Salt, stored[0].Hash) {
		t.Fatalf("stored passwords %+v %v", stored, err)
	}
	if strings.Contains(string(stored[0].Hash), value) {
		t.Fatal("the password is kept")
	}
	if c, _ := f.cp.ListRegistryCredentials(f.ctx, owner, id); c.Passwords[1].Value != nil {
		t.Fatal("the password is shown again")
	}
	if _, err := f.cp.RegenerateRegistryCredential(f.ctx, owner, id, "password2"); err != nil {
		t.Fatal(err)
	}
	stored, _ = f.meta.ListRegistryPasswords(f.ctx, "myregistry")
	if len(stored) != 1 || secret.Verify(value, stored[0].Salt, stored[0].Hash) {
		t.Fatalf("a renewed password still verifies: %+v", stored)
	}

	_, err = f.cp.RegenerateRegistryCredential(f.ctx, owner, id, "password3")
	f.wantErr(err, controlplane.ErrBadRequest, "InvalidParameter")
	// Reader reads the registry but has no action on its credentials.
	_, err = f.cp.ListRegistryCredentials(f.ctx, reader, id)
	f.wantErr(err, controlplane.ErrForbidden, "AuthorizationFailed")
	_, err = f.cp.RegenerateRegistryCredential(f.ctx, reader, id, "password")
	f.wantErr(err, controlplane.ErrForbidden, "AuthorizationFailed")
	_, err = f.cp.ListRegistryCredentials(f.ctx, stranger, id)
	f.wantErr(err, controlplane.ErrNotFound, "SubscriptionNotFound")
	_, err = f.cp.ListRegistryCredentials(f.ctx, owner, f.id(group+"/providers/Microsoft.ContainerRegistry/registries/absent"))
	f.wantErr(err, controlplane.ErrNotFound, "ResourceNotFound")
	f.mustPut(owner, identity, "", "", "", true)
	_, err = f.cp.ListRegistryCredentials(f.ctx, owner, f.id(identity))
	f.wantErr(err, controlplane.ErrBadRequest, "InvalidResourceType")
	_, err = f.cp.ListRegistryCredentials(f.ctx, owner, f.id(group+"/providers/Microsoft.Nope/things/x"))
	f.wantErr(err, controlplane.ErrBadRequest, "InvalidResourceType")
	stored, _ = f.meta.ListRegistryPasswords(f.ctx, "myregistry")
	if len(stored) != 1 || stored[0].Name != "password2" {
		t.Fatalf("refused requests changed the passwords: %+v", stored)
	}
}
