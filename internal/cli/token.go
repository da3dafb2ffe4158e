package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// ManagementResource is the default audience, as in the cloud CLI.
const ManagementResource = "https://management.core.windows.net/"

// TokenExchangeResource is the audience of a managed identity's token
// that an application's federated credential trusts: the identity's
// assertion, not a token any API accepts.
const TokenExchangeResource = "api://AzureADTokenExchange"

// RegistryResource is the registries' audience at the token service.
// Nodes ask for it rather than the management resource: their tokens
// then open registries and nothing else.
const RegistryResource = "https://containerregistry.azure.net"

// refreshBefore renews a cached token this long before it expires.
const refreshBefore = 5 * time.Minute

// tokenError is the token service's error body.
type tokenError struct {
	Error       string `json:"error"`
	Description string `json:"error_description"`
}

// fetchToken gets a new token for resource: from the metadata endpoint
// for a managed identity, else by a client credentials grant at the v2
// endpoint, with the secret, the federated token, or the assertion
// identity's token exchange token from the metadata endpoint. Every command gets its tokens through here (by Token), so
// that each works with every kind of login.
func (p *Profile) fetchToken(ctx context.Context, resource string) (CachedToken, error) {
	if p.ManagedIdentity != nil {
		return fetchMSIToken(ctx, *p.ManagedIdentity, resource)
	}
	client, err := p.HTTPClient()
	if err != nil {
		return CachedToken{}, err
	}
	form := url.Values{
		"grant_type":    {"client_credentials"},
		"client_id":     {p.User.Name},
		"client_secret": {p.Secret},
		"scope":         {resource + "/.default"},
	}
	assertion := p.FederatedToken
	if p.AssertionIdentity != nil {
		tok, err := fetchMSIToken(ctx, *p.AssertionIdentity, TokenExchangeResource)
		if err != nil {
			return CachedToken{}, fmt.Errorf("the managed identity's assertion for %s: %w", p.User.Name, err)
		}
		assertion = tok.AccessToken
	}
	if assertion != "" {
		form.Del("client_secret")
		form.Set("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
		form.Set("client_assertion", assertion)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.Server+"/"+p.TenantID+"/oauth2/v2.0/token", strings.NewReader(form.Encode()))
	if err != nil {
		return CachedToken{}, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := client.Do(req)
	if err != nil {
		return CachedToken{}, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return CachedToken{}, err
	}
	if resp.StatusCode != http.StatusOK {
		var te tokenError
		if json.Unmarshal(body, &te) == nil && te.Description != "" {
			// The first line carries the AADSTS code and message; the
			// trace lines are for the server's logs.
			return CachedToken{}, fmt.Errorf("%s", strings.SplitN(te.Description, "\r\n", 2)[0])
		}
		return CachedToken{}, fmt.Errorf("token request: %s", resp.Status)
	}
	var ok struct {
		AccessToken string `json:"access_token"`
		ExpiresIn   int    `json:"expires_in"`
	}
	if err := json.Unmarshal(body, &ok); err != nil || ok.AccessToken == "" {
		return CachedToken{}, fmt.Errorf("token response: %v", err)
	}
	return CachedToken{AccessToken: ok.AccessToken, ExpiresOn: time.Now().Add(time.Duration(ok.ExpiresIn) * time.Second)}, nil
}

// Token returns a token for resource from the cache, renewing it (and
// saving the profile) when it is about to expire.
func (p *Profile) Token(ctx context.Context, resource string) (CachedToken, error) {
	if t, ok := p.Tokens[resource]; ok && time.Until(t.ExpiresOn) > refreshBefore {
		return t, nil
	}
	t, err := p.fetchToken(ctx, resource)
	if err != nil {
		return t, err
	}
	if p.Tokens == nil {
		p.Tokens = map[string]CachedToken{}
	}
	p.Tokens[resource] = t
	return t, p.Save()
}
