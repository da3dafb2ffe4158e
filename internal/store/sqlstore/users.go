package sqlstore

import (
	"context"
	"strings"

	"github.com/berthhq/berth/internal/store"
)

const userColumns = "object_id, tenant_id, user_principal_name, display_name, password_hash, created_at"

func scanUser(row scanner) (store.User, error) {
	var u store.User
	var at int64
	err := row.Scan(&u.ObjectID, &u.TenantID, &u.UserPrincipalName, &u.DisplayName, &u.PasswordHash, &at)
	u.CreatedAt = fromNanos(at)
	return u, notFound(err, store.ErrNotFound)
}

// upnKey is how a user principal name is compared: Go's lowercasing, not
// the database's, so that SQLite and PostgreSQL agree beyond ASCII.
func upnKey(upn string) string { return strings.ToLower(upn) }

func (db *DB) CreateUser(ctx context.Context, u store.User) error {
	err := db.exec(ctx, "INSERT INTO users (object_id, tenant_id, user_principal_name, upn_key, display_name, password_hash, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
		u.ObjectID, u.TenantID, u.UserPrincipalName, upnKey(u.UserPrincipalName), u.DisplayName, u.PasswordHash, nanos(u.CreatedAt))
	if isForeignKeyViolation(err) {
		return store.ErrNotFound
	}
	return insertErr(err)
}

func (db *DB) GetUser(ctx context.Context, objectID string) (store.User, error) {
	return scanUser(db.queryRow(ctx, "SELECT "+userColumns+" FROM users WHERE object_id = $1", objectID))
}

func (db *DB) GetUserByUPN(ctx context.Context, tenantID, upn string) (store.User, error) {
	return scanUser(db.queryRow(ctx, "SELECT "+userColumns+" FROM users WHERE tenant_id = $1 AND upn_key = $2", tenantID, upnKey(upn)))
}

func (db *DB) ListUsers(ctx context.Context, tenantID string) ([]store.User, error) {
	rows, err := db.query(ctx, "SELECT "+userColumns+" FROM users WHERE tenant_id = $1 ORDER BY display_name, object_id", tenantID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []store.User
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, u)
	}
	return out, rows.Err()
}
