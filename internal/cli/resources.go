package cli

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/berthhq/berth/internal/resourcetype"
)

// ResourceGroupOf is the resource group named in a resource id.
func ResourceGroupOf(id string) string {
	parts := strings.Split(id, "/")
	for i := 0; i+1 < len(parts); i++ {
		if strings.EqualFold(parts[i], "resourceGroups") {
			return parts[i+1]
		}
	}
	return ""
}

// flatten lifts a resource's properties to the top level and adds its
// resource group, which is how the cloud CLI prints registries and
// identities (so that --query loginServer works).
func flatten(o Object) Object {
	out := Object{}
	for k, v := range o {
		if k != "properties" {
			out[k] = v
		}
	}
	if props, ok := o["properties"].(map[string]any); ok {
		for k, v := range props {
			out[k] = v
		}
	}
	if rg := ResourceGroupOf(out.str("id")); rg != "" {
		out["resourceGroup"] = rg
	}
	return out
}

// Groups.

func (m *Management) groupPath(name string) (string, error) {
	sub, err := m.Subscription()
	if err != nil {
		return "", err
	}
	return "/subscriptions/" + esc(sub) + "/resourcegroups/" + esc(name), nil
}

// CreateGroup creates or updates a resource group.
func (m *Management) CreateGroup(ctx context.Context, name, location string) (Object, error) {
	if name == "" || location == "" {
		return nil, errors.New("--name and --location are required")
	}
	path, err := m.groupPath(name)
	if err != nil {
		return nil, err
	}
	var out Object
	return out, m.do(ctx, http.MethodPut, path, resourcesAPI, nil, map[string]any{"location": location}, &out)
}

// ShowGroup gets a resource group.
func (m *Management) ShowGroup(ctx context.Context, name string) (Object, error) {
	path, err := m.groupPath(name)
	if err != nil {
		return nil, err
	}
	var out Object
	return out, m.do(ctx, http.MethodGet, path, resourcesAPI, nil, nil, &out)
}

// ListGroups lists the subscription's resource groups.
func (m *Management) ListGroups(ctx context.Context) ([]Object, error) {
	sub, err := m.Subscription()
	if err != nil {
		return nil, err
	}
	return m.list(ctx, "/subscriptions/"+esc(sub)+"/resourcegroups", resourcesAPI, nil)
}

// DeleteGroup deletes a resource group and everything in it.
func (m *Management) DeleteGroup(ctx context.Context, name string) error {
	path, err := m.groupPath(name)
	if err != nil {
		return err
	}
	return m.do(ctx, http.MethodDelete, path, resourcesAPI, nil, nil, nil)
}

// Resources in groups: registries and identities.

func (m *Management) resourcePath(group, typ, name string) (string, error) {
	sub, err := m.Subscription()
	if err != nil {
		return "", err
	}
	p := "/subscriptions/" + esc(sub) + "/resourceGroups/" + esc(group) + "/providers/" + typ
	if name != "" {
		p += "/" + esc(name)
	}
	return p, nil
}

// findResource finds a resource of a type by name in the subscription,
// for commands given no resource group, as the cloud CLI does.
func (m *Management) findResource(ctx context.Context, typ, name string) (string, error) {
	sub, err := m.Subscription()
	if err != nil {
		return "", err
	}
	found, err := m.list(ctx, "/subscriptions/"+esc(sub)+"/resources", resourcesAPI, filter("resourceType eq '"+typ+"'"))
	if err != nil {
		return "", err
	}
	for _, r := range found {
		if strings.EqualFold(r.str("name"), name) {
			return r.str("id"), nil
		}
	}
	return "", &ARMError{Status: http.StatusNotFound, Code: "ResourceNotFound",
		Message: fmt.Sprintf("The resource with name '%s' and type '%s' could not be found in subscription '%s'.", name, typ, sub)}
}

func (m *Management) resourceID(ctx context.Context, group, typ, name string) (string, error) {
	if group == "" {
		return m.findResource(ctx, typ, name)
	}
	return m.resourcePath(group, typ, name)
}

func (m *Management) listResources(ctx context.Context, group, typ, apiVersion string) ([]Object, error) {
	var path string
	if group == "" {
		sub, err := m.Subscription()
		if err != nil {
			return nil, err
		}
		path = "/subscriptions/" + esc(sub) + "/providers/" + typ
	} else {
		var err error
		if path, err = m.resourcePath(group, typ, ""); err != nil {
			return nil, err
		}
	}
	return flattenAll(m.list(ctx, path, apiVersion, nil))
}

func flattenAll(found []Object, err error) ([]Object, error) {
	if err != nil {
		return nil, err
	}
	out := make([]Object, len(found))
	for i, r := range found {
		out[i] = flatten(r)
	}
	return out, nil
}

