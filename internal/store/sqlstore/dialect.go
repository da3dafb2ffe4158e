package sqlstore

import (
	"database/sql/driver"
	"errors"
	"io"
	"net"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

type dialect struct {
	name string
	// types replaces the placeholder type names of the migrations.
	types *strings.Replacer
	// retryable reports errors after which the whole transaction can be
	// run again (PostgreSQL deadlock and serialization failures).
	retryable func(error) bool
	// full reports a failure for lack of space.
	full func(error) bool
	// unreachable reports a failure to reach the database server (down,
	// restarting, the connection cut), as opposed to a refused statement.
	unreachable func(error) bool
}

var sqliteDialect = dialect{
	name:      "sqlite",
	types:     strings.NewReplacer("BYTES", "BLOB", "NAME", "TEXT"),
	retryable: func(error) bool { return false },
	// An embedded database has no server to lose.
	unreachable: func(error) bool { return false },
	full: func(err error) bool {
		// SQLITE_FULL, or SQLITE_IOERR_SHMSIZE: no room for the
		// write-ahead log's index.
		var e *sqlite.Error
		return errors.As(err, &e) && (e.Code()&0xff == sqlite3.SQLITE_FULL || e.Code() == sqlite3.SQLITE_IOERR_SHMSIZE)
	},
}

// Names compare byte-wise in both backends, so tag and repository listings
// are in the same lexical order whatever the server's locale.
var postgresDialect = dialect{
	name:  "postgres",
	types: strings.NewReplacer("BYTES", "BYTEA", "NAME", `TEXT COLLATE "C"`),
	retryable: func(err error) bool {
		var pgErr *pgconn.PgError
		return errors.As(err, &pgErr) && (pgErr.Code == "40P01" || pgErr.Code == "40001")
	},
	full: func(err error) bool {
		var pgErr *pgconn.PgError
		return errors.As(err, &pgErr) && pgErr.Code == "53100" // disk_full
	},
	unreachable: func(err error) bool {
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) {
			// Class 08, connection exceptions; 57P01 to 57P05, the server
			// shutting down, starting up or restarting after a crash.
			return strings.HasPrefix(pgErr.Code, "08") || strings.HasPrefix(pgErr.Code, "57P")
		}
		var connect *pgconn.ConnectError
		var netErr net.Error
		return errors.As(err, &connect) || errors.As(err, &netErr) ||
			errors.Is(err, driver.ErrBadConn) || errors.Is(err, io.ErrUnexpectedEOF)
	},
}
