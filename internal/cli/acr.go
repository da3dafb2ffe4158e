package cli

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/berthhq/berth/internal/pki"
	"github.com/berthhq/berth/internal/resourcetype"
)

// NullUser is the user name that tells a registry the password is a
// registry refresh token.
const NullUser = "00000000-0000-0000-0000-000000000000"

// ShowRegistryCredentials gets the admin user's name and password names.
func (m *Management) ShowRegistryCredentials(ctx context.Context, name, group string) (Object, error) {
	id, err := m.resourceID(ctx, group, resourcetype.Registry, name)
	if err != nil {
		return nil, err
	}
	var out Object
	return out, m.do(ctx, http.MethodPost, id+"/listCredentials", registryAPI, nil, nil, &out)
}

// RenewRegistryCredential replaces one admin password and returns the new
// one, the only time it is shown.
func (m *Management) RenewRegistryCredential(ctx context.Context, name, group, passwordName string) (Object, error) {
	id, err := m.resourceID(ctx, group, resourcetype.Registry, name)
	if err != nil {
		return nil, err
	}
	var out Object
	return out, m.do(ctx, http.MethodPost, id+"/regenerateCredential", registryAPI, nil, map[string]any{"name": passwordName}, &out)
}

// RegistryUpdate are berth acr update's options; nil leaves a setting as
// it is.
type RegistryUpdate struct {
	Name, Group          string
	AdminEnabled         *bool
	AnonymousPullEnabled *bool
}

// UpdateRegistry changes a registry's settings with a PATCH, as the cloud
// CLI's acr update does.
func (m *Management) UpdateRegistry(ctx context.Context, o RegistryUpdate) (Object, error) {
	id, err := m.resourceID(ctx, o.Group, resourcetype.Registry, o.Name)
	if err != nil {
		return nil, err
	}
	props := map[string]any{}
	if o.AdminEnabled != nil {
		props["adminUserEnabled"] = *o.AdminEnabled
	}
	if o.AnonymousPullEnabled != nil {
		props["anonymousPullEnabled"] = *o.AnonymousPullEnabled
	}
	var out Object
	if err := m.do(ctx, http.MethodPatch, id, registryAPI, nil, map[string]any{"properties": props}, &out); err != nil {
		return nil, err
	}
	return flatten(out), nil
}

// RegistryLogin is what logging in to a registry yields.
type RegistryLogin struct {
	LoginServer string
	// Address is what docker clients call the registry: the login server,
	// with berth's port unless it is the scheme's default.
	Address      string
	RefreshToken string
}

// LoginRegistry gets a registry refresh token for the logged-in principal
// the way the cloud CLI's acr login does: find the registry, meet its
// challenge, and exchange a management token for a refresh token.
func (m *Management) LoginRegistry(ctx context.Context, name string) (RegistryLogin, error) {
	reg, err := m.ShowRegistry(ctx, name, "")
	var notFound *ARMError
	if errors.As(err, &notFound) && notFound.Code == "ResourceNotFound" {
		// A principal that may only pull (AcrPull) cannot read the
		// registry resource; the cloud CLI then names the login server
		// by the cloud's suffix, and so does berth.
		suffix, serr := m.registrySuffix(ctx)
		if serr != nil {
			return RegistryLogin{}, err
		}
		l, xerr := m.exchange(ctx, strings.ToLower(name)+"."+suffix)
		if errors.Is(xerr, errUnknownRegistry) {
			return l, err
		}
		return l, xerr
	}
	if err != nil {
		return RegistryLogin{}, err
	}
	login := reg.str("loginServer")
	if login == "" {
		return RegistryLogin{}, fmt.Errorf("registry %s has no login server", name)
	}
	return m.exchange(ctx, login)
}

// errUnknownRegistry is a login server berth serves no registry at.
var errUnknownRegistry = errors.New("no registry answers at this address")

