package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/berthhq/berth/internal/oci"
	"github.com/berthhq/berth/internal/store"
)

const (
	blobLive     = int(store.BlobLive)
	blobDeleting = int(store.BlobDeleting)
	blobPending  = int(store.BlobPending)
)

func ensureRepository(ctx context.Context, tx *sql.Tx, repo store.Repo, now int64) error {
	_, err := tx.ExecContext(ctx, "INSERT INTO repositories (registry, name, created_at) VALUES ($1, $2, $3) ON CONFLICT (registry, name) DO NOTHING",
		repo.Registry, repo.Name, now)
	if isForeignKeyViolation(err) {
		return fmt.Errorf("registry %q: %w", repo.Registry, store.ErrNotFound)
	}
	return err
}

// touchBlob refreshes a live blob record; false if the blob is unknown or
// being deleted. This is the write that orders a referencing operation
// against garbage collection (see the package store documentation).
func touchBlob(ctx context.Context, tx *sql.Tx, d oci.Digest, now int64) (bool, error) {
	res, err := tx.ExecContext(ctx, "UPDATE blobs SET touched_at = $1 WHERE digest = $2 AND state = $3", now, string(d), blobLive)
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

func (db *DB) LinkBlob(ctx context.Context, repo store.Repo, d oci.Digest, size int64) error {
	now := time.Now().UnixNano()
	return db.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `INSERT INTO blobs (digest, size, state, touched_at) VALUES ($1, $2, $3, $4)
			ON CONFLICT (digest) DO UPDATE SET touched_at = excluded.touched_at WHERE blobs.state <> $5`,
			string(d), size, blobPending, now, blobDeleting)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return store.ErrBlobBusy
		}
		if err := ensureRepository(ctx, tx, repo, now); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, "INSERT INTO repository_blobs (registry, repository, digest, linked_at) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
			repo.Registry, repo.Name, string(d), now)
		return err
	})
}

func (db *DB) PublishBlob(ctx context.Context, d oci.Digest) (bool, error) {
	var live bool
	err := db.tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, "UPDATE blobs SET state = $1 WHERE digest = $2 AND state = $3", blobLive, string(d), blobPending); err != nil {
			return err
		}
		var n int
		err := tx.QueryRowContext(ctx, "SELECT COUNT(*) FROM blobs WHERE digest = $1 AND state = $2", string(d), blobLive).Scan(&n)
		live = n == 1
		return err
	})
	return live, err
}

func (db *DB) StatBlob(ctx context.Context, repo store.Repo, d oci.Digest) (int64, error) {
	var size int64
	err := db.queryRow(ctx, `SELECT b.size FROM repository_blobs l JOIN blobs b ON b.digest = l.digest
		WHERE l.registry = $1 AND l.repository = $2 AND l.digest = $3 AND b.state = $4`,
		repo.Registry, repo.Name, string(d), blobLive).Scan(&size)
	return size, notFound(err, store.ErrBlobUnknown)
}

func (db *DB) MountBlob(ctx context.Context, from, repo store.Repo, d oci.Digest) (int64, error) {
	var size int64
	now := time.Now().UnixNano()
	err := db.tx(ctx, func(tx *sql.Tx) error {
		err := tx.QueryRowContext(ctx, `SELECT b.size FROM repository_blobs l JOIN blobs b ON b.digest = l.digest
			WHERE l.registry = $1 AND l.repository = $2 AND l.digest = $3 AND b.state = $4`,
			from.Registry, from.Name, string(d), blobLive).Scan(&size)
		if err != nil {
			return notFound(err, store.ErrBlobUnknown)
		}
		if ok, err := touchBlob(ctx, tx, d, now); err != nil {
			return err
		} else if !ok {
			return store.ErrBlobUnknown
		}
		if err := ensureRepository(ctx, tx, repo, now); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, "INSERT INTO repository_blobs (registry, repository, digest, linked_at) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
			repo.Registry, repo.Name, string(d), now)
		return err
	})
	return size, err
}

func (db *DB) UnlinkBlob(ctx context.Context, repo store.Repo, d oci.Digest) error {
	return db.affectOne(ctx, store.ErrBlobUnknown, "DELETE FROM repository_blobs WHERE registry = $1 AND repository = $2 AND digest = $3",
		repo.Registry, repo.Name, string(d))
}

