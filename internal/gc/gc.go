package gc

import (
	"context"
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
}

const batch = 500

// Run collects once.
func (c *Collector) Run(ctx context.Context) (Stats, error) {
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
	if err := c.uploads(ctx, cutoff, &st); err != nil {
		return st, err
	}
	c.Log.InfoContext(ctx, "garbage collection done", "blobs_deleted", st.BlobsDeleted, "bytes_freed", st.BytesFreed, "uploads_removed", st.UploadsRemoved)
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
