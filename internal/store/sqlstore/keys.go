package sqlstore

import (
	"context"
	"time"

	"github.com/berthhq/berth/internal/store"
)

// timeOrZero stores the zero time as 0 rather than a large negative number.
func timeOrZero(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

func (db *DB) CreateSigningKey(ctx context.Context, k store.SigningKey) error {
	return insertErr(db.exec(ctx, "INSERT INTO signing_keys (id, certificate, private_key, created_at, signs_from, retire_at) VALUES ($1, $2, $3, $4, $5, $6)",
		k.ID, k.Certificate, k.PrivateKey, nanos(k.CreatedAt), nanos(k.SignsFrom), timeOrZero(k.RetireAt)))
}

func (db *DB) ListSigningKeys(ctx context.Context) ([]store.SigningKey, error) {
	rows, err := db.query(ctx, "SELECT id, certificate, private_key, created_at, signs_from, retire_at FROM signing_keys ORDER BY created_at, id")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []store.SigningKey
	for rows.Next() {
		var k store.SigningKey
		var created, signs, retire int64
		if err := rows.Scan(&k.ID, &k.Certificate, &k.PrivateKey, &created, &signs, &retire); err != nil {
			return nil, err
		}
		k.CreatedAt, k.SignsFrom = fromNanos(created), fromNanos(signs)
		if retire != 0 {
			k.RetireAt = fromNanos(retire)
		}
		out = append(out, k)
	}
	return out, rows.Err()
}

func (db *DB) RetireSigningKey(ctx context.Context, id string, at time.Time) error {
	return db.affectOne(ctx, store.ErrNotFound, "UPDATE signing_keys SET retire_at = $1 WHERE id = $2", nanos(at), id)
}
