package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/berthhq/berth/internal/store"
	"github.com/berthhq/berth/internal/store/storetest"
	"github.com/berthhq/berth/internal/testutil/pgtest"
)

func TestSQLiteConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		db, err := Open(context.Background(), filepath.Join(t.TempDir(), "berth.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return db
	})
}

func TestPostgresConformance(t *testing.T) {
	dsn := pgtest.Start(t)
	admin, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	var n atomic.Int64
	// One server, a fresh database per test: starting a server per test
	// would dominate the run time.
	storetest.Run(t, func(t *testing.T) store.Store {
		name := fmt.Sprintf("conformance_%d", n.Add(1))
		if _, err := admin.Exec("CREATE DATABASE " + name); err != nil {
			t.Fatal(err)
		}
		u, err := url.Parse(dsn)
		if err != nil {
			t.Fatal(err)
		}
		u.Path = "/" + name
		db, err := Open(context.Background(), u.String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return db
	})
}

func TestMigrationsAreIdempotent(t *testing.T) {
	file := filepath.Join(t.TempDir(), "berth.db")
	for i := 0; i < 2; i++ {
		db, err := Open(context.Background(), file)
		if err != nil {
			t.Fatalf("open %d: %v", i, err)
		}
		db.Close()
	}
}

// TestGroupCommit checks that concurrent writes batched into one commit keep
// their own outcomes: a failing write is rolled back alone, the others land.
func TestGroupCommit(t *testing.T) {
	ctx := context.Background()
	db, err := Open(ctx, filepath.Join(t.TempDir(), "berth.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	const n = 200
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		go func() {
			// Every tenth write collides with an earlier key.
			id := fmt.Sprint(i)
			if i%10 == 9 {
				id = fmt.Sprint(i - 1)
			}
			errs <- db.PutSetting(ctx, "k"+fmt.Sprint(i), id)
			errs <- db.CreateTenant(ctx, store.Tenant{ID: id, Domain: id + ".example"})
		}()
	}
	failed := 0
	for i := 0; i < 2*n; i++ {
		if err := <-errs; err != nil {
			if !errors.Is(err, store.ErrExists) {
				t.Fatal(err)
			}
			failed++
		}
	}
	if failed != n/10 {
		t.Fatalf("%d writes failed, want %d", failed, n/10)
	}
	for i := 0; i < n; i++ {
		if v, err := db.GetSetting(ctx, "k"+fmt.Sprint(i)); err != nil || v == "" {
			t.Fatalf("setting %d lost: %q %v", i, v, err)
		}
	}
	var tenants int
	if err := db.r.QueryRow("SELECT COUNT(*) FROM tenants").Scan(&tenants); err != nil || tenants != n-n/10 {
		t.Fatalf("%d tenants (%v), want %d", tenants, err, n-n/10)
	}
	db.Close()
	if err := db.PutSetting(ctx, "after", "close"); !errors.Is(err, errClosed) {
		t.Fatalf("write after Close: %v", err)
	}
}