// registrySuffix is the login servers' DNS suffix, from the server's cloud
// metadata (the cloud's acrLoginServer suffix).
func (m *Management) registrySuffix(ctx context.Context) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, m.p.Server+"/metadata/endpoints?api-version=2022-09-01", nil)
	if err != nil {
		return "", err
	}
	resp, err := m.client.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var clouds []struct {
		Suffixes struct {
			ACRLoginServer string `json:"acrLoginServer"`
		} `json:"suffixes"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&clouds); err != nil || len(clouds) == 0 || clouds[0].Suffixes.ACRLoginServer == "" {
		return "", fmt.Errorf("the server's cloud metadata names no registry suffix (%s, %v)", resp.Status, err)
	}
	return strings.TrimPrefix(clouds[0].Suffixes.ACRLoginServer, "."), nil
}

func (m *Management) exchange(ctx context.Context, loginServer string) (RegistryLogin, error) {
	return m.p.exchange(ctx, loginServer, func(ctx context.Context) (string, error) {
		tok, err := m.p.Token(ctx, ManagementResource)
		return tok.AccessToken, err
	})
}

// exchange meets a registry's challenge and exchanges a directory token
// from token for a registry refresh token, in the profile's tenant.
func (p *Profile) exchange(ctx context.Context, loginServer string, token func(context.Context) (string, error)) (RegistryLogin, error) {
	rc, err := p.registryClient(loginServer)
	if err != nil {
		return RegistryLogin{}, err
	}
	out := RegistryLogin{LoginServer: loginServer, Address: rc.address(loginServer)}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rc.scheme+"://"+out.Address+"/v2/", nil)
	if err != nil {
		return out, err
	}
	resp, err := rc.client.Do(req)
	if err != nil {
		return out, err
	}
	resp.Body.Close()
	if resp.StatusCode == http.StatusNotFound {
		return out, fmt.Errorf("%w: %s", errUnknownRegistry, out.Address)
	}
	realm, service := challenge(resp.Header.Get("WWW-Authenticate"))
	if resp.StatusCode != http.StatusUnauthorized || realm == "" {
		return out, fmt.Errorf("%s did not answer with a Bearer challenge (%s): is it a registry?", out.Address, resp.Status)
	}
	// The exchange sends a directory token: only to the registry itself.
	ex, err := url.Parse(realm)
	if err != nil || !strings.EqualFold(ex.Hostname(), loginServer) {
		return out, fmt.Errorf("%s's challenge names another token service (%q)", out.Address, realm)
	}
	ex.Path, ex.RawQuery = "/oauth2/exchange", ""
	tok, err := token(ctx)
	if err != nil {
		return out, err
	}
	form := url.Values{"grant_type": {"access_token"}, "service": {service}, "tenant": {p.TenantID}, "access_token": {tok}}
	req, err = http.NewRequestWithContext(ctx, http.MethodPost, ex.String(), strings.NewReader(form.Encode()))
	if err != nil {
		return out, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err = rc.client.Do(req)
	if err != nil {
		return out, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return out, err
	}
	var ok struct {
		RefreshToken string `json:"refresh_token"`
		Errors       []struct {
			Message string `json:"message"`
		} `json:"errors"`
	}
	json.Unmarshal(body, &ok)
	if resp.StatusCode != http.StatusOK || ok.RefreshToken == "" {
		msg := resp.Status
		if len(ok.Errors) > 0 {
			msg += ": " + ok.Errors[0].Message
		}
		return out, fmt.Errorf("token exchange at %s: %s", out.Address, msg)
	}
	out.RefreshToken = ok.RefreshToken
	return out, nil
}

var challengeParam = regexp.MustCompile(`(\w+)="([^"]*)"`)

// challenge reads realm and service from a Bearer challenge.
func challenge(h string) (realm, service string) {
	rest, ok := strings.CutPrefix(h, "Bearer ")
	if !ok {
		return "", ""
	}
	for _, m := range challengeParam.FindAllStringSubmatch(rest, -1) {
		switch strings.ToLower(m[1]) {
		case "realm":
			realm = m[2]
		case "service":
			service = m[2]
		}
	}
	return realm, service
}