func (db *DB) PutManifest(ctx context.Context, repo store.Repo, m store.Manifest, tags ...string) error {
	now := time.Now().UnixNano()
	// Touch in a fixed order so concurrent pushes sharing layers cannot
	// deadlock each other on PostgreSQL.
	blobs := slices.Clone(m.Blobs)
	slices.Sort(blobs)
	blobs = slices.Compact(blobs)
	children := slices.Compact(slices.Sorted(slices.Values(m.Children)))
	var subject any
	if m.Subject != "" {
		subject = string(m.Subject)
	}
	return db.write(ctx, toManifests, func(tx *sql.Tx) error {
		if err := ensureRepository(ctx, tx, repo, now); err != nil {
			return err
		}
		if err := writable(ctx, tx, repo, m.Digest, tags); err != nil {
			return err
		}
		for _, b := range blobs {
			var linked int
			err := tx.QueryRowContext(ctx, "SELECT COUNT(*) FROM repository_blobs WHERE registry = $1 AND repository = $2 AND digest = $3",
				repo.Registry, repo.Name, string(b)).Scan(&linked)
			if err != nil {
				return err
			}
			ok, err := touchBlob(ctx, tx, b, now)
			if err != nil {
				return err
			}
			if linked == 0 || !ok {
				return fmt.Errorf("%w: %s", store.ErrBlobUnknown, b)
			}
		}
		for _, c := range children {
			var n int
			if err := tx.QueryRowContext(ctx, "SELECT COUNT(*) FROM manifests WHERE registry = $1 AND repository = $2 AND digest = $3",
				repo.Registry, repo.Name, string(c)).Scan(&n); err != nil {
				return err
			}
			if n == 0 {
				return fmt.Errorf("%w: %s", store.ErrManifestUnknown, c)
			}
		}
		res, err := tx.ExecContext(ctx, `INSERT INTO manifests (registry, repository, digest, media_type, artifact_type, subject, annotations, content, created_at, updated_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9) ON CONFLICT DO NOTHING`,
			repo.Registry, repo.Name, string(m.Digest), m.MediaType, m.ArtifactType, subject, m.Annotations, m.Content, now)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 1 {
			for _, b := range blobs {
				if _, err := tx.ExecContext(ctx, "INSERT INTO manifest_blobs (registry, repository, manifest, digest) VALUES ($1, $2, $3, $4)",
					repo.Registry, repo.Name, string(m.Digest), string(b)); err != nil {
					return err
				}
			}
			for _, c := range children {
				if _, err := tx.ExecContext(ctx, "INSERT INTO manifest_children (registry, repository, manifest, child) VALUES ($1, $2, $3, $4)",
					repo.Registry, repo.Name, string(m.Digest), string(c)); err != nil {
					return err
				}
			}
		}
		for _, tag := range tags {
			if _, err := tx.ExecContext(ctx, `INSERT INTO tags (registry, repository, name, digest, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $5)
				ON CONFLICT (registry, repository, name) DO UPDATE SET digest = excluded.digest, updated_at = excluded.updated_at`,
				repo.Registry, repo.Name, tag, string(m.Digest), now); err != nil {
				return err
			}
		}
		return nil
	})
}

type manifestKey struct {
	registry, repository, ref string
}

// maxCachedManifestSize bounds what the manifest cache keeps: manifests
// are read far more than written (every pull starts with one, by tag),
// and most are a few kilobytes.
const maxCachedManifestSize = 64 << 10

// GetManifest answers from memory what it read at the current version of
// manifests and tags (berth gc and fsck, which open the database too,
// never write manifests). Not on PostgreSQL: there another replica's push
// or delete reaches this one's cache a little after it was acknowledged,
// and a registry client that pushes or deletes through one replica and
// reads through another at once (the OCI conformance suite does, through
// a load balancer) must see its write.
func (db *DB) GetManifest(ctx context.Context, repo store.Repo, ref oci.Reference) (store.Manifest, error) {
	v, cacheable := db.Version(store.ManifestTables)
	if !cacheable || db.listener != nil {
		return db.readManifest(ctx, repo, ref)
	}
	k := manifestKey{repo.Registry, repo.Name, string(ref.Digest) + ref.Tag}
	if m, ok := db.manifestCache.Get(k, v, time.Time{}); ok {
		return m, nil
	}
	m, err := db.readManifest(ctx, repo, ref)
	if err != nil || len(m.Content) > maxCachedManifestSize {
		return m, err
	}
	db.manifestCache.Put(k, m, v, time.Time{}, len(m.Content)+len(k.repository)+len(k.ref))
	return m, nil
}

