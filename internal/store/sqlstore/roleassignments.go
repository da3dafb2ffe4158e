package sqlstore

import (
	"context"
	"database/sql"
	"strings"

	"github.com/berthhq/berth/internal/store"
)

func (db *DB) CreateRoleAssignment(ctx context.Context, a store.RoleAssignment) error {
	return insertErr(db.execWrite(ctx, toAssignments, "INSERT INTO role_assignments (id, scope, scope_key, role_definition_id, principal_id, principal_type, tenant_id, created_by, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
		key(a.ID), a.Scope, scopeKey(a.Scope), key(a.RoleDefinitionID), a.PrincipalID, a.PrincipalType, a.TenantID, a.CreatedBy, nanos(a.CreatedAt)))
}

// scopeKey is a scope as compared: lower case, no trailing slash.
func scopeKey(scope string) string { return strings.TrimRight(key(scope), "/") }

const assignmentColumns = "id, scope, role_definition_id, principal_id, principal_type, tenant_id, created_by, created_at"

func scanAssignments(rows *sql.Rows, err error) ([]store.RoleAssignment, error) {
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []store.RoleAssignment
	for rows.Next() {
		a, err := scanAssignment(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, rows.Err()
}

func scanAssignment(row rowScanner) (store.RoleAssignment, error) {
	var a store.RoleAssignment
	var at int64
	err := row.Scan(&a.ID, &a.Scope, &a.RoleDefinitionID, &a.PrincipalID, &a.PrincipalType, &a.TenantID, &a.CreatedBy, &at)
	a.CreatedAt = fromNanos(at)
	return a, notFound(err, store.ErrNotFound)
}

func (db *DB) GetRoleAssignment(ctx context.Context, id string) (store.RoleAssignment, error) {
	return scanAssignment(db.queryRow(ctx, "SELECT "+assignmentColumns+" FROM role_assignments WHERE id = $1", key(id)))
}

func (db *DB) DeleteRoleAssignment(ctx context.Context, id string) error {
	return db.write(ctx, toAssignments, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, "DELETE FROM role_assignments WHERE id = $1", key(id))
		return affected(res, err)
	})
}

func (db *DB) RoleAssignmentsOfPrincipal(ctx context.Context, principalID string) ([]store.RoleAssignment, error) {
	return scanAssignments(db.query(ctx, "SELECT "+assignmentColumns+" FROM role_assignments WHERE principal_id = $1", principalID))
}

func (db *DB) RoleAssignmentsAt(ctx context.Context, scopes []string) ([]store.RoleAssignment, error) {
	if len(scopes) == 0 {
		return nil, nil
	}
	var out []store.RoleAssignment
	for _, s := range scopes {
		as, err := scanAssignments(db.query(ctx, "SELECT "+assignmentColumns+" FROM role_assignments WHERE scope_key = $1 ORDER BY id", scopeKey(s)))
		if err != nil {
			return nil, err
		}
		out = append(out, as...)
	}
	return out, nil
}

// belowRange is the half-open key range of the scopes strictly below
// scope: they start with scope + "/", and "0" is the byte after "/", so the
// range is a plain index scan with no LIKE escaping to get wrong.
func belowRange(scope string) (from, to string) {
	k := scopeKey(scope)
	return k + "/", k + "0"
}

func (db *DB) RoleAssignmentsBelow(ctx context.Context, scope string) ([]store.RoleAssignment, error) {
	from, to := belowRange(scope)
	return scanAssignments(db.query(ctx, "SELECT "+assignmentColumns+" FROM role_assignments WHERE scope_key >= $1 AND scope_key < $2 ORDER BY scope_key, id", from, to))
}

func (db *DB) DeleteRoleAssignmentsAtOrBelow(ctx context.Context, scope string) error {
	from, to := belowRange(scope)
	return db.execWrite(ctx, toAssignments, "DELETE FROM role_assignments WHERE scope_key = $1 OR (scope_key >= $2 AND scope_key < $3)", scopeKey(scope), from, to)
}
