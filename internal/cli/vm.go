package cli

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/berthhq/berth/internal/imds"
	"github.com/berthhq/berth/internal/resourcetype"
)

// VMCreate are berth vm create's options. AssignIdentity and Identities
// are --assign-identity and its ids: alone it assigns the system
// identity, with ids those user-assigned ones ("[system]" among them the
// system one too).
type VMCreate struct {
	Name, Group, Location, Image, Size string
	AssignIdentity                     bool
	Identities                         []string
	CredentialFile                     string
}

// systemIdentity is the cloud CLI's name for the system identity among
// user-assigned identities' ids.
const systemIdentity = "[system]"

// splitIdentities reads a list of identities as the cloud CLI does: none
// means the system identity.
func splitIdentities(ids []string) (system bool, user []string) {
	for _, id := range ids {
		if strings.EqualFold(id, systemIdentity) {
			system = true
		} else {
			user = append(user, id)
		}
	}
	return system || len(ids) == 0, user
}

// imageAliases are the cloud CLI's image aliases berth knows, as the
// publisher:offer:sku:version they stand for.
var imageAliases = map[string]string{
	"ubuntu2204": "Canonical:0001-com-ubuntu-server-jammy:22_04-lts-gen2:latest",
	"ubuntu2404": "Canonical:ubuntu-24_04-lts:server:latest",
	"debian12":   "Debian:debian-12:12-gen2:latest",
}

// imageReference is --image as the storage profile's image reference: an
// image's resource id, a URN (publisher:offer:sku:version), or an alias.
func imageReference(image string) (map[string]any, error) {
	if strings.HasPrefix(strings.ToLower(image), "/subscriptions/") {
		return map[string]any{"id": image}, nil
	}
	if urn, ok := imageAliases[strings.ToLower(image)]; ok {
		image = urn
	}
	parts := strings.Split(image, ":")
	if len(parts) != 4 || slices.Contains(parts, "") {
		return nil, fmt.Errorf("--image %q: give an image's resource id, publisher:offer:sku:version, or one of Ubuntu2204, Ubuntu2404, Debian12", image)
	}
	return map[string]any{"publisher": parts[0], "offer": parts[1], "sku": parts[2], "version": parts[3]}, nil
}

// vmIdentityBlock is the identity block a PUT sends for a system identity
// and a set of user-assigned ones.
func vmIdentityBlock(system bool, user []string) map[string]any {
	var types []string
	if system {
		types = append(types, "SystemAssigned")
	}
	if len(user) > 0 {
		types = append(types, "UserAssigned")
	}
	if len(types) == 0 {
		return map[string]any{"type": "None"}
	}
	block := map[string]any{"type": strings.Join(types, ", ")}
	if len(user) > 0 {
		ua := map[string]any{}
		for _, id := range user {
			ua[id] = map[string]any{}
		}
		block["userAssignedIdentities"] = ua
	}
	return block
}

// CreateVM creates a virtual machine, issues its machine credential and
// writes it, with the server and CA the metadata agent needs, to the
// credential file. It returns the machine as the cloud CLI prints a new
// one.
func (m *Management) CreateVM(ctx context.Context, o VMCreate) (Object, error) {
	if o.Name == "" || o.Group == "" {
		return nil, errors.New("--name and --resource-group are required")
	}
	if o.CredentialFile == "" {
		o.CredentialFile = o.Name + ".credential.json"
	}
	props := map[string]any{}
	if o.Size != "" {
		props["hardwareProfile"] = map[string]any{"vmSize": o.Size}
	}
	if o.Image != "" {
		ref, err := imageReference(o.Image)
		if err != nil {
			return nil, err
		}
		props["storageProfile"] = map[string]any{"imageReference": ref}
	}
	if o.Location == "" {
		var err error
		if o.Location, err = m.groupLocation(ctx, o.Group); err != nil {
			return nil, err
		}
	}
	body := map[string]any{"location": o.Location, "properties": props}
	if o.AssignIdentity {
		body["identity"] = vmIdentityBlock(splitIdentities(o.Identities))
	}
	path, err := m.resourcePath(o.Group, resourcetype.VirtualMachine, o.Name)
	if err != nil {
		return nil, err
	}
	var vm Object
	if err := m.do(ctx, http.MethodPut, path, vmAPI, nil, body, &vm); err != nil {
		return nil, err
	}
	if err := m.writeMachineCredential(ctx, vm.str("id"), o.CredentialFile); err != nil {
		return nil, fmt.Errorf("the machine %s was created, but its credential was not saved (%w); run 'berth vm credential reset' for a new one", vm.str("id"), err)
	}
	out := Object{"id": vm.str("id"), "location": vm.str("location"), "resourceGroup": ResourceGroupOf(vm.str("id")),
		"credentialFile": o.CredentialFile}
	if props, ok := vm["properties"].(map[string]any); ok {
		out["vmId"] = props["vmId"]
	}
	if ident, ok := vm["identity"].(map[string]any); ok {
		out["identity"] = assignedIdentities(ident)
	}
	return out, nil
}

