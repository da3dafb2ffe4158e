package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/berthhq/berth/internal/oci"
	"github.com/berthhq/berth/internal/store"
)

func (db *DB) GetRepositoryInfo(ctx context.Context, repo store.Repo) (store.RepositoryInfo, error) {
	info := store.RepositoryInfo{Repo: repo}
	var created int64
	var manifestsAt, tagsAt sql.NullInt64
	err := db.queryRow(ctx, `SELECT r.created_at, r.delete_enabled, r.write_enabled, r.list_enabled, r.read_enabled,
			(SELECT COUNT(*) FROM manifests m WHERE m.registry = r.registry AND m.repository = r.name),
			(SELECT MAX(m.updated_at) FROM manifests m WHERE m.registry = r.registry AND m.repository = r.name),
			(SELECT COUNT(*) FROM tags t WHERE t.registry = r.registry AND t.repository = r.name),
			(SELECT MAX(t.updated_at) FROM tags t WHERE t.registry = r.registry AND t.repository = r.name)
		FROM repositories r WHERE r.registry = $1 AND r.name = $2`, repo.Registry, repo.Name).
		Scan(&created, &info.DeleteEnabled, &info.WriteEnabled, &info.ListEnabled, &info.ReadEnabled,
			&info.ManifestCount, &manifestsAt, &info.TagCount, &tagsAt)
	if err != nil {
		return info, notFound(err, store.ErrNotFound)
	}
	info.CreatedAt = fromNanos(created)
	info.UpdatedAt = fromNanos(max(created, manifestsAt.Int64, tagsAt.Int64))
	return info, nil
}

// repositoryExists is ErrNotFound for a repository that does not exist.
func (db *DB) repositoryExists(ctx context.Context, repo store.Repo) error {
	var n int
	if err := db.queryRow(ctx, "SELECT COUNT(*) FROM repositories WHERE registry = $1 AND name = $2", repo.Registry, repo.Name).Scan(&n); err != nil {
		return err
	}
	if n == 0 {
		return store.ErrNotFound
	}
	return nil
}

// page adds to a listing's query the order, the cursor and the limit of q.
// key is the column Last names, at the column holding the last update.
// The cursor row's time is read in the same statement, so a page follows
// the one before even when times are equal (they tie-break by key).
func page(query string, args []any, table, key, at string, q store.ArtifactQuery) (string, []any) {
	n := len(args)
	switch {
	case q.Order == store.ByName:
		if q.Last != "" {
			args = append(args, q.Last)
			query += fmt.Sprintf(" AND %s > $%d", key, n+1)
		}
		query += " ORDER BY " + key
	default:
		cmp, dir := ">", "ASC"
		if q.Order == store.ByTimeDesc {
			cmp, dir = "<", "DESC"
		}
		if q.Last != "" {
			args = append(args, q.Last)
			cursor := fmt.Sprintf("(SELECT c.%s FROM %s c WHERE c.registry = $1 AND c.repository = $2 AND c.%s = $%d)", at, table, key, n+1)
			query += fmt.Sprintf(" AND (%s %s %s OR (%s = %s AND %s %s $%d))", at, cmp, cursor, at, cursor, key, cmp, n+1)
		}
		query += fmt.Sprintf(" ORDER BY %s %s, %s %s", at, dir, key, dir)
	}
	if q.N > 0 {
		query += fmt.Sprintf(" LIMIT %d", q.N)
	}
	return query, args
}

const tagColumns = "name, digest, created_at, updated_at, delete_enabled, write_enabled, list_enabled, read_enabled"

func scanTag(row rowScanner) (store.TagInfo, error) {
	var t store.TagInfo
	var digest string
	var created, updated int64
	err := row.Scan(&t.Name, &digest, &created, &updated, &t.DeleteEnabled, &t.WriteEnabled, &t.ListEnabled, &t.ReadEnabled)
	t.Digest, t.CreatedAt, t.UpdatedAt = oci.Digest(digest), fromNanos(created), fromNanos(updated)
	return t, err
}

