package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"slices"
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
	// ServiceAccountToken and ServiceAccountAnnotations are the pulling
	// pod's service account's token and annotations, sent when the
	// provider's configuration asks for them (tokenAttributes).
	ServiceAccountToken       string            `json:"serviceAccountToken,omitempty"`
	ServiceAccountAnnotations map[string]string `json:"serviceAccountAnnotations,omitempty"`
}

// The service account annotations of workload identity.
const (
	annotationClientID = "azure.workload.identity/client-id"
	annotationTenantID = "azure.workload.identity/tenant-id"
)

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
	case n.actsAsApplication() && n.AADClientSecret != "":
		err = fmt.Errorf("aadClientSecret with useManagedIdentityExtension and the application %s: the kubelet identity's token stands for the application, which needs no secret (remove aadClientSecret), or the node pulls as the kubelet identity (aadClientId msi)", n.AADClientID)
	case n.RegistryTenantID != "" && !n.actsAsApplication():
		err = errors.New("registryTenantId without an application that the kubelet identity acts as (useManagedIdentityExtension with aadClientId an application's client id)")
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

// ProvideCredentials answers a kubelet's request for image as the cloud's
// provider does (docs/wire.md, "Kubernetes"): for a registry of berth's, in
// service principal mode the application's id and secret (the node file
// holds them already; the registry checks them on every pull, in its own
// tenant, through the service principal consented there), in managed
// identity mode a registry refresh token as the null user's password,
// from a token of the kubelet's identity at the metadata endpoint. For
// any other image, no credentials. Credentials the registry refuses for
// the image's repository are an error, not an answer: the kubelet caches
// no failure, so a role assignment made later takes effect at the next
// pull, and the node's log says why.
//
// In managed identity mode with aadClientId an application's client id
// rather than msi, the node acts as that application through the kubelet
// identity: the identity's token for the token exchange audience, from the
// metadata endpoint, is the application's client assertion in the
// registries' tenant (registryTenantId, else tenantId), where the
// application was consented; no secret is on the node. Its token is
// exchanged for a registry refresh token.
//
// With the pod's service account token in the request, the pod pulls as
// its own identity, not the node's: the application its service account
// names (annotation azure.workload.identity/client-id) gets a token with
// that service account token as its federated client assertion, and that
// token is exchanged for a registry refresh token.
func ProvideCredentials(ctx context.Context, n *NodeConfig, req CredentialProviderRequest) (CredentialProviderResponse, error) {
	image := req.Image
	out := CredentialProviderResponse{APIVersion: CredentialProviderAPI, Kind: kindResponse, CacheKeyType: "Registry", Auth: map[string]AuthConfig{}}
	host, name, ok := registryOf(image, n.RegistrySuffix)
	if !ok {
		// Nothing to cache: another provider or none serves this image.
		out.CacheDuration = "0s"
		return out, nil
	}
	loginServer := name + "." + n.RegistrySuffix
	p := &Profile{Server: n.BerthServer, CACert: n.BerthCA, TenantID: n.TenantID}
	if req.ServiceAccountToken != "" {
		clientID := req.ServiceAccountAnnotations[annotationClientID]
		if clientID == "" {
			return out, fmt.Errorf("credentials for %s: the pod's service account has no %s annotation", host, annotationClientID)
		}
		if t := req.ServiceAccountAnnotations[annotationTenantID]; t != "" {
			p.TenantID = t
		}
		p.User, p.FederatedToken = User{Name: clientID, Type: "servicePrincipal"}, req.ServiceAccountToken
		return p.refreshTokenAnswer(ctx, out, host, loginServer)
	}
	if !n.UseManagedIdentityExtension {
		auth := AuthConfig{Username: n.AADClientID, Password: n.AADClientSecret}
		if err := p.checkPull(ctx, loginServer, repositoryOf(image), auth); err != nil {
			return out, fmt.Errorf("credentials for %s: %w", host, err)
		}
		out.CacheDuration = maxCacheDuration.String()
		out.Auth[host] = auth
		return out, nil
	}
	if n.actsAsApplication() {
		if n.RegistryTenantID != "" {
			p.TenantID = n.RegistryTenantID
		}
		p.User, p.AssertionIdentity = User{Name: n.AADClientID, Type: "servicePrincipal"}, n.managedIdentity()
		return p.refreshTokenAnswer(ctx, out, host, loginServer)
	}
	// A managed identity exists in one tenant only: registries of other
	// tenants are out of its reach.
	p.ManagedIdentity = n.managedIdentity()
	return p.refreshTokenAnswer(ctx, out, host, loginServer)
}

// actsAsApplication reports whether the node acts as an application
// through the kubelet identity: a managed identity node file whose client
// id is an application's, not msi.
func (n *NodeConfig) actsAsApplication() bool {
	return n.UseManagedIdentityExtension && n.AADClientID != "" && n.AADClientID != msiClientID
}

