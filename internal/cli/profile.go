package cli

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/berthhq/berth/internal/pki"
)

// ErrNotLoggedIn is every command's answer before berth login.
var ErrNotLoggedIn = errors.New("please run 'berth login' to set up an account")

// Profile is the stored login.
type Profile struct {
	Server   string `json:"server"`
	CACert   string `json:"caCert"`
	TenantID string `json:"tenantId"`
	User     User   `json:"user"`
	// Secret is the service principal's client secret, kept (like the
	// cloud CLI keeps it) so that tokens can be renewed without a new
	// login. The profile is readable only by its owner.
	Secret string `json:"secret,omitempty"`
	// ManagedIdentity is set for a login by managed identity (berth
	// login --identity), which has no secret: every token comes from the
	// machine's metadata endpoint.
	ManagedIdentity *ManagedIdentity `json:"managedIdentity,omitempty"`
	// FederatedToken is a token of another issuer that the application
	// or identity trusts through a federated credential (a pod's service
	// account token), presented as the client assertion instead of a
	// secret. A login with one keeps it, as the cloud CLI does, to renew
	// tokens with until it expires; the credential provider's, a pod's,
	// is never saved.
	FederatedToken string `json:"federatedToken,omitempty"`
	// AssertionIdentity is, instead, the machine's managed identity whose
	// token for the token exchange audience, from the metadata endpoint,
	// is the application's client assertion: an application whose
	// federated credential trusts the identity, acting so in any tenant
	// that consented to it. The assertion is fetched for each token and
	// never kept.
	AssertionIdentity *ManagedIdentity       `json:"assertionIdentity,omitempty"`
	Tokens            map[string]CachedToken `json:"tokens,omitempty"`
	// Subscriptions are those the principal had access to at login or at
	// the last account list --refresh; SubscriptionID is the current one,
	// which management commands work in.
	Subscriptions  []Subscription `json:"subscriptions,omitempty"`
	SubscriptionID string         `json:"subscriptionId,omitempty"`

	// stored is the login's own address and CA while an Endpoint
	// replaces them: Save keeps those.
	stored *storedEndpoint
}

type storedEndpoint struct{ server, caCert string }

// Endpoint is where one command reaches berth, if not at the login's
// address: --server and --ca-file, which default to $BERTH_SERVER and
// $BERTH_CA_FILE.
type Endpoint struct {
	Server string
	CAFile string
}

// Subscription is one the principal has access to.
type Subscription struct {
	ID       string `json:"subscriptionId"`
	Name     string `json:"displayName"`
	State    string `json:"state"`
	TenantID string `json:"tenantId"`
}

// User is who is logged in.
type User struct {
	// AssignedIdentityInfo names, for a managed identity, how it was
	// chosen ("MSI", "MSIClient-<id>", ...), as in the cloud CLI.
	AssignedIdentityInfo string `json:"assignedIdentityInfo,omitempty"`
	Name                 string `json:"name"`
	Type                 string `json:"type"`
}

// CachedToken is an access token for one resource.
type CachedToken struct {
	AccessToken string    `json:"accessToken"`
	ExpiresOn   time.Time `json:"expiresOn"`
}

// ConfigDir is $BERTH_CONFIG_DIR, or ~/.berth.
func ConfigDir() string {
	if d := os.Getenv("BERTH_CONFIG_DIR"); d != "" {
		return d
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return ".berth"
	}
	return filepath.Join(home, ".berth")
}

func profilePath() string { return filepath.Join(ConfigDir(), "profile.json") }

// LoadProfile reads the stored login.
func LoadProfile() (*Profile, error) {
	b, err := os.ReadFile(profilePath())
	if errors.Is(err, fs.ErrNotExist) {
		return nil, ErrNotLoggedIn
	}
	if err != nil {
		return nil, err
	}
	var p Profile
	if err := json.Unmarshal(b, &p); err != nil {
		return nil, fmt.Errorf("%s: %w", profilePath(), err)
	}
	return &p, nil
}

// LoadLogin reads the stored login, to be reached at e: e's address and
// CA, where given, replace the login's for this process only (the same
// berth under another name, or through another network), and the stored
// login keeps its own.
func LoadLogin(e Endpoint) (*Profile, error) {
	p, err := LoadProfile()
	if err != nil || (e.Server == "" && e.CAFile == "") {
		return p, err
	}
	p.stored = &storedEndpoint{p.Server, p.CACert}
	if e.Server != "" {
		p.Server = strings.TrimRight(e.Server, "/")
	}
	if e.CAFile != "" {
		pem, err := os.ReadFile(e.CAFile)
		if err != nil {
			return nil, err
		}
		// The login's tokens go only to the berth it was made with: the
		// CA that berth's certificate chains to says which one it is. A
		// different CA is another berth, which would be handed them.
		if p.stored.caCert != "" && strings.TrimSpace(string(pem)) != strings.TrimSpace(p.stored.caCert) {
			return nil, fmt.Errorf("%s is not the CA of the berth you are logged in to (%s): run berth login for that server first", e.CAFile, p.stored.server)
		}
		p.CACert = string(pem)
	}
	return p, nil
}

// Save writes the profile, readable only by its owner.
func (p *Profile) Save() error {
	if err := os.MkdirAll(ConfigDir(), 0o700); err != nil {
		return err
	}
	saved := *p
	if p.stored != nil {
		saved.Server, saved.CACert = p.stored.server, p.stored.caCert
	}
	b, err := json.MarshalIndent(saved, "", "  ")
	if err != nil {
		return err
	}
	return pki.WriteFileAtomic(profilePath(), b, 0o600)
}

// Logout removes the stored login.
func Logout() error {
	err := os.Remove(profilePath())
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return err
}

// HTTPClient trusts the server's CA as stored at login, so no certificate
// has to be installed anywhere.
func (p *Profile) HTTPClient() (*http.Client, error) {
	var pool *x509.CertPool // nil: the system's roots
	if p.CACert != "" {
		var err error
		if pool, err = pki.SystemRootsAnd([]byte(p.CACert)); err != nil {
			return nil, fmt.Errorf("the stored CA certificate: %w", err)
		}
	}
	return &http.Client{
		Timeout:   60 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, Proxy: http.ProxyFromEnvironment},
	}, nil
}
