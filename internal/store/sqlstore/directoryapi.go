package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"

	"github.com/berthhq/berth/internal/store"
)

const applicationColumns = "object_id, app_id, tenant_id, display_name, sign_in_audience, web_redirect_uris, created_at"

type scanner interface{ Scan(dest ...any) error }

func scanApplication(row scanner) (store.Application, error) {
	var a store.Application
	var uris string
	var at int64
	err := row.Scan(&a.ObjectID, &a.AppID, &a.TenantID, &a.DisplayName, &a.SignInAudience, &uris, &at)
	if err != nil {
		return a, notFound(err, store.ErrNotFound)
	}
	a.CreatedAt = fromNanos(at)
	if err := json.Unmarshal([]byte(uris), &a.WebRedirectURIs); err != nil {
		return a, err
	}
	if len(a.WebRedirectURIs) == 0 {
		a.WebRedirectURIs = nil
	}
	return a, nil
}

func encodeURIs(uris []string) (string, error) {
	if uris == nil {
		uris = []string{}
	}
	b, err := json.Marshal(uris)
	return string(b), err
}

func (db *DB) GetApplication(ctx context.Context, objectID string) (store.Application, error) {
	return scanApplication(db.queryRow(ctx, "SELECT "+applicationColumns+" FROM applications WHERE object_id = $1", objectID))
}

func (db *DB) UpdateApplication(ctx context.Context, a store.Application) error {
	uris, err := encodeURIs(a.WebRedirectURIs)
	if err != nil {
		return err
	}
	return db.write(ctx, toDirectory, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, "UPDATE applications SET display_name = $1, web_redirect_uris = $2 WHERE object_id = $3", a.DisplayName, uris, a.ObjectID)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return notFoundIfNil(err)
		}
		return nil
	})
}

func (db *DB) ListApplications(ctx context.Context, tenantID string) ([]store.Application, error) {
	rows, err := db.query(ctx, "SELECT "+applicationColumns+" FROM applications WHERE tenant_id = $1 ORDER BY display_name, object_id", tenantID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []store.Application
	for rows.Next() {
		a, err := scanApplication(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, rows.Err()
}

func (db *DB) DeleteApplication(ctx context.Context, objectID string) error {
	return db.write(ctx, toDirectory|toAssignments, func(tx *sql.Tx) error {
		var appID string
		err := tx.QueryRowContext(ctx, "SELECT app_id FROM applications WHERE object_id = $1", objectID).Scan(&appID)
		if err != nil {
			return notFound(err, store.ErrNotFound)
		}
		for _, q := range []string{
			"DELETE FROM directory_roles WHERE principal_object_id IN (SELECT object_id FROM service_principals WHERE app_id = $1)",
			// Ownerships held by the application's principals go too: an
			// owner row naming a principal that no longer exists would
			// only mislead the owners listing.
			"DELETE FROM application_owners WHERE owner_object_id IN (SELECT object_id FROM service_principals WHERE app_id = $1)",
			"DELETE FROM role_assignments WHERE principal_id IN (SELECT object_id FROM service_principals WHERE app_id = $1)",
			"DELETE FROM service_principals WHERE app_id = $1",
		} {
			if _, err := tx.ExecContext(ctx, q, appID); err != nil {
				return err
			}
		}
		if _, err := tx.ExecContext(ctx, "DELETE FROM federated_identity_credentials WHERE owner_object_id = $1", objectID); err != nil {
			return err
		}
		// Other credentials and owners go with the application (ON
		// DELETE CASCADE).
		_, err = tx.ExecContext(ctx, "DELETE FROM applications WHERE object_id = $1", objectID)
		return err
	})
}

func (db *DB) RemovePasswordCredential(ctx context.Context, appObjectID, keyID string) error {
	return db.write(ctx, toDirectory, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, "DELETE FROM password_credentials WHERE app_object_id = $1 AND key_id = $2", appObjectID, keyID)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return notFoundIfNil(err)
		}
		return nil
	})
}

func notFoundIfNil(err error) error {
	if err == nil {
		return store.ErrNotFound
	}
	return err
}

const servicePrincipalColumns = "object_id, tenant_id, app_id, app_owner_tenant_id, type, display_name, created_at"

func scanServicePrincipal(row scanner) (store.ServicePrincipal, error) {
	var sp store.ServicePrincipal
	var at int64
	err := row.Scan(&sp.ObjectID, &sp.TenantID, &sp.AppID, &sp.AppOwnerTenantID, &sp.Type, &sp.DisplayName, &at)
	sp.CreatedAt = fromNanos(at)
	return sp, notFound(err, store.ErrNotFound)
}

// GetServicePrincipal is read for every directory and management token
// verified: it answers from the directory cache.
func (db *DB) GetServicePrincipal(ctx context.Context, objectID string) (store.ServicePrincipal, error) {
	return cached(db, &db.principalsByID, objectID, func() (store.ServicePrincipal, error) {
		return scanServicePrincipal(db.queryRow(ctx, "SELECT "+servicePrincipalColumns+" FROM service_principals WHERE object_id = $1", objectID))
	})
}

func (db *DB) ListServicePrincipals(ctx context.Context, tenantID string) ([]store.ServicePrincipal, error) {
	rows, err := db.query(ctx, "SELECT "+servicePrincipalColumns+" FROM service_principals WHERE tenant_id = $1 ORDER BY display_name, object_id", tenantID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []store.ServicePrincipal
	for rows.Next() {
		sp, err := scanServicePrincipal(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, sp)
	}
	return out, rows.Err()
}

func (db *DB) AddDirectoryRole(ctx context.Context, tenantID, principalObjectID, role string) error {
	err := db.execWrite(ctx, toDirectory, "INSERT INTO directory_roles (tenant_id, principal_object_id, role) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
		tenantID, principalObjectID, role)
	if isForeignKeyViolation(err) {
		return store.ErrNotFound
	}
	return err
}

func (db *DB) HasDirectoryRole(ctx context.Context, tenantID, principalObjectID, role string) (bool, error) {
	var n int
	err := db.queryRow(ctx, "SELECT COUNT(*) FROM directory_roles WHERE tenant_id = $1 AND principal_object_id = $2 AND role = $3",
		tenantID, principalObjectID, role).Scan(&n)
	return n > 0, err
}