// managedIdentity is the node's managed identity as the metadata endpoint
// is asked for it: the kubelet identity the file names, else the only one.
func (n *NodeConfig) managedIdentity() *ManagedIdentity {
	mi := &ManagedIdentity{}
	if id := n.UserAssignedIdentityID; id != "" {
		mi.Param, mi.ID = "client_id", id
		if strings.Contains(strings.ToLower(id), "/subscriptions/") {
			mi.Param = "msi_res_id"
		}
	}
	return mi
}

// Token gets a token for resource as the node file's identity, for a
// cluster component that calls berth (berth mic): with the service
// principal's secret, or the managed identity's token from the machine's
// metadata endpoint. Nothing is cached or saved: a component running for
// days keeps its tokens in memory, and a node has no login to write to.
func (n *NodeConfig) Token(ctx context.Context, resource string) (CachedToken, error) {
	return n.profile().fetchToken(ctx, resource)
}

// HTTPClient is a client that trusts berth's CA as the node file holds it.
func (n *NodeConfig) HTTPClient() (*http.Client, error) { return n.profile().HTTPClient() }

func (n *NodeConfig) profile() *Profile {
	p := &Profile{Server: n.BerthServer, CACert: n.BerthCA, TenantID: n.TenantID}
	if n.UseManagedIdentityExtension {
		p.ManagedIdentity = n.managedIdentity()
	} else {
		p.User, p.Secret = User{Name: n.AADClientID, Type: "servicePrincipal"}, n.AADClientSecret
	}
	return p
}

// refreshTokenAnswer answers with a registry refresh token for the
// profile's identity, as the null user's password.
func (p *Profile) refreshTokenAnswer(ctx context.Context, out CredentialProviderResponse, host, loginServer string) (CredentialProviderResponse, error) {
	login, err := p.exchange(ctx, loginServer, func(ctx context.Context) (string, error) {
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

// repositoryOf is an image's repository: what follows the host, without
// the tag or digest.
func repositoryOf(image string) string {
	_, rest, _ := strings.Cut(image, "/")
	if i := strings.IndexByte(rest, '@'); i >= 0 {
		rest = rest[:i]
	}
	if i := strings.LastIndexByte(rest, ':'); i > strings.LastIndexByte(rest, '/') {
		rest = rest[:i]
	}
	return rest
}

// checkPull asks the registry's token endpoint, with Basic credentials,
// for a pull token of the repository: the answer says whether the pull
// would be let through, and if not, why.
func (p *Profile) checkPull(ctx context.Context, loginServer, repository string, auth AuthConfig) error {
	rc, err := p.registryClient(loginServer)
	if err != nil {
		return err
	}
	q := url.Values{"service": {loginServer}, "scope": {"repository:" + repository + ":pull"}}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rc.scheme+"://"+rc.address(loginServer)+"/oauth2/token?"+q.Encode(), nil)
	if err != nil {
		return err
	}
	req.SetBasicAuth(auth.Username, auth.Password)
	resp, err := rc.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var body struct {
		AccessToken string `json:"access_token"`
		Errors      []struct {
			Message string `json:"message"`
		} `json:"errors"`
	}
	json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&body)
	if resp.StatusCode != http.StatusOK {
		msg := resp.Status
		if len(body.Errors) > 0 {
			msg += ": " + body.Errors[0].Message
		}
		return fmt.Errorf("the registry refuses %s: %s", auth.Username, msg)
	}
	if !tokenGrants(body.AccessToken, repository, "pull") {
		return fmt.Errorf("the registry refuses %s: no role assignment grants pull on %s", auth.Username, repository)
	}
	return nil
}

// tokenGrants reads (without verifying: the registry did) whether an
// access token carries an action on a repository.
func tokenGrants(token, repository, action string) bool {
	var c struct {
		Access []struct {
			Type, Name string
			Actions    []string
		} `json:"access"`
	}
	if unverifiedClaims(token, &c) != nil {
		return false
	}
	for _, a := range c.Access {
		if a.Type == "repository" && a.Name == repository && slices.Contains(a.Actions, action) {
			return true
		}
	}
	return false
}

// cacheDuration is how long the kubelet may use a refresh token: half its
// remaining life (it must not expire in the cache), at most
// maxCacheDuration. Its expiry is read, not verified: the registry
// verifies the token.
func cacheDuration(refreshToken string, now time.Time) time.Duration {
	var c struct {
		Exp int64 `json:"exp"`
	}
	if unverifiedClaims(refreshToken, &c) != nil || c.Exp == 0 {
		return 0
	}
	d := time.Unix(c.Exp, 0).Sub(now) / 2
	d = min(d, maxCacheDuration).Truncate(time.Second)
	return max(d, 0)
}
