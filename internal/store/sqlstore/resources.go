package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"strconv"
	"strings"

	"github.com/berthhq/berth/internal/store"
)

// key is how ids and names are compared: the resource manager ignores case.
func key(s string) string { return strings.ToLower(s) }

func encodeTags(tags map[string]string) (string, error) {
	if tags == nil {
		tags = map[string]string{}
	}
	b, err := json.Marshal(tags)
	return string(b), err
}

func decodeTags(s string) (map[string]string, error) {
	tags := map[string]string{}
	return tags, json.Unmarshal([]byte(s), &tags)
}

// rawOrEmpty stores an absent JSON document as the empty string.
func rawOrEmpty(r json.RawMessage) string { return string(r) }

func (db *DB) ListSubscriptions(ctx context.Context, tenantID string) ([]store.Subscription, error) {
	rows, err := db.query(ctx, "SELECT id, tenant_id, display_name, created_at FROM subscriptions WHERE tenant_id = $1 ORDER BY id", tenantID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []store.Subscription
	for rows.Next() {
		var s store.Subscription
		var at int64
		if err := rows.Scan(&s.ID, &s.TenantID, &s.DisplayName, &at); err != nil {
			return nil, err
		}
		s.CreatedAt = fromNanos(at)
		out = append(out, s)
	}
	return out, rows.Err()
}

func (db *DB) CreateResourceGroup(ctx context.Context, g store.ResourceGroup) error {
	tags, err := encodeTags(g.Tags)
	if err != nil {
		return err
	}
	err = db.exec(ctx, "INSERT INTO resource_groups (subscription_id, name_key, name, location, tags, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
		g.SubscriptionID, key(g.Name), g.Name, g.Location, tags, nanos(g.CreatedAt))
	if isForeignKeyViolation(err) {
		return store.ErrNotFound
	}
	return insertErr(err)
}

func (db *DB) UpdateResourceGroup(ctx context.Context, g store.ResourceGroup) error {
	tags, err := encodeTags(g.Tags)
	if err != nil {
		return err
	}
	return db.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, "UPDATE resource_groups SET tags = $1 WHERE subscription_id = $2 AND name_key = $3", tags, g.SubscriptionID, key(g.Name))
		return affected(res, err)
	})
}

// affected turns an update or delete that matched no row into ErrNotFound.
func affected(res sql.Result, err error) error {
	if err != nil {
		return err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n == 0 {
		return store.ErrNotFound
	}
	return nil
}

const groupColumns = "subscription_id, name, location, tags, created_at"

func scanGroup(row rowScanner) (store.ResourceGroup, error) {
	var g store.ResourceGroup
	var tags string
	var at int64
	if err := row.Scan(&g.SubscriptionID, &g.Name, &g.Location, &tags, &at); err != nil {
		return g, notFound(err, store.ErrNotFound)
	}
	g.CreatedAt = fromNanos(at)
	var err error
	g.Tags, err = decodeTags(tags)
	return g, err
}

func (db *DB) GetResourceGroup(ctx context.Context, subscriptionID, name string) (store.ResourceGroup, error) {
	return scanGroup(db.queryRow(ctx, "SELECT "+groupColumns+" FROM resource_groups WHERE subscription_id = $1 AND name_key = $2", subscriptionID, key(name)))
}

func (db *DB) ListResourceGroups(ctx context.Context, subscriptionID string) ([]store.ResourceGroup, error) {
	rows, err := db.query(ctx, "SELECT "+groupColumns+" FROM resource_groups WHERE subscription_id = $1 ORDER BY name_key", subscriptionID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []store.ResourceGroup
	for rows.Next() {
		g, err := scanGroup(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, g)
	}
	return out, rows.Err()
}

func (db *DB) DeleteResourceGroup(ctx context.Context, subscriptionID, name string) error {
	return db.write(ctx, toRegistries, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, "DELETE FROM resource_groups WHERE subscription_id = $1 AND name_key = $2", subscriptionID, key(name))
		return affected(res, err)
	})
}

func (db *DB) CreateResource(ctx context.Context, r store.Resource) error {
	tags, err := encodeTags(r.Tags)
	if err != nil {
		return err
	}
	err = db.execWrite(ctx, toRegistries, "INSERT INTO resources (id_key, id, subscription_id, group_key, type_key, type, name, location, tags, sku, properties, identity, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
		key(r.ID), r.ID, r.SubscriptionID, key(r.ResourceGroup), key(r.Type), r.Type, r.Name, r.Location, tags,
		rawOrEmpty(r.SKU), rawOrEmpty(r.Properties), rawOrEmpty(r.Identity), nanos(r.CreatedAt), nanos(r.UpdatedAt))
	if isForeignKeyViolation(err) {
		return store.ErrNotFound
	}
	return insertErr(err)
}

func (db *DB) UpdateResource(ctx context.Context, r store.Resource) error {
	tags, err := encodeTags(r.Tags)
	if err != nil {
		return err
	}
	return db.write(ctx, toRegistries, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, "UPDATE resources SET tags = $1, sku = $2, properties = $3, identity = $4, updated_at = $5 WHERE id_key = $6",
			tags, rawOrEmpty(r.SKU), rawOrEmpty(r.Properties), rawOrEmpty(r.Identity), nanos(r.UpdatedAt), key(r.ID))
		return affected(res, err)
	})
}

