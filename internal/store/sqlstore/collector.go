package sqlstore

import (
	"context"
	"database/sql"
	"time"

	"github.com/berthhq/berth/internal/oci"
	"github.com/berthhq/berth/internal/store"
)

const unreferenced = "NOT EXISTS (SELECT 1 FROM manifest_blobs mb WHERE mb.digest = blobs.digest)"

func (db *DB) AcquireLease(ctx context.Context, name, holder string, ttl time.Duration) (bool, error) {
	now := time.Now()
	var got bool
	err := db.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `INSERT INTO leases (name, holder, expires_at) VALUES ($1, $2, $3)
			ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
			WHERE leases.holder = excluded.holder OR leases.expires_at < $4`,
			name, holder, nanos(now.Add(ttl)), nanos(now))
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		got = n == 1
		return err
	})
	return got, err
}

func (db *DB) ReleaseLease(ctx context.Context, name, holder string) error {
	return db.exec(ctx, "DELETE FROM leases WHERE name = $1 AND holder = $2", name, holder)
}

func (db *DB) UnreferencedBlobs(ctx context.Context, cutoff time.Time, limit int) ([]oci.Digest, error) {
	names, err := db.listStrings(ctx, "SELECT digest FROM blobs WHERE state <> $1 AND touched_at < $2 AND "+unreferenced+" ORDER BY digest",
		limit, blobDeleting, nanos(cutoff))
	return digests(names), err
}

// MarkBlobDeleting re-checks every condition in the one UPDATE, so a touch
// committed after UnreferencedBlobs listed the blob keeps it alive.
func (db *DB) MarkBlobDeleting(ctx context.Context, d oci.Digest, cutoff time.Time) (bool, error) {
	var marked bool
	err := db.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, "UPDATE blobs SET state = $1 WHERE digest = $2 AND state <> $1 AND touched_at < $3 AND "+unreferenced,
			blobDeleting, string(d), nanos(cutoff))
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		marked = n == 1
		return err
	})
	return marked, err
}

func (db *DB) DeletingBlobs(ctx context.Context) ([]oci.Digest, error) {
	names, err := db.listStrings(ctx, "SELECT digest FROM blobs WHERE state = $1 ORDER BY digest", 0, blobDeleting)
	return digests(names), err
}

func (db *DB) ForgetBlob(ctx context.Context, d oci.Digest) error {
	return db.affectOne(ctx, store.ErrBlobUnknown, "DELETE FROM blobs WHERE digest = $1 AND state = $2", string(d), blobDeleting)
}

func (db *DB) StaleUploads(ctx context.Context, cutoff time.Time) ([]string, error) {
	return db.listStrings(ctx, "SELECT id FROM uploads WHERE updated_at < $1 ORDER BY id", 0, nanos(cutoff))
}

func (db *DB) ListBlobs(ctx context.Context, after oci.Digest, limit int) ([]store.BlobRecord, error) {
	rows, err := db.query(ctx, "SELECT digest, size, state, touched_at FROM blobs WHERE digest > $1 ORDER BY digest LIMIT $2", string(after), limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []store.BlobRecord
	for rows.Next() {
		var r store.BlobRecord
		var digest string
		var state int
		var touched int64
		if err := rows.Scan(&digest, &r.Size, &state, &touched); err != nil {
			return nil, err
		}
		r.Digest, r.State, r.TouchedAt = oci.Digest(digest), store.BlobState(state), fromNanos(touched)
		out = append(out, r)
	}
	return out, rows.Err()
}

func (db *DB) ListManifests(ctx context.Context, after store.ManifestCursor, limit int) ([]store.RepoManifest, error) {
	rows, err := db.query(ctx, `SELECT registry, repository, digest, media_type, artifact_type, subject, annotations, content FROM manifests
		WHERE (registry > $1) OR (registry = $1 AND repository > $2) OR (registry = $1 AND repository = $2 AND digest > $3)
		ORDER BY registry, repository, digest LIMIT $4`, after.Repo.Registry, after.Repo.Name, string(after.Digest), limit)
	if err != nil {
		return nil, err
	}
	var out []store.RepoManifest
	for rows.Next() {
		var m store.RepoManifest
		var digest string
		var subject sql.NullString
		if err := rows.Scan(&m.Repo.Registry, &m.Repo.Name, &digest, &m.MediaType, &m.ArtifactType, &subject, &m.Annotations, &m.Content); err != nil {
			rows.Close()
			return nil, err
		}
		m.Digest, m.Subject = oci.Digest(digest), oci.Digest(subject.String)
		out = append(out, m)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	for i := range out {
		m := &out[i]
		blobs, err := db.listStrings(ctx, "SELECT digest FROM manifest_blobs WHERE registry = $1 AND repository = $2 AND manifest = $3 ORDER BY digest", 0,
			m.Repo.Registry, m.Repo.Name, string(m.Digest))
		if err != nil {
			return nil, err
		}
		children, err := db.listStrings(ctx, "SELECT child FROM manifest_children WHERE registry = $1 AND repository = $2 AND manifest = $3 ORDER BY child", 0,
			m.Repo.Registry, m.Repo.Name, string(m.Digest))
		if err != nil {
			return nil, err
		}
		m.Blobs, m.Children = digests(blobs), digests(children)
	}
	return out, nil
}

func digests(names []string) []oci.Digest {
	out := make([]oci.Digest, len(names))
	for i, n := range names {
		out[i] = oci.Digest(n)
	}
	return out
}
