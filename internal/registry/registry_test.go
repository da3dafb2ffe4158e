package registry

import (
	"bytes"
	"context"
	"errors"
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

func setup(t *testing.T) (*sqlstore.DB, *fsblob.Store, store.Repo) {
	t.Helper()
	meta, blobs := stores.New(t)
	return meta, blobs, store.Repo{Registry: stores.Registry, Name: "app"}
}

// collectingBlobs plays a collector at the worst moment: right after the
// upload put its content in place and before it marks the record live, the
// record is marked, the content deleted and the record forgotten.
type collectingBlobs struct {
	blob.Store
	meta store.Store
	once sync.Once
	took bool
}

func (c *collectingBlobs) Commit(ctx context.Context, id string, d oci.Digest) error {
	if err := c.Store.Commit(ctx, id, d); err != nil {
		return err
	}
	c.once.Do(func() {
		ok, err := c.meta.MarkBlobDeleting(ctx, d, time.Now().Add(time.Second))
		if err != nil || !ok {
			return
		}
		c.Store.Delete(ctx, d)
		c.meta.ForgetBlob(ctx, d)
		c.took = true
	})
	return nil
}

func TestUploadPublishesAgainAfterACollectorTookIt(t *testing.T) {
	ctx := context.Background()
	meta, blobs, repo := setup(t)
	cb := &collectingBlobs{Store: blobs, meta: meta}
	svc := New(meta, cb)
	content := []byte("raced content")
	d := oci.FromBytes(oci.SHA256, content)
	id, err := svc.StartUpload(ctx, repo)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.FinishUpload(ctx, repo, id, d, bytes.NewReader(content)); err != nil {
		t.Fatal(err)
	}
	if !cb.took {
		t.Fatal("the collector never got in: the test does not test the race")
	}
	r, err := svc.OpenBlob(ctx, repo, d)
	if err != nil {
		t.Fatalf("acknowledged upload not readable: %v", err)
	}
	defer r.Close()
	var got bytes.Buffer
	got.ReadFrom(r)
	if !bytes.Equal(got.Bytes(), content) {
		t.Fatalf("read %q", got.Bytes())
	}
}

func TestManifestNeedsPublishedBlobs(t *testing.T) {
	ctx := context.Background()
	meta, blobs, repo := setup(t)
	svc := New(meta, blobs)
	cfg, layer := []byte("{}"), []byte("layer")
	for _, c := range [][]byte{cfg} {
		id, _ := svc.StartUpload(ctx, repo)
		if _, err := svc.FinishUpload(ctx, repo, id, oci.FromBytes(oci.SHA256, c), bytes.NewReader(c)); err != nil {
			t.Fatal(err)
		}
	}
	// The layer is recorded by an upload that stopped before publishing.
	ld := oci.FromBytes(oci.SHA256, layer)
	if err := meta.LinkBlob(ctx, repo, ld, int64(len(layer))); err != nil {
		t.Fatal(err)
	}
	m := []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",` +
		`"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"` + oci.FromBytes(oci.SHA256, cfg).String() + `","size":2},` +
		`"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"` + ld.String() + `","size":5}]}`)
	if _, err := svc.PutManifest(ctx, repo, oci.Reference{Tag: "v1"}, oci.MediaTypeImageManifest, m); !errors.Is(err, ErrManifestBlobUnknown) {
		t.Fatalf("manifest naming an unpublished blob: %v", err)
	}
	if _, err := svc.StatBlob(ctx, repo, ld); !errors.Is(err, ErrBlobUnknown) {
		t.Fatalf("unpublished blob visible: %v", err)
	}
	id, _ := svc.StartUpload(ctx, repo)
	if _, err := svc.FinishUpload(ctx, repo, id, ld, bytes.NewReader(layer)); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.PutManifest(ctx, repo, oci.Reference{Tag: "v1"}, oci.MediaTypeImageManifest, m); err != nil {
		t.Fatalf("manifest after the layer was pushed again: %v", err)
	}
}
