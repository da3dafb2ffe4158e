package gc

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"time"

	"github.com/berthhq/berth/internal/blob"
	"github.com/berthhq/berth/internal/oci"
	"github.com/berthhq/berth/internal/store"
)

// Collector runs garbage collection over one pair of stores.
type Collector struct {
	Meta  store.Store
	Blobs blob.Store
	// Grace protects recent content: nothing touched within it is
	// collected, so an image being pushed is never taken apart.
	Grace time.Duration
	Log   *slog.Logger
}

// Stats is what one run did.
type Stats struct {
	BlobsDeleted   int
	BytesFreed     int64
	UploadsRemoved int
	// PartialWritesRemoved counts what the blob store's backend kept of
	// writes that never finished (blob.Sweeper): an object store's
	// multipart uploads.
	PartialWritesRemoved int
}

// ErrRunning means another collector holds the lease; nothing was done.
var ErrRunning = errors.New("another garbage collection is running")

const (
	batch = 500
	// leaseTTL bounds how long a collector that died keeps others out. A
	// live one renews its lease before every batch, which takes far less.
	leaseTTL  = 5 * time.Minute
	leaseName = "gc"
)

// Run collects once. Only one collector runs at a time across every
// process on the metadata store: a second one would finish deletions the
// first has marked and is still carrying out, and could delete content that
// was published again in between.
func (c *Collector) Run(ctx context.Context) (Stats, error) {
	holder := newHolder()
	if ok, err := c.Meta.AcquireLease(ctx, leaseName, holder, leaseTTL); err != nil {
		return Stats{}, err
	} else if !ok {
		return Stats{}, ErrRunning
	}
	defer c.Meta.ReleaseLease(context.WithoutCancel(ctx), leaseName, holder)
	renew := func() error {
		ok, err := c.Meta.AcquireLease(ctx, leaseName, holder, leaseTTL)
		if err == nil && !ok {
			err = errors.New("garbage collection lease lost")
		}
		return err
	}
	return c.run(ctx, renew)
}

func newHolder() string {
	var b [16]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func (c *Collector) run(ctx context.Context, renew func() error) (Stats, error) {
	var st Stats
	cutoff := time.Now().Add(-c.Grace)
	leftover, err := c.Meta.DeletingBlobs(ctx)
	if err != nil {
		return st, err
	}
	for _, d := range leftover {
		if err := c.finish(ctx, d, &st); err != nil {
			return st, err
		}
	}
	for {
		if err := renew(); err != nil {
			return st, err
		}
		candidates, err := c.Meta.UnreferencedBlobs(ctx, cutoff, batch)
		if err != nil {
			return st, err
		}
		marked := 0
		for _, d := range candidates {
			ok, err := c.Meta.MarkBlobDeleting(ctx, d, cutoff)
			if err != nil {
				return st, err
			}
			if !ok {
				continue
			}
			marked++
			if err := c.finish(ctx, d, &st); err != nil {
				return st, err
			}
		}
		if marked == 0 || len(candidates) < batch {
			break
		}
	}
	// Upload sessions are cleaned up best effort: one that a request is
	// using at this moment is simply left for the next run.
	if err := c.uploads(ctx, cutoff, &st); err != nil {
		c.Log.WarnContext(ctx, "removing abandoned uploads", "err", err)
	}
	// The same cutoff: a write begun before it belongs to an upload
	// untouched for the whole grace window, or to none.
	if sw, ok := c.Blobs.(blob.Sweeper); ok {
		n, err := sw.Sweep(ctx, cutoff)
		st.PartialWritesRemoved += n
		if err != nil {
			c.Log.WarnContext(ctx, "removing unfinished writes", "err", err)
		}
	}
	c.Log.InfoContext(ctx, "garbage collection done", "blobs_deleted", st.BlobsDeleted, "bytes_freed", st.BytesFreed, "uploads_removed", st.UploadsRemoved, "partial_writes_removed", st.PartialWritesRemoved)
	return st, nil
}

// finish deletes the content of a blob marked for deletion, then its
// record; in that order, so that no upload of the same content can be
// recorded (it waits while the mark stands) before the old file is gone.
func (c *Collector) finish(ctx context.Context, d oci.Digest, st *Stats) error {
	size, _ := c.Blobs.Stat(ctx, d)
	if err := c.Blobs.Delete(ctx, d); err != nil && !errors.Is(err, blob.ErrNotFound) {
		return err
	}
	if err := c.Meta.ForgetBlob(ctx, d); err != nil && !errors.Is(err, store.ErrBlobUnknown) {
		return err
	}
	st.BlobsDeleted++
	st.BytesFreed += size
	return nil
}

func (c *Collector) uploads(ctx context.Context, cutoff time.Time, st *Stats) error {
	stale, err := c.Meta.StaleUploads(ctx, cutoff)
	if err != nil {
		return err
	}
	for _, id := range stale {
		if err := c.Meta.DeleteUpload(ctx, id); err != nil && !errors.Is(err, store.ErrUploadUnknown) {
			return err
		}
		if err := c.Blobs.AbortUpload(ctx, id); err != nil && !errors.Is(err, blob.ErrUploadNotFound) {
			return err
		}
		st.UploadsRemoved++
	}
	// Upload data whose session record is gone (a crash between the two
	// removals) is found from the blob store's side.
	return c.Blobs.WalkUploads(ctx, func(id string, modified time.Time) error {
		if modified.After(cutoff) {
			return nil
		}
		if _, err := c.Meta.GetUpload(ctx, id); !errors.Is(err, store.ErrUploadUnknown) {
			return err
		}
		if err := c.Blobs.AbortUpload(ctx, id); err != nil && !errors.Is(err, blob.ErrUploadNotFound) {
			return err
		}
		st.UploadsRemoved++
		return nil
	})
}
