package sqlstore

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"path"
	"runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" driver
	"modernc.org/sqlite"

	"github.com/berthhq/berth/internal/store"
	"github.com/berthhq/berth/internal/store/cache"
)

//go:embed migrations/*.sql
var migrations embed.FS

// DB is a metadata store on SQLite or PostgreSQL.
type DB struct {
	d dialect
	// w takes every write transaction; r serves reads. They are the same
	// pool on PostgreSQL.
	w, r *sql.DB
	// group batches SQLite's write transactions; nil on PostgreSQL, whose
	// connections commit concurrently.
	group *groupCommitter
	// stmts caches prepared read statements by query text: the same few
	// queries serve every pull and every token, and parsing them again each
	// time was a measurable share of a request.
	stmts sync.Map
	// versions counts writes, per group of tables (see Version).
	versions [store.NumTables]atomic.Uint64
	// listener moves versions for the writes of other handles on
	// PostgreSQL; nil on SQLite.
	listener *listener
	// The caches of reads made at a version.
	manifestCache  cache.Cache[manifestKey, store.Manifest]
	tenants        cache.Cache[string, store.Tenant]
	apps           cache.Cache[string, store.Application]
	principals     cache.Cache[[2]string, store.ServicePrincipal]
	principalsByID cache.Cache[string, store.ServicePrincipal]
	federated      cache.Cache[string, []store.FederatedCredential]
	passwords      cache.Cache[string, []store.PasswordCredential]
	clusterIssuers cache.Cache[string, clusterIssuer]
}

var (
	_ store.Store    = (*DB)(nil)
	_ store.Versions = (*DB)(nil)
)

// Open opens the store named by dsn: "postgres://..." or "postgresql://..."
// for PostgreSQL, otherwise a path to an SQLite database file (created if
// missing). Migrations are applied before it returns.
func Open(ctx context.Context, dsn string) (*DB, error) {
	var db *DB
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		p, err := sql.Open("pgx", dsn)
		if err != nil {
			return nil, err
		}
		p.SetMaxOpenConns(32)
		p.SetMaxIdleConns(32)
		db = &DB{d: postgresDialect, w: p, r: p}
	} else {
		var err error
		if db, err = openSQLite(dsn); err != nil {
			return nil, err
		}
	}
	if err := db.migrate(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("migrating %s store: %w", db.d.name, err)
	}
	if db.group == nil {
		l, err := listen(ctx, dsn, db.moved)
		if err != nil {
			db.Close()
			return nil, fmt.Errorf("listening for other replicas' writes: %w", err)
		}
		db.listener = l
	}
	return db, nil
}

func openSQLite(file string) (*DB, error) {
	q := url.Values{}
	// journal_size_limit: see openPersistentWAL.
	for _, p := range []string{"journal_mode(WAL)", "busy_timeout(10000)", "foreign_keys(1)", "synchronous(FULL)", "journal_size_limit(67108864)"} {
		q.Add("_pragma", p)
	}
	wq := url.Values{"_txlock": {"immediate"}}
	for k, v := range q {
		wq[k] = v
	}
	w, err := openPersistentWAL("file:" + file + "?" + wq.Encode())
	if err != nil {
		return nil, err
	}
	w.SetMaxOpenConns(1)
	r, err := openPersistentWAL("file:" + file + "?" + q.Encode())
	if err != nil {
		w.Close()
		return nil, err
	}
	n := max(4, 2*runtime.GOMAXPROCS(0))
	r.SetMaxOpenConns(n)
	r.SetMaxIdleConns(n)
	return &DB{d: sqliteDialect, w: w, r: r, group: newGroupCommitter(w)}, nil
}

