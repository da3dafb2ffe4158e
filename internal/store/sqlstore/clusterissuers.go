package sqlstore

import (
	"context"
	"database/sql"
	"errors"

	"github.com/berthhq/berth/internal/store"
)

// clusterIssuer is a look-up's outcome, kept whether or not the issuer
// is a cluster's: every federated token asks, and most issuers are not.
type clusterIssuer struct {
	c     store.ClusterIssuer
	found bool
}

// Cluster issuers are read through the directory cache, as federated
// credentials are, and their rare writes move the directory's version.
func (db *DB) CreateClusterIssuer(ctx context.Context, c store.ClusterIssuer) error {
	return insertErr(db.execWrite(ctx, toDirectory, "INSERT INTO cluster_issuers (issuer, resource_id, created_at) VALUES ($1, $2, $3)", c.Issuer, c.ResourceID, nanos(c.CreatedAt)))
}

func (db *DB) GetClusterIssuer(ctx context.Context, issuer string) (store.ClusterIssuer, error) {
	e, err := cached(db, &db.clusterIssuers, issuer, func() (clusterIssuer, error) { return db.readClusterIssuer(ctx, issuer) })
	if err == nil && !e.found {
		err = store.ErrNotFound
	}
	return e.c, err
}

func (db *DB) readClusterIssuer(ctx context.Context, issuer string) (clusterIssuer, error) {
	c := store.ClusterIssuer{Issuer: issuer}
	var at int64
	err := db.queryRow(ctx, "SELECT resource_id, created_at FROM cluster_issuers WHERE issuer = $1", issuer).Scan(&c.ResourceID, &at)
	if errors.Is(err, sql.ErrNoRows) {
		return clusterIssuer{}, nil
	}
	if err != nil {
		return clusterIssuer{}, err
	}
	c.CreatedAt = fromNanos(at)
	return clusterIssuer{c: c, found: true}, nil
}

func (db *DB) DeleteClusterIssuer(ctx context.Context, issuer string) error {
	return db.write(ctx, toDirectory, func(tx *sql.Tx) error {
		return affected(tx.ExecContext(ctx, "DELETE FROM cluster_issuers WHERE issuer = $1", issuer))
	})
}
