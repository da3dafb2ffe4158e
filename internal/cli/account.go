package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
)

// LoginOptions are berth login's flags.
type LoginOptions struct {
	// ServicePrincipal logs in with Username (an application's app id or
	// a user-assigned identity's client id), Tenant, and Password (a
	// secret) or FederatedToken (another issuer's token that a federated
	// credential trusts); otherwise the bootstrap administrator of the
	// server whose data directory is DataDir is used.
	ServicePrincipal bool
	// Identity logs in as the machine's managed identity (Username, if
	// set, names which: a client id, object id or resource id), with
	// tokens from its metadata endpoint. It needs Server.
	Identity       bool
	Username       string
	Password       string
	FederatedToken string
	// FederatedTokenFromIdentity names (a client id, object id or
	// resource id) the machine's managed identity whose token for the
	// token exchange audience is, at each token, the service principal's
	// client assertion instead of a secret.
	FederatedTokenFromIdentity string
	Tenant                     string
	// Server and CAFile (berth's --server and --ca-file, or
	// $BERTH_SERVER and $BERTH_CA_FILE) default to those of the current
	// login, then to the local data directory's.
	Server  string
	CAFile  string
	DataDir string
}

// Account is what login, account list and account show print, in the
// cloud CLI's shape: one per subscription, or one for the tenant when the
// principal has none. Login and list name the cloud cloudName, show
// environmentName, as the cloud CLI does.
type Account struct {
	CloudName        string `json:"cloudName,omitempty"`
	EnvironmentName  string `json:"environmentName,omitempty"`
	HomeTenantID     string `json:"homeTenantId"`
	ID               string `json:"id"`
	IsDefault        bool   `json:"isDefault"`
	ManagedByTenants []any  `json:"managedByTenants"`
	Name             string `json:"name"`
	State            string `json:"state"`
	TenantID         string `json:"tenantId"`
	User             User   `json:"user"`
}

// cloudName is what berth calls its one cloud.
const cloudName = "berth"

func (p *Profile) accounts() []Account {
	if len(p.Subscriptions) == 0 {
		return []Account{{CloudName: cloudName, HomeTenantID: p.TenantID, ID: p.TenantID, IsDefault: true, ManagedByTenants: []any{},
			Name: "N/A(tenant level account)", State: "Enabled", TenantID: p.TenantID, User: p.User}}
	}
	out := make([]Account, len(p.Subscriptions))
	for i, s := range p.Subscriptions {
		out[i] = Account{CloudName: cloudName, HomeTenantID: s.TenantID, ID: s.ID, IsDefault: s.ID == p.SubscriptionID,
			ManagedByTenants: []any{}, Name: s.Name, State: s.State, TenantID: s.TenantID, User: p.User}
	}
	return out
}

// ShowAccount returns the current subscription's account.
func (p *Profile) ShowAccount() Account {
	for _, a := range p.accounts() {
		if a.IsDefault {
			a.CloudName, a.EnvironmentName = "", cloudName
			return a
		}
	}
	return Account{} // unreachable: accounts always has a default
}

// refreshSubscriptions fetches the principal's subscriptions, keeping the
// current one if it is still among them, else choosing the first enabled.
func (p *Profile) refreshSubscriptions(ctx context.Context) error {
	m, err := p.Management()
	if err != nil {
		return err
	}
	var out struct {
		Value []Subscription `json:"value"`
	}
	if err := m.do(ctx, http.MethodGet, "/subscriptions", subscriptionsAPI, nil, nil, &out); err != nil {
		return fmt.Errorf("listing subscriptions: %w", err)
	}
	p.Subscriptions = out.Value
	keep := ""
	for _, s := range out.Value {
		if s.ID == p.SubscriptionID {
			keep = s.ID
		}
	}
	for _, s := range out.Value {
		if keep == "" && s.State == "Enabled" {
			keep = s.ID
		}
	}
	p.SubscriptionID = keep
	return nil
}

type bootstrapFile struct {
	TenantID     string `json:"tenantId"`
	ClientID     string `json:"clientId"`
	ClientSecret string `json:"clientSecret"`
	URL          string `json:"url"`
}