// openPersistentWAL opens a pool whose connections keep the write-ahead
// log and its shared-memory index when the last of them closes, instead
// of deleting them. A database whose index file is gone needs new space
// to open at all, so on a full disk a restart could not even read; with
// the files kept it can, and serves reads until space is freed. With a
// journal_size_limit set, the last connection empties the log it keeps
// (it has been checkpointed), and a log reset while running is cut back
// to that limit.
func openPersistentWAL(dsn string) (*sql.DB, error) {
	c, err := sqlite.NewConnector(dsn)
	if err != nil {
		return nil, err
	}
	return sql.OpenDB(persistentWAL{c}), nil
}

type persistentWAL struct{ driver.Connector }

func (p persistentWAL) Connect(ctx context.Context) (driver.Conn, error) {
	c, err := p.Connector.Connect(ctx)
	if err != nil {
		return nil, err
	}
	if _, err := c.(sqlite.FileControl).FileControlPersistWAL("main", 1); err != nil {
		c.Close()
		return nil, fmt.Errorf("keeping the write-ahead log: %w", err)
	}
	return c, nil
}

// Close closes both pools.
func (db *DB) Close() error {
	if db.group != nil {
		db.group.close()
	}
	if db.listener != nil {
		db.listener.close()
	}
	db.stmts.Range(func(_, s any) bool {
		s.(*sql.Stmt).Close()
		return true
	})
	err := db.w.Close()
	if db.r != db.w {
		err = errors.Join(err, db.r.Close())
	}
	return err
}

// Ping checks that the database answers.
func (db *DB) Ping(ctx context.Context) error {
	var one int
	return db.r.QueryRowContext(ctx, "SELECT 1").Scan(&one)
}

// stmt returns the prepared read statement for query; database/sql
// prepares it again on each pooled connection as needed.
func (db *DB) stmt(ctx context.Context, query string) (*sql.Stmt, error) {
	if s, ok := db.stmts.Load(query); ok {
		return s.(*sql.Stmt), nil
	}
	s, err := db.r.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	if prev, loaded := db.stmts.LoadOrStore(query, s); loaded {
		s.Close()
		return prev.(*sql.Stmt), nil
	}
	return s, nil
}

// queryRow runs a single-row read through the statement cache.
func (db *DB) queryRow(ctx context.Context, query string, args ...any) rowScanner {
	s, err := db.stmt(ctx, query)
	if err != nil {
		return errRow{db.unavailable(err)}
	}
	return unavailableRow{s.QueryRowContext(ctx, args...), db}
}

// query runs a read through the statement cache.
func (db *DB) query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	s, err := db.stmt(ctx, query)
	if err != nil {
		return nil, db.unavailable(err)
	}
	rows, err := s.QueryContext(ctx, args...)
	return rows, db.unavailable(err)
}

type rowScanner interface{ Scan(dest ...any) error }

type errRow struct{ err error }

func (r errRow) Scan(...any) error { return r.err }

type unavailableRow struct {
	row *sql.Row
	db  *DB
}

func (r unavailableRow) Scan(dest ...any) error { return r.db.unavailable(r.row.Scan(dest...)) }

// unavailable marks a failure to reach the database as
// store.ErrUnavailable, which the surfaces answer with 503: the client
// may retry, where a 500 says the server is broken.
func (db *DB) unavailable(err error) error {
	if err != nil && db.d.unreachable(err) {
		return fmt.Errorf("%w (%v)", store.ErrUnavailable, err)
	}
	return err
}

// Dialect names the backend ("sqlite" or "postgres").
func (db *DB) Dialect() string { return db.d.name }

