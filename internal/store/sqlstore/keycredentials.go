package sqlstore

import (
	"context"
	"database/sql"

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

func (db *DB) ReplaceKeyCredentials(ctx context.Context, appObjectID string, keep []string, add []store.KeyCredential) error {
	return db.tx(ctx, func(tx *sql.Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, "SELECT COUNT(*) FROM applications WHERE object_id = $1", appObjectID).Scan(&n); err != nil {
			return err
		}
		if n == 0 {
			return store.ErrNotFound
		}
		rows, err := tx.QueryContext(ctx, "SELECT key_id FROM key_credentials WHERE app_object_id = $1", appObjectID)
		if err != nil {
			return err
		}
		present := map[string]bool{}
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return err
			}
			present[id] = true
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for _, id := range keep {
			if !present[id] {
				return store.ErrNotFound
			}
			delete(present, id)
		}
		for id := range present {
			if _, err := tx.ExecContext(ctx, "DELETE FROM key_credentials WHERE key_id = $1", id); err != nil {
				return err
			}
		}
		for _, c := range add {
			c.AppObjectID = appObjectID
			_, err := tx.ExecContext(ctx, "INSERT INTO key_credentials (key_id, app_object_id, display_name, key_type, key_usage, certificate, thumbprint_sha1, thumbprint_sha256, start_at, end_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
				c.KeyID, c.AppObjectID, c.DisplayName, c.Type, c.Usage, c.Certificate, c.Thumbprint, c.ThumbprintSHA256, nanos(c.StartDateTime), nanos(c.EndDateTime))
			if err != nil {
				return insertErr(err)
			}
		}
		return nil
	})
}