// Login checks the credentials by getting a management token, then stores
// the login.
func Login(ctx context.Context, o LoginOptions) ([]Account, error) {
	p := &Profile{}
	prev, _ := LoadProfile()
	switch {
	case o.Identity:
		if o.ServicePrincipal || o.Password != "" {
			return nil, errors.New("--identity takes no --service-principal or --password: the metadata endpoint vouches for the machine")
		}
		if o.Server == "" {
			return nil, errors.New("--identity needs berth's address: pass --server https://HOST:PORT (and --ca-file) or set BERTH_SERVER (and BERTH_CA_FILE)")
		}
		p.Server = o.Server
		if err := loginIdentity(ctx, p, o.Username); err != nil {
			return nil, err
		}
	case o.ServicePrincipal:
		given := 0
		for _, c := range []string{o.Password, o.FederatedToken, o.FederatedTokenFromIdentity} {
			if c != "" {
				given++
			}
		}
		if o.Username == "" || o.Tenant == "" || given != 1 {
			return nil, errors.New("--service-principal needs --username, --tenant, and one of --password, --federated-token or --federated-token-from-identity")
		}
		p.TenantID, p.User, p.Secret, p.FederatedToken = o.Tenant, User{Name: o.Username, Type: "servicePrincipal"}, o.Password, o.FederatedToken
		if o.FederatedTokenFromIdentity != "" {
			mi, _, err := findIdentity(ctx, o.FederatedTokenFromIdentity, TokenExchangeResource)
			if err != nil {
				return nil, err
			}
			p.AssertionIdentity = &mi
		}
		p.Server = o.Server
		if p.Server == "" && prev != nil {
			p.Server, p.CACert = prev.Server, prev.CACert
		}
		if p.Server == "" {
			if b, err := readBootstrap(o.DataDir); err == nil {
				p.Server = b.URL
			}
		}
		if p.Server == "" {
			return nil, errors.New("no server known: pass --server https://HOST:PORT")
		}
	default:
		b, err := readBootstrap(o.DataDir)
		if err != nil {
			return nil, fmt.Errorf("no bootstrap credentials to log in with (%v); use --service-principal", err)
		}
		p.TenantID, p.User, p.Secret, p.Server = b.TenantID, User{Name: b.ClientID, Type: "servicePrincipal"}, b.ClientSecret, b.URL
		if o.Server != "" {
			p.Server = o.Server
		}
	}
	p.Server = strings.TrimRight(p.Server, "/")
	ca := o.CAFile
	if ca == "" && p.CACert == "" && !o.Identity {
		ca = filepath.Join(o.DataDir, "ca.crt")
	}
	if ca != "" {
		pem, err := os.ReadFile(ca)
		if err != nil && o.CAFile != "" {
			return nil, err
		}
		p.CACert = string(pem)
	}
	if _, err := p.Token(ctx, ManagementResource); err != nil {
		return nil, err
	}
	if err := p.refreshSubscriptions(ctx); err != nil {
		return nil, err
	}
	return p.accounts(), p.Save()
}

func readBootstrap(dataDir string) (bootstrapFile, error) {
	var b bootstrapFile
	data, err := os.ReadFile(filepath.Join(dataDir, "bootstrap.json"))
	if err != nil {
		return b, err
	}
	return b, json.Unmarshal(data, &b)
}

// AccessToken is the output of berth account get-access-token.
type AccessToken struct {
	AccessToken string `json:"accessToken"`
	ExpiresOn   string `json:"expiresOn"`
	ExpiresOnTS int64  `json:"expires_on"`
	Tenant      string `json:"tenant"`
	TokenType   string `json:"tokenType"`
}

// AccessToken returns a token for resource.
func (p *Profile) AccessToken(ctx context.Context, resource string) (AccessToken, error) {
	t, err := p.Token(ctx, resource)
	if err != nil {
		return AccessToken{}, err
	}
	return AccessToken{
		AccessToken: t.AccessToken,
		ExpiresOn:   t.ExpiresOn.Local().Format("2006-01-02 15:04:05.000000"),
		ExpiresOnTS: t.ExpiresOn.Unix(),
		Tenant:      p.TenantID,
		TokenType:   "Bearer",
	}, nil
}

// ListAccounts returns an account per subscription, fetching the
// subscriptions anew if refresh is set.
func (p *Profile) ListAccounts(ctx context.Context, refresh bool) ([]Account, error) {
	if refresh {
		if err := p.refreshSubscriptions(ctx); err != nil {
			return nil, err
		}
		if err := p.Save(); err != nil {
			return nil, err
		}
	}
	return p.accounts(), nil
}

// SetSubscription makes a subscription, by id or name, the current one.
func (p *Profile) SetSubscription(idOrName string) error {
	for _, s := range p.Subscriptions {
		if strings.EqualFold(s.ID, idOrName) || strings.EqualFold(s.Name, idOrName) {
			p.SubscriptionID = s.ID
			return p.Save()
		}
	}
	return fmt.Errorf("The subscription of '%s' doesn't exist in cloud '%s'.", idOrName, cloudName)
}
