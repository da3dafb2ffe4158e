package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"

	"github.com/berthhq/berth/internal/store"
)

func (db *DB) CreateFederatedCredential(ctx context.Context, c store.FederatedCredential, limit int) error {
	auds, err := json.Marshal(c.Audiences)
	if err != nil {
		return err
	}
	return db.write(ctx, toDirectory, func(tx *sql.Tx) error {
		// The owner is looked up in the transaction of the insert; a
		// credential that outlives an owner deleted concurrently (on
		// PostgreSQL) names an object id that is never reused, so it
		// authenticates nothing.
		var owners int
		if err := tx.QueryRowContext(ctx, "SELECT (SELECT COUNT(*) FROM applications WHERE object_id = $1) + "+
			"(SELECT COUNT(*) FROM service_principals WHERE object_id = $1 AND type = $2)",
			c.OwnerObjectID, store.PrincipalManagedIdentity).Scan(&owners); err != nil {
			return err
		}
		if owners == 0 {
			return store.ErrNotFound
		}
		// Counted in the same transaction as the insert, so that
		// concurrent creations cannot pass the limit together.
		var n int
		if err := tx.QueryRowContext(ctx, "SELECT COUNT(*) FROM federated_identity_credentials WHERE owner_object_id = $1", c.OwnerObjectID).Scan(&n); err != nil {
			return err
		}
		if n >= limit {
			return store.ErrLimit
		}
		_, err := tx.ExecContext(ctx, "INSERT INTO federated_identity_credentials (id, owner_object_id, name, issuer, subject, audiences, description) VALUES ($1, $2, $3, $4, $5, $6, $7)",
			c.ID, c.OwnerObjectID, c.Name, c.Issuer, c.Subject, string(auds), c.Description)
		return insertErr(err)
	})
}

// ListFederatedCredentials is read for every federated token request: it
// answers from the directory cache.
func (db *DB) ListFederatedCredentials(ctx context.Context, ownerObjectID string) ([]store.FederatedCredential, error) {
	return cached(db, &db.federated, ownerObjectID, func() ([]store.FederatedCredential, error) { return db.readFederatedCredentials(ctx, ownerObjectID) })
}

func (db *DB) readFederatedCredentials(ctx context.Context, ownerObjectID string) ([]store.FederatedCredential, error) {
	rows, err := db.query(ctx, "SELECT id, owner_object_id, name, issuer, subject, audiences, description FROM federated_identity_credentials WHERE owner_object_id = $1 ORDER BY LOWER(name)", ownerObjectID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []store.FederatedCredential
	for rows.Next() {
		var c store.FederatedCredential
		var auds string
		if err := rows.Scan(&c.ID, &c.OwnerObjectID, &c.Name, &c.Issuer, &c.Subject, &auds, &c.Description); err != nil {
			return nil, err
		}
		if err := json.Unmarshal([]byte(auds), &c.Audiences); err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

func (db *DB) UpdateFederatedCredential(ctx context.Context, c store.FederatedCredential) error {
	auds, err := json.Marshal(c.Audiences)
	if err != nil {
		return err
	}
	return db.write(ctx, toDirectory, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, "UPDATE federated_identity_credentials SET issuer = $1, subject = $2, audiences = $3, description = $4 WHERE id = $5 AND owner_object_id = $6",
			c.Issuer, c.Subject, string(auds), c.Description, c.ID, c.OwnerObjectID)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return notFoundIfNil(err)
		}
		return nil
	})
}

func (db *DB) DeleteFederatedCredential(ctx context.Context, ownerObjectID, id string) error {
	return db.write(ctx, toDirectory, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, "DELETE FROM federated_identity_credentials WHERE id = $1 AND owner_object_id = $2", id, ownerObjectID)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return notFoundIfNil(err)
		}
		return nil
	})
}
