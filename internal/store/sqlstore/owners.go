package sqlstore

import (
	"context"

	"github.com/berthhq/berth/internal/store"
)

func (db *DB) AddApplicationOwner(ctx context.Context, appObjectID, ownerObjectID string) error {
	err := db.exec(ctx, "INSERT INTO application_owners (app_object_id, owner_object_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
		appObjectID, ownerObjectID)
	if isForeignKeyViolation(err) {
		return store.ErrNotFound
	}
	return err
}

func (db *DB) ListApplicationOwners(ctx context.Context, appObjectID string) ([]string, error) {
	rows, err := db.query(ctx, "SELECT owner_object_id FROM application_owners WHERE app_object_id = $1 ORDER BY owner_object_id", appObjectID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		out = append(out, id)
	}
	return out, rows.Err()
}

func (db *DB) IsApplicationOwner(ctx context.Context, appObjectID, principalObjectID string) (bool, error) {
	var n int
	err := db.queryRow(ctx, "SELECT COUNT(*) FROM application_owners WHERE app_object_id = $1 AND owner_object_id = $2",
		appObjectID, principalObjectID).Scan(&n)
	return n > 0, err
}
