package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// LoginOptions are berth login's flags.
type LoginOptions struct {
	// ServicePrincipal logs in with Username (app id), Password
	// (secret) and Tenant; otherwise the bootstrap administrator of the
	// server whose data directory is DataDir is used.
	ServicePrincipal bool
	Username         string
	Password         string
	Tenant           string
	// Server and CAFile default to those of the current login, then to
	// the local data directory's.
	Server  string
	CAFile  string
	DataDir string
}

// Account is what login and account show print, in the cloud CLI's shape
// for a login without subscriptions.
type Account struct {
	CloudName    string `json:"cloudName"`
	HomeTenantID string `json:"homeTenantId"`
	ID           string `json:"id"`
	IsDefault    bool   `json:"isDefault"`
	Name         string `json:"name"`
	State        string `json:"state"`
	TenantID     string `json:"tenantId"`
	User         User   `json:"user"`
}

func (p *Profile) account() Account {
	return Account{CloudName: "berth", HomeTenantID: p.TenantID, ID: p.TenantID, IsDefault: true,
		Name: "N/A(tenant level account)", State: "Enabled", TenantID: p.TenantID, User: p.User}
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
	if o.ServicePrincipal {
		if o.Username == "" || o.Password == "" || o.Tenant == "" {
			return nil, errors.New("--service-principal needs --username, --password and --tenant")
		}
		p.TenantID, p.User, p.Secret = o.Tenant, User{Name: o.Username, Type: "servicePrincipal"}, o.Password
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
	} else {
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
	if ca == "" && p.CACert == "" {
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
	return []Account{p.account()}, p.Save()
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

// GetAccessToken returns a token for resource from the current login.
func GetAccessToken(ctx context.Context, resource string) (AccessToken, error) {
	p, err := LoadProfile()
	if err != nil {
		return AccessToken{}, err
	}
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

// ShowAccount returns the current login.
func ShowAccount() (Account, error) {
	p, err := LoadProfile()
	if err != nil {
		return Account{}, err
	}
	return p.account(), nil
}
