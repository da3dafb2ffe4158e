package sqlstore

import (
	"context"
	"database/sql"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

const (
	// notifyChannel carries, from each write transaction on PostgreSQL,
	// the set of table groups it changed (writes, in decimal).
	notifyChannel = "berth_tables"
	// staleAfter bounds how stale a cached read can be across replicas on
	// PostgreSQL: a write committed through one handle has moved every
	// other handle's versions within staleAfter (in practice within a few
	// milliseconds), or those handles' Version says ok=false and nothing
	// is served from their caches. A role assignment removed through one
	// replica stops granting through every other within this bound.
	staleAfter = time.Second
	// pingEvery is how often the listener proves its connection current;
	// a ping answered vouches for staleAfter from when it was sent, so a
	// slow answer (up to staleAfter - pingEvery) keeps the caches on.
	pingEvery = staleAfter / 4
	// listenerName names the listener's connection in pg_stat_activity.
	listenerName = "berth listener"
)

func notify(ctx context.Context, tx *sql.Tx, w writes) error {
	_, err := tx.ExecContext(ctx, "SELECT pg_notify($1, $2)", notifyChannel, strconv.Itoa(int(w)))
	return err
}

// listener moves a handle's versions when any handle on the same
// PostgreSQL database writes: it listens for their notifications on a
// connection of its own. PostgreSQL delivers a listening session the
// notifications of every transaction that committed after its LISTEN, in
// commit order, and before the answer to any later query on that session.
// So a ping answered proves that every write committed before the ping was
// sent has moved the versions. The listener vouches for the versions
// (current) for staleAfter from the last ping answered; when its
// connection fails or a ping goes unanswered it stops vouching, and when
// it is back it moves every version (what was written meanwhile is
// unknown) before vouching again.
type listener struct {
	cfg   *pgconn.Config
	moved func(writes)
	// verified is when the last ping answered was sent (Unix nanoseconds),
	// or when the last LISTEN was; 0 while the connection is down.
	verified atomic.Int64
	// pid is the listening session's backend process id, for tests.
	pid  atomic.Uint32
	stop context.CancelFunc
	done chan struct{}
}

// listen connects a listener for the database of dsn and keeps it
// listening until close. It fails if the first connection does: the
// database was reachable a moment ago, when Open migrated it.
func listen(ctx context.Context, dsn string, moved func(writes)) (*listener, error) {
	cfg, err := pgconn.ParseConfig(dsn)
	if err != nil {
		return nil, err
	}
	cfg.RuntimeParams["application_name"] = listenerName
	l := &listener{cfg: cfg, moved: moved, done: make(chan struct{})}
	cfg.OnNotification = func(_ *pgconn.PgConn, n *pgconn.Notification) {
		w, err := strconv.ParseUint(n.Payload, 10, 8)
		if err != nil {
			w = uint64(allTables)
		}
		l.moved(writes(w))
	}
	conn, err := l.connect(ctx)
	if err != nil {
		return nil, err
	}
	runCtx, stop := context.WithCancel(context.Background())
	l.stop = stop
	go l.run(runCtx, conn)
	return l, nil
}

// current reports whether the versions reflect every write committed
// before now - staleAfter.
func (l *listener) current(now time.Time) bool {
	v := l.verified.Load()
	return v != 0 && now.UnixNano()-v < int64(staleAfter)
}

func (l *listener) close() {
	l.stop()
	<-l.done
}

// connect opens the connection and listens on it. Writes committed before
// the LISTEN are not notified to it, so every version moves afterwards:
// what a cache kept before is read again.
func (l *listener) connect(ctx context.Context) (*pgconn.PgConn, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	started := time.Now()
	conn, err := pgconn.ConnectConfig(ctx, l.cfg)
	if err != nil {
		return nil, err
	}
	if err := conn.Exec(ctx, "LISTEN "+notifyChannel).Close(); err != nil {
		conn.Close(context.Background())
		return nil, err
	}
	l.pid.Store(conn.PID())
	l.moved(allTables)
	l.verified.Store(started.UnixNano())
	return conn, nil
}

// run serves conn until it fails, then connects again, backing off, until
// close.
func (l *listener) run(ctx context.Context, conn *pgconn.PgConn) {
	defer close(l.done)
	backoff := 50 * time.Millisecond
	for {
		if conn != nil {
			l.serve(ctx, conn)
			conn.Close(context.Background())
			conn = nil
		}
		l.verified.Store(0)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		var err error
		if conn, err = l.connect(ctx); err != nil {
			backoff = min(2*backoff, 2*time.Second)
			continue
		}
		backoff = 50 * time.Millisecond
	}
}

// serve waits for notifications (OnNotification moves the versions as
// they are read) and pings every pingEvery, until the connection fails,
// a ping is not answered within staleAfter, or ctx ends.
func (l *listener) serve(ctx context.Context, conn *pgconn.PgConn) {
	next := time.Now().Add(pingEvery)
	for {
		wait, cancel := context.WithDeadline(ctx, next)
		err := conn.WaitForNotification(wait)
		cancel()
		if ctx.Err() != nil || err != nil && !pgconn.Timeout(err) {
			return
		}
		if time.Now().Before(next) {
			continue
		}
		sent := time.Now()
		ping, cancel := context.WithTimeout(ctx, staleAfter)
		err = conn.Ping(ping)
		cancel()
		if err != nil {
			return
		}
		l.verified.Store(sent.UnixNano())
		next = sent.Add(pingEvery)
	}
}
