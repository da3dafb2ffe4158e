package cli

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"regexp"
	"strings"
	"time"
)

// The kubelet credential provider protocol's names.
const (
	CredentialProviderAPI = "credentialprovider.kubelet.k8s.io/v1"
	kindRequest           = "CredentialProviderRequest"
	kindResponse          = "CredentialProviderResponse"
)

// CredentialProviderRequest is what the kubelet writes to a provider's
// stdin.
type CredentialProviderRequest struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Image      string `json:"image"`
}

// CredentialProviderResponse is what a provider answers on stdout.
type CredentialProviderResponse struct {
	APIVersion    string                `json:"apiVersion"`
	Kind          string                `json:"kind"`
	CacheKeyType  string                `json:"cacheKeyType"`
	CacheDuration string                `json:"cacheDuration,omitempty"`
	Auth          map[string]AuthConfig `json:"auth"`
}

// AuthConfig is one registry's credentials in a response.
type AuthConfig struct {
	Username string `json:"username"`
	Password string `json:"password"`
}

// maxCacheDuration bounds how long the kubelet keeps credentials: a
// removed role assignment then stops pulls on nodes within it.
const maxCacheDuration = time.Hour

// LoadNodeConfig reads a node file (berth aks get-node-config).
func LoadNodeConfig(path string) (*NodeConfig, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var n NodeConfig
	if err := json.Unmarshal(b, &n); err != nil {
		return nil, fmt.Errorf("node file %s: %w", path, err)
	}
	switch {
	case n.BerthServer == "":
		err = errors.New("no berthServer")
	case n.TenantID == "":
		err = errors.New("no tenantId")
	case n.RegistrySuffix == "":
		err = errors.New("no registrySuffix")
	case !n.UseManagedIdentityExtension && (n.AADClientID == "" || n.AADClientSecret == ""):
		err = errors.New("neither aadClientId with aadClientSecret nor useManagedIdentityExtension")
	}
	if err != nil {
		return nil, fmt.Errorf("node file %s: %w", path, err)
	}
	return &n, nil
}

var registryLabel = regexp.MustCompile(`^[a-z0-9]{1,50}$`)

// registryOf finds which of berth's registries an image is in: its host
// must be exactly <name>.<suffix>, with an optional port, and the rest of
// the image empty or a path. host is the image's host as written, which
// the kubelet matches credentials by.
func registryOf(image, suffix string) (host, name string, ok bool) {
	host, _, _ = strings.Cut(image, "/")
	h := host
	if hh, port, err := net.SplitHostPort(host); err == nil {
		if port == "" || strings.Trim(port, "0123456789") != "" {
			return "", "", false
		}
		h = hh
	}
	label, found := strings.CutSuffix(strings.ToLower(h), "."+strings.ToLower(suffix))
	if !found || !registryLabel.MatchString(label) {
		return "", "", false
	}
	return host, label, true
}

// ProvideCredentials answers a kubelet's request for image: for a registry
// of berth's, a registry refresh token as the null user's password, made
// from a directory token of the node's identity (the service principal
// from the registry's tenant, or the kubelet's managed identity from the
// metadata endpoint); for any other image, no credentials. A principal
// the registry refuses gets an error, not credentials: the kubelet does
// not cache a failure, so a role assignment made later takes effect at
// the next pull.
func ProvideCredentials(ctx context.Context, n *NodeConfig, image string) (CredentialProviderResponse, error) {
	out := CredentialProviderResponse{APIVersion: CredentialProviderAPI, Kind: kindResponse, CacheKeyType: "Registry", Auth: map[string]AuthConfig{}}
	host, name, ok := registryOf(image, n.RegistrySuffix)
	if !ok {
		// Nothing to cache: another provider or none serves this image.
		out.CacheDuration = "0s"
		return out, nil
	}
	p := &Profile{Server: n.BerthServer, CACert: n.BerthCA, TenantID: n.TenantID}
	if n.UseManagedIdentityExtension {
		// A managed identity exists in one tenant only: registries of
		// other tenants are out of its reach.
		p.ManagedIdentity = &ManagedIdentity{}
		if id := n.UserAssignedIdentityID; id != "" {
			p.ManagedIdentity.Param, p.ManagedIdentity.ID = "client_id", id
			if strings.Contains(strings.ToLower(id), "/subscriptions/") {
				p.ManagedIdentity.Param = "msi_res_id"
			}
		}
	} else {
		p.User.Name, p.Secret = n.AADClientID, n.AADClientSecret
		if t := n.RegistryTenants[name]; t != "" {
			p.TenantID = t
		}
	}
	login, err := p.exchange(ctx, name+"."+n.RegistrySuffix, func(ctx context.Context) (string, error) {
		tok, err := p.fetchToken(ctx, RegistryResource)
		return tok.AccessToken, err
	})
	if err != nil {
		return out, fmt.Errorf("credentials for %s in tenant %s: %w", host, p.TenantID, err)
	}
	out.CacheDuration = cacheDuration(login.RefreshToken, time.Now()).String()
	out.Auth[host] = AuthConfig{Username: NullUser, Password: login.RefreshToken}
	return out, nil
}

// cacheDuration is how long the kubelet may use a refresh token: half its
// remaining life (it must not expire in the cache), at most
// maxCacheDuration. Its expiry is read, not verified: the registry
// verifies the token.
func cacheDuration(refreshToken string, now time.Time) time.Duration {
	parts := strings.Split(refreshToken, ".")
	if len(parts) != 3 {
		return 0
	}
	payload, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
	if err != nil {
		return 0
	}
	var c struct {
		Exp int64 `json:"exp"`
	}
	if json.Unmarshal(payload, &c) != nil || c.Exp == 0 {
		return 0
	}
	d := time.Unix(c.Exp, 0).Sub(now) / 2
	d = min(d, maxCacheDuration).Truncate(time.Second)
	return max(d, 0)
}
