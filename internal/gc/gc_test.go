package gc

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/berthhq/berth/internal/blob"
	"github.com/berthhq/berth/internal/blob/fsblob"
	"github.com/berthhq/berth/internal/oci"
	"github.com/berthhq/berth/internal/store"
	"github.com/berthhq/berth/internal/store/sqlstore"
	"github.com/berthhq/berth/internal/testutil/stores"
)

type env struct {
	meta  *sqlstore.DB
	blobs *fsblob.Store
	repo  store.Repo
}

func newEnv(t *testing.T) *env {
	t.Helper()
	meta, blobs := stores.New(t)
	return &env{meta: meta, blobs: blobs, repo: store.Repo{Registry: stores.Registry, Name: "r"}}
}

// push stores content the way the registry does: verify, record, publish.
func (e *env) push(t *testing.T, id string, content []byte) oci.Digest {
	t.Helper()
	ctx := context.Background()
	d := oci.FromBytes(oci.SHA256, content)
	if err := e.blobs.StartUpload(ctx, id); err != nil {
		t.Fatal(err)
	}
	if _, err := e.blobs.Append(ctx, id, 0, bytes.NewReader(content)); err != nil {
		t.Fatal(err)
	}
	if _, err := e.blobs.Verify(ctx, id, d); err != nil {
		t.Fatal(err)
	}
	if err := e.meta.LinkBlob(ctx, e.repo, d, int64(len(content))); err != nil {
		t.Fatal(err)
	}
	if err := e.blobs.Commit(ctx, id, d); err != nil {
		t.Fatal(err)
	}
	if live, err := e.meta.PublishBlob(ctx, d); err != nil || !live {
		t.Fatalf("PublishBlob = %v, %v", live, err)
	}
	if err := e.blobs.AbortUpload(ctx, id); err != nil {
		t.Fatal(err)
	}
	return d
}

func (e *env) collector(grace time.Duration) *Collector {
	return &Collector{Meta: e.meta, Blobs: e.blobs, Grace: grace, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
}

func TestCollectRemovesOnlyGarbage(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	kept := e.push(t, "u1", []byte("referenced"))
	orphan := e.push(t, "u2", []byte("orphan"))
	content := []byte("manifest")
	if err := e.meta.PutManifest(ctx, e.repo, store.Manifest{Digest: oci.FromBytes(oci.SHA256, content), MediaType: oci.MediaTypeImageManifest, Content: content, Annotations: "{}", Blobs: []oci.Digest{kept}}, "v1"); err != nil {
		t.Fatal(err)
	}
	// An abandoned upload, and upload data whose session record is gone.
	if err := e.meta.CreateUpload(ctx, store.Upload{ID: "abandoned", Repo: e.repo, StartedAt: time.Now().Add(-2 * time.Hour), UpdatedAt: time.Now().Add(-2 * time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if err := e.blobs.StartUpload(ctx, "abandoned"); err != nil {
		t.Fatal(err)
	}

	st, err := e.collector(time.Hour).Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.BlobsDeleted != 0 {
		t.Fatalf("collected %d blobs inside the grace window", st.BlobsDeleted)
	}
	if st.UploadsRemoved != 1 {
		t.Fatalf("removed %d uploads, want the abandoned one", st.UploadsRemoved)
	}
	if _, err := e.blobs.UploadSize(ctx, "abandoned"); !errors.Is(err, blob.ErrUploadNotFound) {
		t.Fatalf("abandoned upload data still there: %v", err)
	}

	st, err = e.collector(0).Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.BlobsDeleted != 1 || st.BytesFreed != int64(len("orphan")) {
		t.Fatalf("stats %+v, want the orphan only", st)
	}
	if _, err := e.blobs.Stat(ctx, orphan); !errors.Is(err, blob.ErrNotFound) {
		t.Fatalf("orphan content still there: %v", err)
	}
	if _, err := e.blobs.Stat(ctx, kept); err != nil {
		t.Fatalf("referenced content collected: %v", err)
	}
	// The orphan can be pushed again afterwards.
	e.push(t, "u3", []byte("orphan"))
	if _, err := e.meta.StatBlob(ctx, e.repo, orphan); err != nil {
		t.Fatal(err)
	}
}

func TestCollectFinishesAnInterruptedRun(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	d := e.push(t, "u", []byte("half-deleted"))
	// A collector that marked the blob and stopped before deleting it.
	if ok, err := e.meta.MarkBlobDeleting(ctx, d, time.Now().Add(time.Second)); err != nil || !ok {
		t.Fatalf("mark: %v %v", ok, err)
	}
	st, err := e.collector(time.Hour).Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.BlobsDeleted != 1 {
		t.Fatalf("stats %+v", st)
	}
	if left, _ := e.meta.DeletingBlobs(ctx); len(left) != 0 {
		t.Fatalf("records still marked: %v", left)
	}
	if _, err := e.blobs.Stat(ctx, d); !errors.Is(err, blob.ErrNotFound) {
		t.Fatalf("content still there: %v", err)
	}
}

// pausingBlobs stops the first Delete of one digest until released, to hold
// a collector in the middle of a deletion.
type pausingBlobs struct {
	blob.Store
	target          oci.Digest
	once            sync.Once
	reached, resume chan struct{}
}

func (p *pausingBlobs) Delete(ctx context.Context, d oci.Digest) error {
	if d == p.target {
		p.once.Do(func() { close(p.reached); <-p.resume })
	}
	return p.Store.Delete(ctx, d)
}

// A second collector must not run while one is deleting: it would finish
// the first one's marked deletion, the content could be pushed and
// referenced again, and the first one would then delete the new file.
func TestOneCollectorAtATime(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	d := e.push(t, "u", []byte("contended"))
	slow := &pausingBlobs{Store: e.blobs, target: d, reached: make(chan struct{}), resume: make(chan struct{})}
	first := &Collector{Meta: e.meta, Blobs: slow, Grace: 0, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	done := make(chan error)
	go func() { _, err := first.Run(ctx); done <- err }()
	<-slow.reached
	if _, err := e.collector(time.Hour).Run(ctx); !errors.Is(err, ErrRunning) {
		t.Fatalf("second collector while the first deletes: %v, want ErrRunning", err)
	}
	close(slow.resume)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	// The lease is released: the next run goes ahead.
	if _, err := e.collector(time.Hour).Run(ctx); err != nil {
		t.Fatalf("collector after the first finished: %v", err)
	}
}
