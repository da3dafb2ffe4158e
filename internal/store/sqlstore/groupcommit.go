package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"sync"
)

// groupCommitter runs the write transactions of an SQLite store. SQLite has
// one writer, and with synchronous=FULL every commit waits for an fsync;
// one transaction per request would cap a busy registry at one write per
// fsync. Instead, requests that arrive while a commit is in flight are run
// together, each in its own savepoint, and committed with one fsync. A
// request whose function fails is rolled back to its savepoint alone; a
// failed commit fails every request in it. Nobody waits for a batch to
// fill: a lone request commits at once.
type groupCommitter struct {
	db   *sql.DB
	reqs chan *txRequest

	mu     sync.RWMutex
	closed bool
	done   chan struct{}
}

type txRequest struct {
	ctx    context.Context
	fn     func(*sql.Tx) error
	err    error
	result chan error
}

// maxBatch bounds a batch so one commit's latency stays short.
const maxBatch = 256

var errClosed = errors.New("metadata store is closed")

func newGroupCommitter(db *sql.DB) *groupCommitter {
	c := &groupCommitter{db: db, reqs: make(chan *txRequest, maxBatch), done: make(chan struct{})}
	go c.run()
	return c
}

func (c *groupCommitter) do(ctx context.Context, fn func(*sql.Tx) error) error {
	r := &txRequest{ctx: ctx, fn: fn, result: make(chan error, 1)}
	c.mu.RLock()
	if c.closed {
		c.mu.RUnlock()
		return errClosed
	}
	c.reqs <- r
	c.mu.RUnlock()
	return <-r.result
}

// close lets queued requests finish, then stops.
func (c *groupCommitter) close() {
	c.mu.Lock()
	if !c.closed {
		c.closed = true
		close(c.reqs)
	}
	c.mu.Unlock()
	<-c.done
}

func (c *groupCommitter) run() {
	defer close(c.done)
	for first := range c.reqs {
		batch := []*txRequest{first}
	fill:
		for len(batch) < maxBatch {
			select {
			case r, ok := <-c.reqs:
				if !ok {
					break fill
				}
				batch = append(batch, r)
			default:
				break fill
			}
		}
		c.commit(batch)
	}
}

func (c *groupCommitter) commit(batch []*txRequest) {
	tx, err := c.db.BeginTx(context.Background(), nil)
	if err != nil {
		for _, r := range batch {
			r.result <- err
		}
		return
	}
	for _, r := range batch {
		if broken := apply(tx, r); broken != nil {
			// SQLite may have rolled the whole transaction back (disk
			// full, I/O error): nothing in this batch can be trusted.
			tx.Rollback()
			for _, r := range batch {
				r.result <- broken
			}
			return
		}
	}
	err = tx.Commit()
	for _, r := range batch {
		if r.err != nil {
			r.result <- r.err
		} else {
			r.result <- err
		}
	}
}

// apply runs one request in a savepoint and records its own outcome in
// r.err. It returns an error only when the transaction itself is broken.
func apply(tx *sql.Tx, r *txRequest) error {
	if r.err = r.ctx.Err(); r.err != nil {
		return nil
	}
	if _, err := tx.Exec("SAVEPOINT request"); err != nil {
		return err
	}
	if r.err = r.fn(tx); r.err != nil {
		if _, err := tx.Exec("ROLLBACK TO request"); err != nil {
			return errors.Join(r.err, err)
		}
	}
	_, err := tx.Exec("RELEASE request")
	return err
}
