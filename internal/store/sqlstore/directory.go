package sqlstore

import (
	"context"

	"github.com/berthhq/berth/internal/store"
)

// GetSetting returns the value stored under key.
func (db *DB) GetSetting(ctx context.Context, key string) (string, error) {
	var v string
	err := db.queryRow(ctx, "SELECT value FROM settings WHERE key = $1", key).Scan(&v)
	return v, notFound(err, store.ErrNotFound)
}

// PutSetting stores value under key.
func (db *DB) PutSetting(ctx context.Context, key, value string) error {
	return db.exec(ctx, "INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value", key, value)
}

func (db *DB) CreateSetting(ctx context.Context, key, value string) error {
	return insertErr(db.exec(ctx, "INSERT INTO settings (key, value) VALUES ($1, $2)", key, value))
}

func (db *DB) CreateTenant(ctx context.Context, t store.Tenant) error {
	return insertErr(db.execWrite(ctx, toDirectory, "INSERT INTO tenants (id, domain, display_name, created_at) VALUES ($1, $2, $3, $4)",
		t.ID, t.Domain, t.DisplayName, nanos(t.CreatedAt)))
}

func (db *DB) GetTenant(ctx context.Context, id string) (store.Tenant, error) {
	return cached(db, &db.tenants, id, func() (store.Tenant, error) { return db.readTenant(ctx, id) })
}

func (db *DB) readTenant(ctx context.Context, id string) (store.Tenant, error) {
	var t store.Tenant
	var at int64
	err := db.queryRow(ctx, "SELECT id, domain, display_name, created_at FROM tenants WHERE id = $1", id).
		Scan(&t.ID, &t.Domain, &t.DisplayName, &at)
	t.CreatedAt = fromNanos(at)
	return t, notFound(err, store.ErrNotFound)
}

func (db *DB) GetTenantByDomain(ctx context.Context, domain string) (store.Tenant, error) {
	var t store.Tenant
	var at int64
	err := db.queryRow(ctx, "SELECT id, domain, display_name, created_at FROM tenants WHERE LOWER(domain) = LOWER($1)", domain).
		Scan(&t.ID, &t.Domain, &t.DisplayName, &at)
	t.CreatedAt = fromNanos(at)
	return t, notFound(err, store.ErrNotFound)
}

func (db *DB) CreateSubscription(ctx context.Context, s store.Subscription) error {
	return insertErr(db.exec(ctx, "INSERT INTO subscriptions (id, tenant_id, display_name, created_at) VALUES ($1, $2, $3, $4)",
		s.ID, s.TenantID, s.DisplayName, nanos(s.CreatedAt)))
}

func (db *DB) GetSubscription(ctx context.Context, id string) (store.Subscription, error) {
	var s store.Subscription
	var at int64
	err := db.queryRow(ctx, "SELECT id, tenant_id, display_name, created_at FROM subscriptions WHERE id = $1", id).
		Scan(&s.ID, &s.TenantID, &s.DisplayName, &at)
	s.CreatedAt = fromNanos(at)
	return s, notFound(err, store.ErrNotFound)
}

func (db *DB) CreateApplication(ctx context.Context, a store.Application) error {
	uris, err := encodeURIs(a.WebRedirectURIs)
	if err != nil {
		return err
	}
	return insertErr(db.execWrite(ctx, toDirectory, "INSERT INTO applications (object_id, app_id, tenant_id, display_name, sign_in_audience, web_redirect_uris, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
		a.ObjectID, a.AppID, a.TenantID, a.DisplayName, a.SignInAudience, uris, nanos(a.CreatedAt)))
}

func (db *DB) GetApplicationByAppID(ctx context.Context, appID string) (store.Application, error) {
	return cached(db, &db.apps, appID, func() (store.Application, error) {
		return scanApplication(db.queryRow(ctx, "SELECT "+applicationColumns+" FROM applications WHERE app_id = $1", appID))
	})
}

