package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	"github.com/berthhq/berth/internal/store"
)

const userColumns = "object_id, tenant_id, user_principal_name, display_name, password_hash, disabled, force_change_password, session_epoch, created_at"

func scanUser(row scanner) (store.User, error) {
	var u store.User
	var at int64
	err := row.Scan(&u.ObjectID, &u.TenantID, &u.UserPrincipalName, &u.DisplayName, &u.PasswordHash, &u.Disabled, &u.ForceChangePassword, &u.SessionEpoch, &at)
	u.CreatedAt = fromNanos(at)
	return u, notFound(err, store.ErrNotFound)
}

// upnKey is how a user principal name is compared: Go's lowercasing, not
// the database's, so that SQLite and PostgreSQL agree beyond ASCII.
func upnKey(upn string) string { return strings.ToLower(upn) }

func (db *DB) CreateUser(ctx context.Context, u store.User) error {
	err := db.execWrite(ctx, toDirectory, "INSERT INTO users (object_id, tenant_id, user_principal_name, upn_key, display_name, password_hash, disabled, force_change_password, session_epoch, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
		u.ObjectID, u.TenantID, u.UserPrincipalName, upnKey(u.UserPrincipalName), u.DisplayName, u.PasswordHash, u.Disabled, u.ForceChangePassword, u.SessionEpoch, nanos(u.CreatedAt))
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

func (db *DB) UpdateUser(ctx context.Context, objectID string, up store.UserUpdate) error {
	var sets []string
	var args []any
	set := func(column string, v any) {
		args = append(args, v)
		sets = append(sets, fmt.Sprintf("%s = $%d", column, len(args)))
	}
	if up.DisplayName != nil {
		set("display_name", *up.DisplayName)
	}
	if up.PasswordHash != nil {
		set("password_hash", *up.PasswordHash)
	}
	if up.Disabled != nil {
		set("disabled", *up.Disabled)
	}
	if up.ForceChangePassword != nil {
		set("force_change_password", *up.ForceChangePassword)
	}
	if up.RevokeSessions {
		sets = append(sets, "session_epoch = session_epoch + 1")
	}
	args = append(args, objectID)
	update := fmt.Sprintf("UPDATE users SET %s WHERE object_id = $%d", strings.Join(sets, ", "), len(args))
	return db.write(ctx, toDirectory, func(tx *sql.Tx) error {
		tenant, err := userTenant(ctx, tx, objectID)
		if err != nil || len(sets) == 0 {
			return err
		}
		return db.keepAdministrator(ctx, tx, tenant, func() error {
			_, err := tx.ExecContext(ctx, update, args...)
			return err
		})
	})
}

func (db *DB) DeleteUser(ctx context.Context, objectID string) error {
	return db.write(ctx, toDirectory|toAssignments, func(tx *sql.Tx) error {
		tenant, err := userTenant(ctx, tx, objectID)
		if err != nil {
			return err
		}
		return db.keepAdministrator(ctx, tx, tenant, func() error {
			for _, q := range []string{
				"DELETE FROM directory_roles WHERE principal_object_id = $1",
				"DELETE FROM application_owners WHERE owner_object_id = $1",
				"DELETE FROM role_assignments WHERE principal_id = $1",
				"DELETE FROM users WHERE object_id = $1",
			} {
				if _, err := tx.ExecContext(ctx, q, objectID); err != nil {
					return err
				}
			}
			return nil
		})
	})
}

func (db *DB) RemoveDirectoryRole(ctx context.Context, tenantID, principalObjectID, role string) error {
	return db.write(ctx, toDirectory, func(tx *sql.Tx) error {
		return db.keepAdministrator(ctx, tx, tenantID, func() error {
			res, err := tx.ExecContext(ctx, "DELETE FROM directory_roles WHERE tenant_id = $1 AND principal_object_id = $2 AND role = $3",
				tenantID, principalObjectID, role)
			return affected(res, err)
		})
	})
}

func userTenant(ctx context.Context, tx *sql.Tx, objectID string) (string, error) {
	var tenant string
	err := tx.QueryRowContext(ctx, "SELECT tenant_id FROM users WHERE object_id = $1", objectID).Scan(&tenant)
	return tenant, notFound(err, store.ErrNotFound)
}

// activeAdministrators counts a tenant's Global Administrators that can
// act: service principals, and users whose account is enabled.
const activeAdministrators = `SELECT COUNT(*) FROM directory_roles d WHERE d.tenant_id = $1 AND d.role = $2 AND (
	EXISTS (SELECT 1 FROM service_principals sp WHERE sp.object_id = d.principal_object_id)
	OR EXISTS (SELECT 1 FROM users u WHERE u.object_id = d.principal_object_id AND NOT u.disabled))`

// keepAdministrator runs change in tx and fails it with
// store.ErrLastAdministrator, so that the caller's transaction rolls back,
// if the tenant had a Global Administrator that can act before and has
// none after. The check is in the writing transaction, not before it, so
// that two changes at once cannot each leave the other's administrator
// as the last: SQLite runs write transactions one at a time, and on
// PostgreSQL the tenant's Global Administrator rows are locked first,
// which makes such changes wait for each other.
func (db *DB) keepAdministrator(ctx context.Context, tx *sql.Tx, tenantID string, change func() error) error {
	if db.d.name == "postgres" {
		if _, err := tx.ExecContext(ctx, "SELECT principal_object_id FROM directory_roles WHERE tenant_id = $1 AND role = $2 ORDER BY principal_object_id FOR UPDATE",
			tenantID, store.RoleGlobalAdministrator); err != nil {
			return err
		}
	}
	count := func() (int, error) {
		var n int
		err := tx.QueryRowContext(ctx, activeAdministrators, tenantID, store.RoleGlobalAdministrator).Scan(&n)
		return n, err
	}
	before, err := count()
	if err != nil {
		return err
	}
	if err := change(); err != nil {
		return err
	}
	after, err := count()
	if err != nil {
		return err
	}
	if before > 0 && after == 0 {
		return store.ErrLastAdministrator
	}
	return nil
}