// RegistryAddress is how clients name a registry (see RegistryLogin).
func (m *Management) RegistryAddress(reg Object) (string, error) {
	login := reg.str("loginServer")
	if login == "" {
		return "", fmt.Errorf("registry %s has no login server", reg.str("name"))
	}
	e, err := m.p.registryClient(login)
	return e.address(login), err
}

// registryEndpoint reaches login servers at berth's own address.
type registryEndpoint struct {
	client *http.Client
	scheme string
	port   string // berth's port
}

// address is how clients name a registry: the login server, and the port
// unless it is the scheme's default.
func (e registryEndpoint) address(loginServer string) string {
	if e.port == defaultPort(e.scheme) {
		return loginServer
	}
	return net.JoinHostPort(loginServer, e.port)
}

func defaultPort(scheme string) string {
	if scheme == "http" {
		return "80"
	}
	return "443"
}

// registryClient is an HTTP client that connects to berth's address for
// every host under the login server's suffix: registries answer there by
// name (Host header, TLS server name), so no DNS record is needed, and
// TLS still checks the login server's name.
func (p *Profile) registryClient(loginServer string) (registryEndpoint, error) {
	u, err := url.Parse(p.Server)
	if err != nil || u.Host == "" {
		return registryEndpoint{}, fmt.Errorf("the login's server address %q is not a URL", p.Server)
	}
	e := registryEndpoint{scheme: u.Scheme, port: u.Port()}
	if e.port == "" {
		e.port = defaultPort(u.Scheme)
	}
	server := net.JoinHostPort(u.Hostname(), e.port)
	_, suffix, _ := strings.Cut(strings.ToLower(loginServer), ".")
	c, err := p.HTTPClient()
	if err != nil {
		return e, err
	}
	t := c.Transport.(*http.Transport)
	// A proxy would resolve the login server itself, which is what this
	// client exists to avoid.
	t.Proxy = nil
	d := &net.Dialer{Timeout: 30 * time.Second}
	t.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		if h, _, err := net.SplitHostPort(addr); err == nil && suffix != "" && strings.HasSuffix(strings.ToLower(h), "."+suffix) {
			addr = server
		}
		return d.DialContext(ctx, network, addr)
	}
	e.client = c
	return e, nil
}

// DockerConfigPath is where docker clients read credentials:
// $DOCKER_CONFIG/config.json, else ~/.docker/config.json.
func DockerConfigPath() string {
	if d := os.Getenv("DOCKER_CONFIG"); d != "" {
		return filepath.Join(d, "config.json")
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return filepath.Join(".docker", "config.json")
	}
	return filepath.Join(home, ".docker", "config.json")
}

// WriteDockerAuth stores a registry refresh token as docker clients read
// it (an identity token for the null user), keeping everything else in
// the file.
func WriteDockerAuth(address, refreshToken string) error {
	path := DockerConfigPath()
	cfg := map[string]json.RawMessage{}
	b, err := os.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return err
	default:
		if err := json.Unmarshal(b, &cfg); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
	}
	auths := map[string]json.RawMessage{}
	if raw := cfg["auths"]; len(raw) > 0 && string(raw) != "null" {
		if err := json.Unmarshal(raw, &auths); err != nil {
			return fmt.Errorf("%s: auths: %w", path, err)
		}
	}
	entry, err := json.Marshal(map[string]string{
		"auth":          base64.StdEncoding.EncodeToString([]byte(NullUser + ":")),
		"identitytoken": refreshToken,
	})
	if err != nil {
		return err
	}
	auths[address] = entry
	if cfg["auths"], err = json.Marshal(auths); err != nil {
		return err
	}
	out, err := json.MarshalIndent(cfg, "", "\t")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	return pki.WriteFileAtomic(path, append(out, '\n'), 0o600)
}
