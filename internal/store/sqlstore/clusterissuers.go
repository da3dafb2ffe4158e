package sqlstore

import (
	"context"
	"database/sql"

	"github.com/berthhq/berth/internal/store"
)

func (db *DB) CreateClusterIssuer(ctx context.Context, c store.ClusterIssuer) error {
	return insertErr(db.exec(ctx, "INSERT INTO cluster_issuers (issuer, resource_id, created_at) VALUES ($1, $2, $3)", c.Issuer, c.ResourceID, nanos(c.CreatedAt)))
}

func (db *DB) GetClusterIssuer(ctx context.Context, issuer string) (store.ClusterIssuer, error) {
	c := store.ClusterIssuer{Issuer: issuer}
	var at int64
	if err := db.queryRow(ctx, "SELECT resource_id, created_at FROM cluster_issuers WHERE issuer = $1", issuer).Scan(&c.ResourceID, &at); err != nil {
		return c, notFound(err, store.ErrNotFound)
	}
	c.CreatedAt = fromNanos(at)
	return c, nil
}

func (db *DB) DeleteClusterIssuer(ctx context.Context, issuer string) error {
	return db.tx(ctx, func(tx *sql.Tx) error {
		return affected(tx.ExecContext(ctx, "DELETE FROM cluster_issuers WHERE issuer = $1", issuer))
	})
}
