package graph

import (
	"context"
	"net/http"
	"strings"
	"time"

	"github.com/berthhq/berth/internal/store"
)

// A tenant has one domain, its initial and default one: berth verifies no
// custom domains. The directory API says so in the cloud's shapes, so that
// a client can learn the domain new users' principal names must end in.

type domainJSON struct {
	ID                 string   `json:"id"`
	AuthenticationType string   `json:"authenticationType"`
	IsAdminManaged     bool     `json:"isAdminManaged"`
	IsDefault          bool     `json:"isDefault"`
	IsInitial          bool     `json:"isInitial"`
	IsRoot             bool     `json:"isRoot"`
	IsVerified         bool     `json:"isVerified"`
	SupportedServices  []string `json:"supportedServices"`
}

type verifiedDomainJSON struct {
	Name         string `json:"name"`
	Type         string `json:"type"`
	Capabilities string `json:"capabilities"`
	IsDefault    bool   `json:"isDefault"`
	IsInitial    bool   `json:"isInitial"`
}

type organizationJSON struct {
	ID              string               `json:"id"`
	DisplayName     string               `json:"displayName"`
	CreatedDateTime time.Time            `json:"createdDateTime"`
	TenantType      string               `json:"tenantType"`
	VerifiedDomains []verifiedDomainJSON `json:"verifiedDomains"`
}

// Tenant is the caller's tenant.
func (s *Service) Tenant(ctx context.Context, c Caller) (store.Tenant, error) {
	return s.Directory.GetTenant(ctx, c.TenantID)
}

func (h *Handler) listDomains(w http.ResponseWriter, r *http.Request, c Caller) error {
	t, err := h.Service.Tenant(r.Context(), c)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{"value": []domainJSON{domainOut(t.Domain)}})
}

func (h *Handler) getDomain(w http.ResponseWriter, r *http.Request, c Caller) error {
	t, err := h.Service.Tenant(r.Context(), c)
	if err != nil {
		return err
	}
	if !strings.EqualFold(r.PathValue("id"), t.Domain) {
		return ErrNotFound
	}
	return writeJSON(w, http.StatusOK, domainOut(t.Domain))
}

func domainOut(name string) domainJSON {
	return domainJSON{ID: name, AuthenticationType: "Managed", IsAdminManaged: true, IsDefault: true, IsInitial: true,
		IsRoot: true, IsVerified: true, SupportedServices: []string{}}
}

func (h *Handler) listOrganization(w http.ResponseWriter, r *http.Request, c Caller) error {
	t, err := h.Service.Tenant(r.Context(), c)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{"value": []organizationJSON{{
		ID: t.ID, DisplayName: t.DisplayName, CreatedDateTime: t.CreatedAt, TenantType: "AAD",
		VerifiedDomains: []verifiedDomainJSON{{Name: t.Domain, Type: "Managed", Capabilities: "None", IsDefault: true, IsInitial: true}},
	}}})
}

// me answers as the cloud does for an application's token: only service
// principals hold berth's directory tokens, and /me names a signed-in user.
func (h *Handler) me(http.ResponseWriter, *http.Request, Caller) error {
	return invalid("/me request is only valid with delegated authentication flow.")
}