func (db *DB) readManifest(ctx context.Context, repo store.Repo, ref oci.Reference) (store.Manifest, error) {
	var m store.Manifest
	var subject sql.NullString
	var digest string
	var readable bool
	var row rowScanner
	// The manifest, the tag it is asked by and the repository each may
	// refuse reads.
	if ref.Digest != "" {
		row = db.queryRow(ctx, `SELECT m.digest, m.media_type, m.artifact_type, m.subject, m.annotations, m.content,
			m.read_enabled AND r.read_enabled
			FROM manifests m JOIN repositories r ON r.registry = m.registry AND r.name = m.repository
			WHERE m.registry = $1 AND m.repository = $2 AND m.digest = $3`, repo.Registry, repo.Name, string(ref.Digest))
	} else {
		row = db.queryRow(ctx, `SELECT m.digest, m.media_type, m.artifact_type, m.subject, m.annotations, m.content,
			t.read_enabled AND m.read_enabled AND r.read_enabled
			FROM tags t JOIN manifests m ON m.registry = t.registry AND m.repository = t.repository AND m.digest = t.digest
			JOIN repositories r ON r.registry = t.registry AND r.name = t.repository
			WHERE t.registry = $1 AND t.repository = $2 AND t.name = $3`, repo.Registry, repo.Name, ref.Tag)
	}
	if err := row.Scan(&digest, &m.MediaType, &m.ArtifactType, &subject, &m.Annotations, &m.Content, &readable); err != nil {
		return store.Manifest{}, notFound(err, store.ErrManifestUnknown)
	}
	if !readable {
		return store.Manifest{}, fmt.Errorf("%w: %s, its manifest or its repository refuses reads", store.ErrLocked, ref)
	}
	m.Digest = oci.Digest(digest)
	m.Subject = oci.Digest(subject.String)
	return m, nil
}

// writable refuses a push into a repository that refuses writes, or one
// that would move a tag that refuses them. Pushing what a tag already
// points at again moves nothing, so a locked tag accepts it.
func writable(ctx context.Context, tx *sql.Tx, repo store.Repo, d oci.Digest, tags []string) error {
	var ok bool
	if err := tx.QueryRowContext(ctx, "SELECT write_enabled FROM repositories WHERE registry = $1 AND name = $2",
		repo.Registry, repo.Name).Scan(&ok); err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("%w: repository %s refuses writes", store.ErrLocked, repo.Name)
	}
	for _, tag := range tags {
		var cur string
		err := tx.QueryRowContext(ctx, "SELECT digest, write_enabled FROM tags WHERE registry = $1 AND repository = $2 AND name = $3",
			repo.Registry, repo.Name, tag).Scan(&cur, &ok)
		if errors.Is(err, sql.ErrNoRows) {
			continue
		}
		if err != nil {
			return err
		}
		if !ok && cur != string(d) {
			return fmt.Errorf("%w: tag %s refuses writes", store.ErrLocked, tag)
		}
	}
	return nil
}

// repositoryLocked reports whether a repository refuses deletes;
// ErrNotFound if it does not exist.
func repositoryLocked(ctx context.Context, tx *sql.Tx, repo store.Repo) (bool, error) {
	var a store.Attributes
	err := tx.QueryRowContext(ctx, "SELECT delete_enabled, write_enabled FROM repositories WHERE registry = $1 AND name = $2",
		repo.Registry, repo.Name).Scan(&a.DeleteEnabled, &a.WriteEnabled)
	return a.Locked(), notFound(err, store.ErrNotFound)
}

