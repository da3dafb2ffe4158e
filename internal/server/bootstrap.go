package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/berthhq/berth/internal/ids"
	"github.com/berthhq/berth/internal/pki"
	"github.com/berthhq/berth/internal/secret"
	"github.com/berthhq/berth/internal/store"
)

// BootstrapFile is written to the data directory, readable only by its
// owner: it holds the bootstrap administrator's secret.
const BootstrapFile = "bootstrap.json"

// Bootstrap is the content of bootstrap.json.
type Bootstrap struct {
	TenantID       string `json:"tenantId"`
	SubscriptionID string `json:"subscriptionId"`
	Registry       string `json:"registry"`
	LoginServer    string `json:"loginServer"`
	ClientID       string `json:"clientId"`
	ClientSecret   string `json:"clientSecret"`
	URL            string `json:"url"`
}

// bootstrapRecord is what the metadata store keeps: the same ids, never
// the secret.
type bootstrapRecord struct {
	TenantID       string `json:"tenantId"`
	SubscriptionID string `json:"subscriptionId"`
	Registry       string `json:"registry"`
	AppObjectID    string `json:"appObjectId"`
	ClientID       string `json:"clientId"`
}

const bootstrapKey = "bootstrap"

// ensureBootstrap creates the bootstrap tenant, subscription, administrator
// and default registry on first start, and rewrites bootstrap.json on every
// start (the URL may change). If the file was lost, the administrator gets
// a new secret: the old one cannot be recovered from its hash.
func ensureBootstrap(ctx context.Context, meta store.Store, cfg Config, url string) (Bootstrap, error) {
	path := filepath.Join(cfg.DataDir, BootstrapFile)
	var rec bootstrapRecord
	raw, err := meta.GetSetting(ctx, bootstrapKey)
	switch {
	case errors.Is(err, store.ErrNotFound):
		rec, err = createBootstrap(ctx, meta)
		if err != nil {
			return Bootstrap{}, err
		}
	case err != nil:
		return Bootstrap{}, err
	default:
		if err := json.Unmarshal([]byte(raw), &rec); err != nil {
			return Bootstrap{}, fmt.Errorf("bootstrap record: %w", err)
		}
	}
	b := Bootstrap{
		TenantID: rec.TenantID, SubscriptionID: rec.SubscriptionID, Registry: rec.Registry,
		LoginServer: cfg.LoginServer(rec.Registry), ClientID: rec.ClientID, URL: url,
	}
	var old Bootstrap
	if data, err := os.ReadFile(path); err == nil && json.Unmarshal(data, &old) == nil && old.ClientID == rec.ClientID && old.ClientSecret != "" {
		b.ClientSecret = old.ClientSecret
	} else {
		if b.ClientSecret, err = addSecret(ctx, meta, rec.AppObjectID, "bootstrap"); err != nil {
			return Bootstrap{}, err
		}
	}
	data, err := json.MarshalIndent(b, "", "  ")
	if err != nil {
		return Bootstrap{}, err
	}
	return b, pki.WriteFileAtomic(path, append(data, '\n'), 0o600)
}

func createBootstrap(ctx context.Context, meta store.Store) (bootstrapRecord, error) {
	now := time.Now().UTC()
	rec := bootstrapRecord{
		TenantID: ids.New(), SubscriptionID: ids.New(), Registry: DefaultRegistryName,
		AppObjectID: ids.New(), ClientID: ids.New(),
	}
	steps := []func() error{
		func() error {
			return meta.CreateTenant(ctx, store.Tenant{ID: rec.TenantID, Domain: rec.TenantID[:8] + ".berth.localhost", DisplayName: "Bootstrap tenant", CreatedAt: now})
		},
		func() error {
			return meta.CreateSubscription(ctx, store.Subscription{ID: rec.SubscriptionID, TenantID: rec.TenantID, DisplayName: "Bootstrap subscription", CreatedAt: now})
		},
		func() error {
			return meta.CreateApplication(ctx, store.Application{ObjectID: rec.AppObjectID, AppID: rec.ClientID, TenantID: rec.TenantID, DisplayName: "berth-bootstrap-admin", SignInAudience: "AzureADMyOrg", CreatedAt: now})
		},
		func() error {
			return meta.CreateServicePrincipal(ctx, store.ServicePrincipal{ObjectID: ids.New(), TenantID: rec.TenantID, AppID: rec.ClientID, AppOwnerTenantID: rec.TenantID, Type: store.PrincipalApplication, DisplayName: "berth-bootstrap-admin", CreatedAt: now})
		},
		func() error {
			id := "/subscriptions/" + rec.SubscriptionID + "/resourceGroups/berth/providers/Microsoft.ContainerRegistry/registries/" + rec.Registry
			return meta.CreateRegistry(ctx, store.Registry{Name: rec.Registry, TenantID: rec.TenantID, ResourceID: id, CreatedAt: now})
		},
	}
	for _, step := range steps {
		if err := step(); err != nil {
			return rec, fmt.Errorf("bootstrap: %w", err)
		}
	}
	// The record is written last: a start that fails half-way is redone
	// from scratch with new ids rather than half-reused.
	data, _ := json.Marshal(rec)
	return rec, meta.PutSetting(ctx, bootstrapKey, string(data))
}

func addSecret(ctx context.Context, meta store.Directory, appObjectID, name string) (string, error) {
	s := secret.Generate()
	salt, sum := secret.Hash(s)
	now := time.Now().UTC()
	err := meta.AddPasswordCredential(ctx, store.PasswordCredential{
		KeyID: ids.New(), AppObjectID: appObjectID, DisplayName: name, Hint: secret.Hint(s),
		Salt: salt, Hash: sum, StartDateTime: now.Add(-time.Minute), EndDateTime: now.AddDate(100, 0, 0),
	})
	return s, err
}
