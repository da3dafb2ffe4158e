// Package stores gives unit tests real stores: an SQLite metadata store and
// a filesystem blob store in a temporary directory, with one tenant and one
// registry ("reg") to put repositories in.
package stores

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/berthhq/berth/internal/blob/fsblob"
	"github.com/berthhq/berth/internal/store"
	"github.com/berthhq/berth/internal/store/sqlstore"
)

// Registry is the name of the registry New creates.
const Registry = "reg"

// New opens both stores, closed when the test ends.
func New(t testing.TB) (*sqlstore.DB, *fsblob.Store) {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	meta, err := sqlstore.Open(ctx, filepath.Join(dir, "berth.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { meta.Close() })
	blobs, err := fsblob.New(filepath.Join(dir, "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	if err := meta.CreateTenant(ctx, store.Tenant{ID: "t", Domain: "t.example", CreatedAt: now}); err != nil {
		t.Fatal(err)
	}
	if err := meta.CreateRegistry(ctx, store.Registry{Name: Registry, TenantID: "t", CreatedAt: now}); err != nil {
		t.Fatal(err)
	}
	return meta, blobs
}
