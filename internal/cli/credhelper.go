package cli

import (
	"context"
	"errors"
	"net"
	"strings"

	"github.com/docker/docker-credential-helpers/credentials"
)

// CredentialHelper answers the docker credential helper protocol for
// berth's registries with refresh tokens minted from the current login at
// each request: it keeps no credentials, so store and erase do nothing.
type CredentialHelper struct {
	Ctx context.Context
}

var _ credentials.Helper = CredentialHelper{}

// management is a client as the current login: docker runs the helper
// with no flags.
func (CredentialHelper) management() (*Management, error) {
	p, err := LoadProfile()
	if err != nil {
		return nil, err
	}
	return p.Management()
}

// Add ignores what docker asks to store: berth mints tokens on demand.
func (CredentialHelper) Add(*credentials.Credentials) error { return nil }

// Delete has nothing to delete.
func (CredentialHelper) Delete(string) error { return nil }

// Get mints a refresh token for the registry at serverURL; a host that is
// not one of the current subscription's registries has no credentials.
func (h CredentialHelper) Get(serverURL string) (string, string, error) {
	m, err := h.management()
	if err != nil {
		return "", "", err
	}
	regs, err := m.registryAddresses(h.Ctx)
	if err != nil {
		return "", "", err
	}
	host := hostOf(serverURL)
	for addr, login := range regs {
		if strings.EqualFold(addr, host) {
			l, err := m.exchange(h.Ctx, login)
			if err != nil {
				return "", "", err
			}
			return NullUser, l.RefreshToken, nil
		}
	}
	// A principal that may only pull (AcrPull) sees no registries in the
	// subscription; berth's address under the registry suffix may still be
	// one it pulls from.
	login, err := m.unlistedLoginServer(h.Ctx, host)
	if err != nil || login == "" {
		return "", "", credentials.NewErrCredentialsNotFound()
	}
	l, err := m.exchange(h.Ctx, login)
	if errors.Is(err, errUnknownRegistry) {
		return "", "", credentials.NewErrCredentialsNotFound()
	}
	if err != nil {
		return "", "", err
	}
	return NullUser, l.RefreshToken, nil
}

// unlistedLoginServer is the login server host names, if host is a
// registry's address at berth: one name under the registry suffix, at
// berth's port. Only then may the exchange send a token there.
func (m *Management) unlistedLoginServer(ctx context.Context, host string) (string, error) {
	suffix, err := m.registrySuffix(ctx)
	if err != nil {
		return "", err
	}
	name := host
	if h, _, err := net.SplitHostPort(host); err == nil {
		name = h
	}
	label, ok := strings.CutSuffix(name, "."+suffix)
	if !ok || label == "" || strings.Contains(label, ".") {
		return "", nil
	}
	rc, err := m.p.registryClient(name)
	if err != nil || rc.address(name) != host {
		return "", err
	}
	return name, nil
}

// List names the registries of the current subscription.
func (h CredentialHelper) List() (map[string]string, error) {
	m, err := h.management()
	if err != nil {
		return nil, err
	}
	regs, err := m.registryAddresses(h.Ctx)
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for addr := range regs {
		out[addr] = NullUser
	}
	return out, nil
}

// registryAddresses maps the address of each registry of the current
// subscription to its login server.
func (m *Management) registryAddresses(ctx context.Context) (map[string]string, error) {
	regs, err := m.ListRegistries(ctx, "")
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, r := range regs {
		addr, err := m.RegistryAddress(r)
		if err != nil {
			return nil, err
		}
		out[addr] = r.str("loginServer")
	}
	return out, nil
}

// hostOf reads the registry host from what clients pass: a bare host,
// host:port, or a URL with a scheme and path.
func hostOf(serverURL string) string {
	s := strings.TrimSpace(serverURL)
	if _, rest, ok := strings.Cut(s, "://"); ok {
		s = rest
	}
	s, _, _ = strings.Cut(s, "/")
	return strings.TrimSuffix(strings.ToLower(s), ":443")
}