// groupLocation is the default location of a new resource: its group's.
func (m *Management) groupLocation(ctx context.Context, group string) (string, error) {
	g, err := m.ShowGroup(ctx, group)
	if err != nil {
		return "", err
	}
	return g.str("location"), nil
}

// RegistryCreate are berth acr create's options.
type RegistryCreate struct {
	Name, Group, Location, SKU string
	AdminEnabled               bool
}

func validRegistryName(name string) error {
	ok := len(name) >= 5 && len(name) <= 50
	for _, c := range name {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9') {
			ok = false
		}
	}
	if !ok {
		return fmt.Errorf("Registry names may contain only alpha numeric characters and must be between 5 and 50 characters: %q", name)
	}
	return nil
}

// CreateRegistry creates a registry, in its group's location unless one
// is given.
func (m *Management) CreateRegistry(ctx context.Context, o RegistryCreate) (Object, error) {
	if o.Group == "" {
		return nil, errors.New("--resource-group is required")
	}
	if err := validRegistryName(o.Name); err != nil {
		return nil, err
	}
	if o.Location == "" {
		var err error
		if o.Location, err = m.groupLocation(ctx, o.Group); err != nil {
			return nil, err
		}
	}
	if o.SKU == "" {
		o.SKU = "Basic"
	}
	path, err := m.resourcePath(o.Group, resourcetype.Registry, o.Name)
	if err != nil {
		return nil, err
	}
	body := map[string]any{
		"location":   o.Location,
		"sku":        map[string]any{"name": o.SKU},
		"properties": map[string]any{"adminUserEnabled": o.AdminEnabled, "anonymousPullEnabled": false},
	}
	var out Object
	if err := m.do(ctx, http.MethodPut, path, registryAPI, nil, body, &out); err != nil {
		return nil, err
	}
	return flatten(out), nil
}

// ShowRegistry gets a registry, found in the subscription if group is
// empty.
func (m *Management) ShowRegistry(ctx context.Context, name, group string) (Object, error) {
	return m.showResource(ctx, group, resourcetype.Registry, name, registryAPI)
}

// ListRegistries lists the registries of a group or the subscription.
func (m *Management) ListRegistries(ctx context.Context, group string) ([]Object, error) {
	return m.listResources(ctx, group, resourcetype.Registry, registryAPI)
}

// DeleteRegistry deletes a registry.
func (m *Management) DeleteRegistry(ctx context.Context, name, group string) error {
	return m.deleteResource(ctx, group, resourcetype.Registry, name, registryAPI)
}

func (m *Management) showResource(ctx context.Context, group, typ, name, apiVersion string) (Object, error) {
	id, err := m.resourceID(ctx, group, typ, name)
	if err != nil {
		return nil, err
	}
	var out Object
	if err := m.do(ctx, http.MethodGet, id, apiVersion, nil, nil, &out); err != nil {
		return nil, err
	}
	return flatten(out), nil
}

func (m *Management) deleteResource(ctx context.Context, group, typ, name, apiVersion string) error {
	id, err := m.resourceID(ctx, group, typ, name)
	if err != nil {
		return err
	}
	return m.do(ctx, http.MethodDelete, id, apiVersion, nil, nil, nil)
}

// CreateIdentity creates a user-assigned managed identity in its group's
// location unless one is given.
func (m *Management) CreateIdentity(ctx context.Context, name, group, location string) (Object, error) {
	if name == "" || group == "" {
		return nil, errors.New("--name and --resource-group are required")
	}
	if location == "" {
		var err error
		if location, err = m.groupLocation(ctx, group); err != nil {
			return nil, err
		}
	}
	path, err := m.resourcePath(group, resourcetype.Identity, name)
	if err != nil {
		return nil, err
	}
	var out Object
	if err := m.do(ctx, http.MethodPut, path, identityAPI, nil, map[string]any{"location": location}, &out); err != nil {
		return nil, err
	}
	return flatten(out), nil
}

// ShowIdentity gets a user-assigned managed identity.
func (m *Management) ShowIdentity(ctx context.Context, name, group string) (Object, error) {
	return m.showResource(ctx, group, resourcetype.Identity, name, identityAPI)
}

// ListIdentities lists the identities of a group or the subscription.
func (m *Management) ListIdentities(ctx context.Context, group string) ([]Object, error) {
	return m.listResources(ctx, group, resourcetype.Identity, identityAPI)
}

// DeleteIdentity deletes a user-assigned managed identity.
func (m *Management) DeleteIdentity(ctx context.Context, name, group string) error {
	return m.deleteResource(ctx, group, resourcetype.Identity, name, identityAPI)
}