func (db *DB) migrate(ctx context.Context) error {
	return db.tx(ctx, func(tx *sql.Tx) error {
		if db.d.name == "postgres" {
			// Replicas starting together must not migrate twice.
			if _, err := tx.ExecContext(ctx, "SELECT pg_advisory_xact_lock(724651)"); err != nil {
				return err
			}
		}
		if _, err := tx.ExecContext(ctx, "CREATE TABLE IF NOT EXISTS schema_migrations (version TEXT PRIMARY KEY, applied_at BIGINT NOT NULL)"); err != nil {
			return err
		}
		names, err := fs.Glob(migrations, "migrations/*.sql")
		if err != nil {
			return err
		}
		sort.Strings(names)
		for _, name := range names {
			version := strings.TrimSuffix(path.Base(name), ".sql")
			var n int
			if err := tx.QueryRowContext(ctx, "SELECT COUNT(*) FROM schema_migrations WHERE version = $1", version).Scan(&n); err != nil {
				return err
			}
			if n > 0 {
				continue
			}
			body, err := migrations.ReadFile(name)
			if err != nil {
				return err
			}
			for _, stmt := range splitStatements(db.d.types.Replace(string(body))) {
				if _, err := tx.ExecContext(ctx, stmt); err != nil {
					return fmt.Errorf("%s: %w", version, err)
				}
			}
			if _, err := tx.ExecContext(ctx, "INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)", version, time.Now().UnixNano()); err != nil {
				return err
			}
		}
		return nil
	})
}

// splitStatements splits a migration on semicolons at line ends, dropping
// comment lines; migrations contain no semicolons inside statements.
func splitStatements(s string) []string {
	var out []string
	var cur strings.Builder
	for _, line := range strings.Split(s, "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "--") {
			continue
		}
		cur.WriteString(line)
		cur.WriteByte('\n')
		if strings.HasSuffix(strings.TrimSpace(line), ";") {
			if stmt := strings.TrimSpace(cur.String()); stmt != ";" {
				out = append(out, stmt)
			}
			cur.Reset()
		}
	}
	if stmt := strings.TrimSpace(cur.String()); stmt != "" {
		out = append(out, stmt)
	}
	return out
}

// tx runs fn in a write transaction, retrying it when PostgreSQL aborted it
// for a deadlock or a serialization failure.
func (db *DB) tx(ctx context.Context, fn func(*sql.Tx) error) error {
	err := db.tx0(ctx, fn)
	if err != nil && db.d.full(err) {
		return fmt.Errorf("%w (%v)", store.ErrInsufficientStorage, err)
	}
	return db.unavailable(err)
}

func (db *DB) tx0(ctx context.Context, fn func(*sql.Tx) error) error {
	if db.group != nil {
		return db.group.do(ctx, fn)
	}
	for attempt := 0; ; attempt++ {
		err := db.tx1(ctx, fn)
		if err == nil || attempt == 4 || !db.d.retryable(err) {
			return err
		}
		time.Sleep(time.Duration(attempt+1) * 5 * time.Millisecond)
	}
}

func (db *DB) tx1(ctx context.Context, fn func(*sql.Tx) error) error {
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		return err
	}
	return tx.Commit()
}

func nanos(t time.Time) int64 { return t.UnixNano() }

func fromNanos(n int64) time.Time { return time.Unix(0, n).UTC() }

// notFound turns sql.ErrNoRows into the given sentinel.
func notFound(err, sentinel error) error {
	if errors.Is(err, sql.ErrNoRows) {
		return sentinel
	}
	return err
}

// isUniqueViolation reports whether err is a primary key or unique
// constraint failure in either backend.
func isUniqueViolation(err error) bool {
	if err == nil {
		return false
	}
	msg := err.Error()
	return strings.Contains(msg, "UNIQUE constraint failed") || strings.Contains(msg, "SQLSTATE 23505")
}

func isForeignKeyViolation(err error) bool {
	if err == nil {
		return false
	}
	msg := err.Error()
	return strings.Contains(msg, "FOREIGN KEY constraint failed") || strings.Contains(msg, "SQLSTATE 23503")
}

func (db *DB) exec(ctx context.Context, query string, args ...any) error {
	return db.tx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, query, args...)
		return err
	})
}

func insertErr(err error) error {
	if isUniqueViolation(err) {
		return store.ErrExists
	}
	return err
}