// writeMachineCredential issues the machine a new credential, which
// retires the one it had, and writes it with the server and CA as berth
// imds reads it.
func (m *Management) writeMachineCredential(ctx context.Context, vmID, file string) error {
	var c imds.CredentialFile
	if err := m.do(ctx, http.MethodPost, vmID+"/generateMachineCredential", vmAPI, nil, nil, &c); err != nil {
		return err
	}
	c.Server, c.CA = m.p.Server, m.p.CACert
	if err := os.MkdirAll(filepath.Dir(file), 0o700); err != nil {
		return err
	}
	return c.Save(file)
}

// ResetVMCredential issues a machine a new credential into file; the
// agent running with the old one gets no more tokens.
func (m *Management) ResetVMCredential(ctx context.Context, name, group, file string) (Object, error) {
	id, err := m.resourcePath(group, resourcetype.VirtualMachine, name)
	if err != nil {
		return nil, err
	}
	if err := m.writeMachineCredential(ctx, id, file); err != nil {
		return nil, err
	}
	return Object{"id": id, "credentialFile": file}, nil
}

// ShowVM gets a virtual machine.
func (m *Management) ShowVM(ctx context.Context, name, group string) (Object, error) {
	return m.showResource(ctx, group, resourcetype.VirtualMachine, name, vmAPI)
}

// DeleteVM deletes a virtual machine; its system-assigned identity goes
// with it.
func (m *Management) DeleteVM(ctx context.Context, name, group string) error {
	return m.deleteResource(ctx, group, resourcetype.VirtualMachine, name, vmAPI)
}

// vmIdentity reads a machine's identity as what a PUT would set: whether
// it has a system identity, and its user-assigned identities' ids.
func (m *Management) vmIdentity(ctx context.Context, path string) (bool, []string, error) {
	var vm struct {
		Identity struct {
			Type                   string         `json:"type"`
			UserAssignedIdentities map[string]any `json:"userAssignedIdentities"`
		} `json:"identity"`
	}
	if err := m.do(ctx, http.MethodGet, path, vmAPI, nil, nil, &vm); err != nil {
		return false, nil, err
	}
	var user []string
	for id := range vm.Identity.UserAssignedIdentities {
		user = append(user, id)
	}
	slices.Sort(user)
	return strings.Contains(strings.ToLower(vm.Identity.Type), "systemassigned"), user, nil
}

// AssignVMIdentity adds identities to a machine: the system-assigned one
// when ids is empty, else the user-assigned ones ids names (see
// VMCreate.AssignIdentity). It returns
// what the cloud CLI prints: the system identity's principal and the
// user-assigned identities.
func (m *Management) AssignVMIdentity(ctx context.Context, name, group string, ids []string) (Object, error) {
	return m.changeVMIdentity(ctx, name, group, ids, true)
}

// RemoveVMIdentity takes identities from a machine: the system-assigned
// one when ids is empty, else the user-assigned ones ids names. It
// returns the machine's remaining identity block (nil when none is left).
func (m *Management) RemoveVMIdentity(ctx context.Context, name, group string, ids []string) (Object, error) {
	return m.changeVMIdentity(ctx, name, group, ids, false)
}

func (m *Management) changeVMIdentity(ctx context.Context, name, group string, ids []string, add bool) (Object, error) {
	path, err := m.resourcePath(group, resourcetype.VirtualMachine, name)
	if err != nil {
		return nil, err
	}
	system, user, err := m.vmIdentity(ctx, path)
	if err != nil {
		return nil, err
	}
	wantSystem, named := splitIdentities(ids)
	if add {
		system = system || wantSystem
		for _, id := range named {
			if !slices.ContainsFunc(user, func(u string) bool { return strings.EqualFold(u, id) }) {
				user = append(user, id)
			}
		}
	} else {
		if wantSystem && !system {
			return nil, fmt.Errorf("the machine %s has no system-assigned identity", name)
		}
		system = system && !wantSystem
		for _, id := range named {
			i := slices.IndexFunc(user, func(u string) bool { return strings.EqualFold(u, id) })
			if i < 0 {
				return nil, fmt.Errorf("the identity %s is not assigned to the machine %s", id, name)
			}
			user = slices.Delete(user, i, i+1)
		}
	}
	var vm Object
	if err := m.do(ctx, http.MethodPut, path, vmAPI, nil, map[string]any{"identity": vmIdentityBlock(system, user)}, &vm); err != nil {
		return nil, err
	}
	ident, _ := vm["identity"].(map[string]any)
	if add {
		return assignedIdentities(ident), nil
	}
	return ident, nil
}

// ShowVMIdentity gets a machine's identity block (nil when it has none).
func (m *Management) ShowVMIdentity(ctx context.Context, name, group string) (Object, error) {
	vm, err := m.ShowVM(ctx, name, group)
	if err != nil {
		return nil, err
	}
	ident, _ := vm["identity"].(map[string]any)
	return ident, nil
}

// assignedIdentities is the cloud CLI's summary of an identity block, as
// vm create and vm identity assign print it.
func assignedIdentities(ident map[string]any) Object {
	out := Object{"systemAssignedIdentity": "", "userAssignedIdentities": map[string]any{}}
	if pid, ok := ident["principalId"].(string); ok {
		out["systemAssignedIdentity"] = pid
	}
	if ua, ok := ident["userAssignedIdentities"].(map[string]any); ok {
		out["userAssignedIdentities"] = ua
	}
	return out
}
