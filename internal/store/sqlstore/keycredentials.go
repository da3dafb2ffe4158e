package sqlstore

import (
	"context"

	"github.com/berthhq/berth/internal/store"
)

func (db *DB) AddKeyCredential(ctx context.Context, c store.KeyCredential) error {
	err := db.exec(ctx, "INSERT INTO key_credentials (key_id, app_object_id, display_name, key_type, key_usage, certificate, thumbprint_sha1, thumbprint_sha256, start_at, end_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
		c.KeyID, c.AppObjectID, c.DisplayName, c.Type, c.Usage, c.Certificate, c.Thumbprint, c.ThumbprintSHA256, nanos(c.StartDateTime), nanos(c.EndDateTime))
	if isForeignKeyViolation(err) {
		return store.ErrNotFound
	}
	return insertErr(err)
}

func (db *DB) ListKeyCredentials(ctx context.Context, appObjectID string) ([]store.KeyCredential, error) {
	rows, err := db.query(ctx, "SELECT key_id, app_object_id, display_name, key_type, key_usage, certificate, thumbprint_sha1, thumbprint_sha256, start_at, end_at FROM key_credentials WHERE app_object_id = $1 ORDER BY start_at, key_id", appObjectID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []store.KeyCredential
	for rows.Next() {
		var c store.KeyCredential
		var start, end int64
		if err := rows.Scan(&c.KeyID, &c.AppObjectID, &c.DisplayName, &c.Type, &c.Usage, &c.Certificate, &c.Thumbprint, &c.ThumbprintSHA256, &start, &end); err != nil {
			return nil, err
		}
		c.StartDateTime, c.EndDateTime = fromNanos(start), fromNanos(end)
		out = append(out, c)
	}
	return out, rows.Err()
}