// DeleteManifest relies on ON DELETE CASCADE for the manifest's tags, blob
// references and children.
func (db *DB) DeleteManifest(ctx context.Context, repo store.Repo, d oci.Digest) error {
	return db.write(ctx, toManifests, func(tx *sql.Tx) error {
		var a store.Attributes
		err := tx.QueryRowContext(ctx, "SELECT delete_enabled, write_enabled FROM manifests WHERE registry = $1 AND repository = $2 AND digest = $3",
			repo.Registry, repo.Name, string(d)).Scan(&a.DeleteEnabled, &a.WriteEnabled)
		if err != nil {
			return notFound(err, store.ErrManifestUnknown)
		}
		var lockedTags int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM tags WHERE registry = $1 AND repository = $2 AND digest = $3
			AND NOT (delete_enabled AND write_enabled)`, repo.Registry, repo.Name, string(d)).Scan(&lockedTags); err != nil {
			return err
		}
		repoLocked, err := repositoryLocked(ctx, tx, repo)
		if err != nil {
			return err
		}
		if a.Locked() || lockedTags > 0 || repoLocked {
			return fmt.Errorf("%w: manifest %s, a tag of it, or its repository refuses deletes", store.ErrLocked, d)
		}
		_, err = tx.ExecContext(ctx, "DELETE FROM manifests WHERE registry = $1 AND repository = $2 AND digest = $3",
			repo.Registry, repo.Name, string(d))
		return err
	})
}

func (db *DB) DeleteTag(ctx context.Context, repo store.Repo, tag string) error {
	return db.write(ctx, toManifests, func(tx *sql.Tx) error {
		var a store.Attributes
		err := tx.QueryRowContext(ctx, "SELECT delete_enabled, write_enabled FROM tags WHERE registry = $1 AND repository = $2 AND name = $3",
			repo.Registry, repo.Name, tag).Scan(&a.DeleteEnabled, &a.WriteEnabled)
		if err != nil {
			return notFound(err, store.ErrManifestUnknown)
		}
		repoLocked, err := repositoryLocked(ctx, tx, repo)
		if err != nil {
			return err
		}
		if a.Locked() || repoLocked {
			return fmt.Errorf("%w: tag %s or its repository refuses deletes", store.ErrLocked, tag)
		}
		_, err = tx.ExecContext(ctx, "DELETE FROM tags WHERE registry = $1 AND repository = $2 AND name = $3", repo.Registry, repo.Name, tag)
		return err
	})
}

func (db *DB) listStrings(ctx context.Context, query string, n int, args ...any) ([]string, error) {
	if n > 0 {
		query += fmt.Sprintf(" LIMIT %d", n)
	}
	rows, err := db.query(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []string{}
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

func (db *DB) ListTags(ctx context.Context, repo store.Repo, last string, n int) ([]string, error) {
	var exists int
	if err := db.queryRow(ctx, "SELECT COUNT(*) FROM repositories WHERE registry = $1 AND name = $2", repo.Registry, repo.Name).Scan(&exists); err != nil {
		return nil, err
	}
	if exists == 0 {
		return nil, store.ErrNotFound
	}
	return db.listStrings(ctx, "SELECT name FROM tags WHERE registry = $1 AND repository = $2 AND name > $3 ORDER BY name", n, repo.Registry, repo.Name, last)
}

func (db *DB) ListRepositories(ctx context.Context, registry, last string, n int) ([]string, error) {
	return db.listStrings(ctx, "SELECT name FROM repositories WHERE registry = $1 AND name > $2 ORDER BY name", n, registry, last)
}

func (db *DB) Referrers(ctx context.Context, repo store.Repo, d oci.Digest, artifactType string) ([]store.Referrer, error) {
	query := `SELECT digest, media_type, artifact_type, LENGTH(content), annotations FROM manifests
		WHERE registry = $1 AND repository = $2 AND subject = $3`
	args := []any{repo.Registry, repo.Name, string(d)}
	if artifactType != "" {
		query += " AND artifact_type = $4"
		args = append(args, artifactType)
	}
	rows, err := db.query(ctx, query+" ORDER BY digest", args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []store.Referrer{}
	for rows.Next() {
		var r store.Referrer
		var digest string
		if err := rows.Scan(&digest, &r.MediaType, &r.ArtifactType, &r.Size, &r.Annotations); err != nil {
			return nil, err
		}
		r.Digest = oci.Digest(digest)
		out = append(out, r)
	}
	return out, rows.Err()
}

// CreateUpload does not create the repository: an upload that never
// completes must leave no trace in the catalog.
func (db *DB) CreateUpload(ctx context.Context, u store.Upload) error {
	return insertErr(db.exec(ctx, "INSERT INTO uploads (id, registry, repository, started_at, updated_at) VALUES ($1, $2, $3, $4, $5)",
		u.ID, u.Repo.Registry, u.Repo.Name, nanos(u.StartedAt), nanos(u.UpdatedAt)))
}

func (db *DB) GetUpload(ctx context.Context, id string) (store.Upload, error) {
	var u store.Upload
	var started, updated int64
	err := db.queryRow(ctx, "SELECT id, registry, repository, started_at, updated_at FROM uploads WHERE id = $1", id).
		Scan(&u.ID, &u.Repo.Registry, &u.Repo.Name, &started, &updated)
	u.StartedAt, u.UpdatedAt = fromNanos(started), fromNanos(updated)
	return u, notFound(err, store.ErrUploadUnknown)
}

func (db *DB) TouchUpload(ctx context.Context, id string, at time.Time) error {
	return db.affectOne(ctx, store.ErrUploadUnknown, "UPDATE uploads SET updated_at = $1 WHERE id = $2", nanos(at), id)
}

func (db *DB) DeleteUpload(ctx context.Context, id string) error {
	return db.affectOne(ctx, store.ErrUploadUnknown, "DELETE FROM uploads WHERE id = $1", id)
}

// affectOne runs a write that must change a row, else returns missing.
func (db *DB) affectOne(ctx context.Context, missing error, query string, args ...any) error {
	return db.tx(ctx, func(tx *sql.Tx) error { return affectOne(ctx, tx, missing, query, args...) })
}

func affectOne(ctx context.Context, tx *sql.Tx, missing error, query string, args ...any) error {
	res, err := tx.ExecContext(ctx, query, args...)
	if err != nil {
		return err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n == 0 {
		return missing
	}
	return nil
}