// The group's name comes from resource_groups, so a resource reports the
// case its group was created with.
const resourceColumns = "r.id, r.subscription_id, g.name, r.type, r.name, r.location, r.tags, r.sku, r.properties, r.identity, r.created_at, r.updated_at"

const resourceFrom = " FROM resources r JOIN resource_groups g ON g.subscription_id = r.subscription_id AND g.name_key = r.group_key"

func scanResource(row rowScanner) (store.Resource, error) {
	var r store.Resource
	var tags, sku, props, ident string
	var created, updated int64
	if err := row.Scan(&r.ID, &r.SubscriptionID, &r.ResourceGroup, &r.Type, &r.Name, &r.Location, &tags, &sku, &props, &ident, &created, &updated); err != nil {
		return r, notFound(err, store.ErrNotFound)
	}
	r.CreatedAt, r.UpdatedAt = fromNanos(created), fromNanos(updated)
	if sku != "" {
		r.SKU = json.RawMessage(sku)
	}
	if props != "" {
		r.Properties = json.RawMessage(props)
	}
	if ident != "" {
		r.Identity = json.RawMessage(ident)
	}
	var err error
	r.Tags, err = decodeTags(tags)
	return r, err
}

func (db *DB) GetResource(ctx context.Context, id string) (store.Resource, error) {
	return scanResource(db.queryRow(ctx, "SELECT "+resourceColumns+resourceFrom+" WHERE r.id_key = $1", key(id)))
}

func (db *DB) ListResources(ctx context.Context, q store.ResourceQuery) ([]store.Resource, error) {
	where := []string{"r.subscription_id = $1"}
	args := []any{q.SubscriptionID}
	if q.ResourceGroup != "" {
		args = append(args, key(q.ResourceGroup))
		where = append(where, "r.group_key = $2")
	}
	if q.Type != "" {
		args = append(args, key(q.Type))
		where = append(where, "r.type_key = $"+strconv.Itoa(len(args)))
	}
	rows, err := db.query(ctx, "SELECT "+resourceColumns+resourceFrom+" WHERE "+strings.Join(where, " AND ")+" ORDER BY r.id_key", args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []store.Resource
	for rows.Next() {
		r, err := scanResource(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

func (db *DB) DeleteResource(ctx context.Context, id string) error {
	return db.write(ctx, toRegistries, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, "DELETE FROM resources WHERE id_key = $1", key(id))
		return affected(res, err)
	})
}

func (db *DB) DeleteRegistry(ctx context.Context, name string) error {
	return db.write(ctx, toRegistries|toManifests, func(tx *sql.Tx) error {
		// Uploads name their registry without a foreign key: their data
		// is GC's, the sessions go now so nothing writes into the
		// registry that is gone.
		if _, err := tx.ExecContext(ctx, "DELETE FROM uploads WHERE registry = $1", name); err != nil {
			return err
		}
		// Repositories, their manifests, tags and blob links cascade.
		res, err := tx.ExecContext(ctx, "DELETE FROM registries WHERE name = $1", name)
		return affected(res, err)
	})
}

func (db *DB) DeleteServicePrincipal(ctx context.Context, objectID string) error {
	return db.write(ctx, toDirectory|toAssignments, func(tx *sql.Tx) error {
		var tenantID string
		if err := tx.QueryRowContext(ctx, "SELECT tenant_id FROM service_principals WHERE object_id = $1", objectID).Scan(&tenantID); err != nil {
			return notFound(err, store.ErrNotFound)
		}
		return db.keepAdministrator(ctx, tx, tenantID, func() error {
			for _, q := range []string{
				"DELETE FROM directory_roles WHERE principal_object_id = $1",
				"DELETE FROM application_owners WHERE owner_object_id = $1",
				"DELETE FROM role_assignments WHERE principal_id = $1",
				"DELETE FROM federated_identity_credentials WHERE owner_object_id = $1",
			} {
				if _, err := tx.ExecContext(ctx, q, objectID); err != nil {
					return err
				}
			}
			res, err := tx.ExecContext(ctx, "DELETE FROM service_principals WHERE object_id = $1", objectID)
			return affected(res, err)
		})
	})
}

func (db *DB) PutRegistryPassword(ctx context.Context, p store.RegistryPassword) error {
	err := db.exec(ctx, "INSERT INTO registry_passwords (registry, name, hint, salt, hash, created_at) VALUES ($1, $2, $3, $4, $5, $6) "+
		"ON CONFLICT (registry, name) DO UPDATE SET hint = excluded.hint, salt = excluded.salt, hash = excluded.hash, created_at = excluded.created_at",
		p.Registry, p.Name, p.Hint, p.Salt, p.Hash, nanos(p.CreatedAt))
	if isForeignKeyViolation(err) {
		return store.ErrNotFound
	}
	return err
}

func (db *DB) ListRegistryPasswords(ctx context.Context, registry string) ([]store.RegistryPassword, error) {
	rows, err := db.query(ctx, "SELECT registry, name, hint, salt, hash, created_at FROM registry_passwords WHERE registry = $1 ORDER BY name", registry)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []store.RegistryPassword
	for rows.Next() {
		var p store.RegistryPassword
		var at int64
		if err := rows.Scan(&p.Registry, &p.Name, &p.Hint, &p.Salt, &p.Hash, &at); err != nil {
			return nil, err
		}
		p.CreatedAt = fromNanos(at)
		out = append(out, p)
	}
	return out, rows.Err()
}