func (db *DB) AddPasswordCredential(ctx context.Context, c store.PasswordCredential) error {
	err := db.execWrite(ctx, toDirectory, "INSERT INTO password_credentials (key_id, app_object_id, display_name, hint, salt, hash, start_at, end_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
		c.KeyID, c.AppObjectID, c.DisplayName, c.Hint, c.Salt, c.Hash, nanos(c.StartDateTime), nanos(c.EndDateTime))
	if isForeignKeyViolation(err) {
		return store.ErrNotFound
	}
	return insertErr(err)
}

func (db *DB) ListPasswordCredentials(ctx context.Context, appObjectID string) ([]store.PasswordCredential, error) {
	return cached(db, &db.passwords, appObjectID, func() ([]store.PasswordCredential, error) { return db.readPasswordCredentials(ctx, appObjectID) })
}

func (db *DB) readPasswordCredentials(ctx context.Context, appObjectID string) ([]store.PasswordCredential, error) {
	rows, err := db.query(ctx, "SELECT key_id, app_object_id, display_name, hint, salt, hash, start_at, end_at FROM password_credentials WHERE app_object_id = $1 ORDER BY start_at, key_id", appObjectID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []store.PasswordCredential
	for rows.Next() {
		var c store.PasswordCredential
		var start, end int64
		if err := rows.Scan(&c.KeyID, &c.AppObjectID, &c.DisplayName, &c.Hint, &c.Salt, &c.Hash, &start, &end); err != nil {
			return nil, err
		}
		c.StartDateTime, c.EndDateTime = fromNanos(start), fromNanos(end)
		out = append(out, c)
	}
	return out, rows.Err()
}

func (db *DB) CreateServicePrincipal(ctx context.Context, sp store.ServicePrincipal) error {
	return insertErr(db.execWrite(ctx, toDirectory, "INSERT INTO service_principals (object_id, tenant_id, app_id, app_owner_tenant_id, type, display_name, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
		sp.ObjectID, sp.TenantID, sp.AppID, sp.AppOwnerTenantID, sp.Type, sp.DisplayName, nanos(sp.CreatedAt)))
}

func (db *DB) GetServicePrincipalByAppID(ctx context.Context, tenantID, appID string) (store.ServicePrincipal, error) {
	return cached(db, &db.principals, [2]string{tenantID, appID}, func() (store.ServicePrincipal, error) {
		return db.readServicePrincipalByAppID(ctx, tenantID, appID)
	})
}

func (db *DB) readServicePrincipalByAppID(ctx context.Context, tenantID, appID string) (store.ServicePrincipal, error) {
	var sp store.ServicePrincipal
	var at int64
	err := db.queryRow(ctx, "SELECT object_id, tenant_id, app_id, app_owner_tenant_id, type, display_name, created_at FROM service_principals WHERE tenant_id = $1 AND app_id = $2", tenantID, appID).
		Scan(&sp.ObjectID, &sp.TenantID, &sp.AppID, &sp.AppOwnerTenantID, &sp.Type, &sp.DisplayName, &at)
	sp.CreatedAt = fromNanos(at)
	return sp, notFound(err, store.ErrNotFound)
}

func (db *DB) CreateRegistry(ctx context.Context, r store.Registry) error {
	return insertErr(db.execWrite(ctx, toRegistries, "INSERT INTO registries (name, tenant_id, resource_id, created_at) VALUES ($1, $2, $3, $4)",
		r.Name, r.TenantID, r.ResourceID, nanos(r.CreatedAt)))
}

func (db *DB) GetRegistry(ctx context.Context, name string) (store.Registry, error) {
	var r store.Registry
	var at int64
	err := db.queryRow(ctx, "SELECT name, tenant_id, resource_id, created_at FROM registries WHERE name = $1", name).
		Scan(&r.Name, &r.TenantID, &r.ResourceID, &at)
	r.CreatedAt = fromNanos(at)
	return r, notFound(err, store.ErrNotFound)
}