func (db *DB) ListTagInfo(ctx context.Context, repo store.Repo, q store.ArtifactQuery) ([]store.TagInfo, error) {
	if err := db.repositoryExists(ctx, repo); err != nil {
		return nil, err
	}
	query := "SELECT " + tagColumns + " FROM tags WHERE registry = $1 AND repository = $2"
	args := []any{repo.Registry, repo.Name}
	if q.Digest != "" {
		args = append(args, string(q.Digest))
		query += " AND digest = $3"
	}
	query, args = page(query, args, "tags", "name", "updated_at", q)
	rows, err := db.query(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []store.TagInfo{}
	for rows.Next() {
		t, err := scanTag(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

func (db *DB) GetTagInfo(ctx context.Context, repo store.Repo, tag string) (store.TagInfo, error) {
	t, err := scanTag(db.queryRow(ctx, "SELECT "+tagColumns+" FROM tags WHERE registry = $1 AND repository = $2 AND name = $3",
		repo.Registry, repo.Name, tag))
	return t, notFound(err, store.ErrManifestUnknown)
}

// manifestColumns are a manifest's metadata; its size counts the blobs it
// references, which manifest_blobs holds once each.
const manifestColumns = `m.digest, m.media_type, m.created_at, m.updated_at,
	m.delete_enabled, m.write_enabled, m.list_enabled, m.read_enabled,
	LENGTH(m.content) + COALESCE((SELECT SUM(b.size) FROM manifest_blobs mb JOIN blobs b ON b.digest = mb.digest
		WHERE mb.registry = m.registry AND mb.repository = m.repository AND mb.manifest = m.digest), 0)`

func scanManifest(row rowScanner) (store.ManifestInfo, error) {
	var m store.ManifestInfo
	var digest string
	var created, updated int64
	err := row.Scan(&digest, &m.MediaType, &created, &updated, &m.DeleteEnabled, &m.WriteEnabled, &m.ListEnabled, &m.ReadEnabled, &m.Size)
	m.Digest, m.CreatedAt, m.UpdatedAt = oci.Digest(digest), fromNanos(created), fromNanos(updated)
	return m, err
}

// manifestTags fills in the tags of manifests of one repository.
func (db *DB) manifestTags(ctx context.Context, repo store.Repo, ms []store.ManifestInfo) error {
	if len(ms) == 0 {
		return nil
	}
	at := make(map[oci.Digest]int, len(ms))
	args := []any{repo.Registry, repo.Name}
	marks := make([]string, len(ms))
	for i, m := range ms {
		at[m.Digest] = i
		ms[i].Tags = []string{}
		args = append(args, string(m.Digest))
		marks[i] = fmt.Sprintf("$%d", i+3)
	}
	rows, err := db.query(ctx, "SELECT digest, name FROM tags WHERE registry = $1 AND repository = $2 AND digest IN ("+
		strings.Join(marks, ", ")+") ORDER BY name", args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var d, name string
		if err := rows.Scan(&d, &name); err != nil {
			return err
		}
		i := at[oci.Digest(d)]
		ms[i].Tags = append(ms[i].Tags, name)
	}
	return rows.Err()
}

func (db *DB) ListManifestInfo(ctx context.Context, repo store.Repo, q store.ArtifactQuery) ([]store.ManifestInfo, error) {
	if err := db.repositoryExists(ctx, repo); err != nil {
		return nil, err
	}
	query, args := page("SELECT "+manifestColumns+" FROM manifests m WHERE m.registry = $1 AND m.repository = $2",
		[]any{repo.Registry, repo.Name}, "manifests", "digest", "updated_at", q)
	rows, err := db.query(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	out := []store.ManifestInfo{}
	for rows.Next() {
		m, err := scanManifest(rows)
		if err != nil {
			rows.Close()
			return nil, err
		}
		out = append(out, m)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return out, db.manifestTags(ctx, repo, out)
}

func (db *DB) GetManifestInfo(ctx context.Context, repo store.Repo, d oci.Digest) (store.ManifestInfo, error) {
	m, err := scanManifest(db.queryRow(ctx, "SELECT "+manifestColumns+" FROM manifests m WHERE m.registry = $1 AND m.repository = $2 AND m.digest = $3",
		repo.Registry, repo.Name, string(d)))
	if err != nil {
		return m, notFound(err, store.ErrManifestUnknown)
	}
	ms := []store.ManifestInfo{m}
	err = db.manifestTags(ctx, repo, ms)
	return ms[0], err
}

// updateAttributes sets the attributes up names on the rows where
// matches; missing if there is none. It is the last change of a tag or
// manifest, which the metadata API shows.
func (db *DB) updateAttributes(ctx context.Context, table, where string, stamp bool, up store.AttributesUpdate, missing error, args ...any) error {
	var sets []string
	for _, f := range []struct {
		col string
		v   *bool
	}{{"delete_enabled", up.DeleteEnabled}, {"write_enabled", up.WriteEnabled}, {"list_enabled", up.ListEnabled}, {"read_enabled", up.ReadEnabled}} {
		if f.v != nil {
			args = append(args, *f.v)
			sets = append(sets, fmt.Sprintf("%s = $%d", f.col, len(args)))
		}
	}
	if stamp {
		args = append(args, time.Now().UnixNano())
		sets = append(sets, fmt.Sprintf("updated_at = $%d", len(args)))
	}
	if len(sets) == 0 {
		// Nothing to set: still tell whether the row exists.
		sets = append(sets, "delete_enabled = delete_enabled")
	}
	// The attributes decide what reads of manifests answer (ReadEnabled),
	// so a change moves the manifests' version past what is cached.
	return db.write(ctx, toManifests, func(tx *sql.Tx) error {
		return affectOne(ctx, tx, missing, "UPDATE "+table+" SET "+strings.Join(sets, ", ")+" WHERE "+where, args...)
	})
}

func (db *DB) UpdateRepositoryAttributes(ctx context.Context, repo store.Repo, up store.AttributesUpdate) error {
	return db.updateAttributes(ctx, "repositories", "registry = $1 AND name = $2", false, up, store.ErrNotFound, repo.Registry, repo.Name)
}

func (db *DB) UpdateTagAttributes(ctx context.Context, repo store.Repo, tag string, up store.AttributesUpdate) error {
	return db.updateAttributes(ctx, "tags", "registry = $1 AND repository = $2 AND name = $3", true, up, store.ErrManifestUnknown, repo.Registry, repo.Name, tag)
}

func (db *DB) UpdateManifestAttributes(ctx context.Context, repo store.Repo, d oci.Digest, up store.AttributesUpdate) error {
	return db.updateAttributes(ctx, "manifests", "registry = $1 AND repository = $2 AND digest = $3", true, up, store.ErrManifestUnknown, repo.Registry, repo.Name, string(d))
}

func (db *DB) DeleteRepository(ctx context.Context, repo store.Repo) (store.DeletedRepository, error) {
	var out store.DeletedRepository
	err := db.write(ctx, toManifests, func(tx *sql.Tx) error {
		out = store.DeletedRepository{Manifests: []oci.Digest{}, Tags: []string{}}
		locked, err := repositoryLocked(ctx, tx, repo)
		if err != nil {
			return err
		}
		var lockedItems int
		if err := tx.QueryRowContext(ctx, `SELECT
			(SELECT COUNT(*) FROM manifests WHERE registry = $1 AND repository = $2 AND NOT (delete_enabled AND write_enabled)) +
			(SELECT COUNT(*) FROM tags WHERE registry = $1 AND repository = $2 AND NOT (delete_enabled AND write_enabled))`,
			repo.Registry, repo.Name).Scan(&lockedItems); err != nil {
			return err
		}
		if locked || lockedItems > 0 {
			return fmt.Errorf("%w: repository %s or something in it refuses deletes", store.ErrLocked, repo.Name)
		}
		if err := collect(ctx, tx, &out.Manifests, "SELECT digest FROM manifests WHERE registry = $1 AND repository = $2 ORDER BY digest", repo); err != nil {
			return err
		}
		if err := collect(ctx, tx, &out.Tags, "SELECT name FROM tags WHERE registry = $1 AND repository = $2 ORDER BY name", repo); err != nil {
			return err
		}
		// Blob links, manifests and tags go with the repository (ON
		// DELETE CASCADE).
		_, err = tx.ExecContext(ctx, "DELETE FROM repositories WHERE registry = $1 AND name = $2", repo.Registry, repo.Name)
		return err
	})
	return out, err
}

func collect[T ~string](ctx context.Context, tx *sql.Tx, into *[]T, query string, repo store.Repo) error {
	rows, err := tx.QueryContext(ctx, query, repo.Registry, repo.Name)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return err
		}
		*into = append(*into, T(s))
	}
	return rows.Err()
}
