package cli

import (
	"context"
	"errors"
	"net/http"

	"github.com/berthhq/berth/internal/federation"
	"github.com/berthhq/berth/internal/resourcetype"
)

var identityFederatedAPI = resourcetype.StableAPIVersion(resourcetype.FederatedIdentityCredential)

// IdentityFederatedCredential is what the identity federated-credential
// commands set: empty fields and no audiences keep what the credential
// has (on update) or take the defaults (on create).
type IdentityFederatedCredential struct {
	Identity, Group, Name string
	// IdentityID names the identity by resource id instead of Identity
	// and Group, for identities of any subscription.
	IdentityID      string
	Issuer, Subject string
	Audiences       []string
}

func (m *Management) identityFederatedPath(identity, group, name string) (string, error) {
	if identity == "" || group == "" {
		return "", errors.New("--identity-name and --resource-group are required")
	}
	p, err := m.resourcePath(group, resourcetype.Identity, identity)
	if err != nil {
		return "", err
	}
	p += "/federatedIdentityCredentials"
	if name != "" {
		p += "/" + esc(name)
	}
	return p, nil
}

// CreateIdentityFederatedCredential adds a federated identity credential
// to a user-assigned identity; the audience is the token exchange's
// unless given, as in the cloud CLI.
func (m *Management) CreateIdentityFederatedCredential(ctx context.Context, in IdentityFederatedCredential) (Object, error) {
	if in.Issuer == "" || in.Subject == "" {
		return nil, errors.New("--issuer and --subject are required")
	}
	if len(in.Audiences) == 0 {
		in.Audiences = []string{federation.DefaultAudience}
	}
	return m.putIdentityFederated(ctx, in)
}

// UpdateIdentityFederatedCredential changes what in gives of an existing
// federated identity credential.
func (m *Management) UpdateIdentityFederatedCredential(ctx context.Context, in IdentityFederatedCredential) (Object, error) {
	old, err := m.ShowIdentityFederatedCredential(ctx, in.Identity, in.Group, in.Name)
	if err != nil {
		return nil, err
	}
	if in.Issuer == "" {
		in.Issuer = old.str("issuer")
	}
	if in.Subject == "" {
		in.Subject = old.str("subject")
	}
	if len(in.Audiences) == 0 {
		auds, _ := old["audiences"].([]any)
		for _, a := range auds {
			if s, ok := a.(string); ok {
				in.Audiences = append(in.Audiences, s)
			}
		}
	}
	return m.putIdentityFederated(ctx, in)
}

func (m *Management) putIdentityFederated(ctx context.Context, in IdentityFederatedCredential) (Object, error) {
	if in.Name == "" {
		return nil, errors.New("--name is required")
	}
	path := in.IdentityID + "/federatedIdentityCredentials/" + esc(in.Name)
	if in.IdentityID == "" {
		var err error
		if path, err = m.identityFederatedPath(in.Identity, in.Group, in.Name); err != nil {
			return nil, err
		}
	}
	body := map[string]any{"properties": map[string]any{"issuer": in.Issuer, "subject": in.Subject, "audiences": in.Audiences}}
	var out Object
	if err := m.do(ctx, http.MethodPut, path, identityFederatedAPI, nil, body, &out); err != nil {
		return nil, err
	}
	return flatten(out), nil
}

// ShowIdentityFederatedCredential gets one of an identity's federated
// identity credentials.
func (m *Management) ShowIdentityFederatedCredential(ctx context.Context, identity, group, name string) (Object, error) {
	if name == "" {
		return nil, errors.New("--name is required")
	}
	path, err := m.identityFederatedPath(identity, group, name)
	if err != nil {
		return nil, err
	}
	var out Object
	if err := m.do(ctx, http.MethodGet, path, identityFederatedAPI, nil, nil, &out); err != nil {
		return nil, err
	}
	return flatten(out), nil
}

// ListIdentityFederatedCredentials lists an identity's federated identity
// credentials.
func (m *Management) ListIdentityFederatedCredentials(ctx context.Context, identity, group string) ([]Object, error) {
	path, err := m.identityFederatedPath(identity, group, "")
	if err != nil {
		return nil, err
	}
	return flattenAll(m.list(ctx, path, identityFederatedAPI, nil))
}

// DeleteIdentityFederatedCredential deletes one of an identity's
// federated identity credentials.
func (m *Management) DeleteIdentityFederatedCredential(ctx context.Context, identity, group, name string) error {
	if name == "" {
		return errors.New("--name is required")
	}
	path, err := m.identityFederatedPath(identity, group, name)
	if err != nil {
		return err
	}
	return m.do(ctx, http.MethodDelete, path, identityFederatedAPI, nil, nil, nil)
}
