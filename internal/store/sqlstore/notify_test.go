package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/berthhq/berth/internal/authz"
	"github.com/berthhq/berth/internal/oci"
	"github.com/berthhq/berth/internal/store"
	"github.com/berthhq/berth/internal/testutil/pgtest"
)

// slack is what the replica tests allow beyond staleAfter before they
// fail, for a loaded machine: the bound is behaviour, not a timing, and
// what it takes in practice is measured by BenchmarkCrossReplicaInvalidation.
const slack = 4 * time.Second

const (
	replicaScope = "/subscriptions/s/resourceGroups/g/providers/Microsoft.ContainerRegistry/registries/r"
	puller       = "puller"
)

func openPostgres(t testing.TB, dsn string) *DB {
	t.Helper()
	db, err := Open(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func assignPull(t testing.TB, db *DB, id string) {
	t.Helper()
	if err := db.CreateRoleAssignment(context.Background(), store.RoleAssignment{ID: id, Scope: replicaScope, RoleDefinitionID: authz.AcrPull,
		PrincipalID: puller, PrincipalType: "ServicePrincipal", TenantID: "t", CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
}

func mayPull(t testing.TB, e *authz.Engine) bool {
	t.Helper()
	ok, err := e.Check(context.Background(), puller, replicaScope, authz.ActionRegistryPull)
	if err != nil {
		t.Fatal(err)
	}
	return ok
}

// eventually polls cond until it holds, failing t if it does not within
// within.
func eventually(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %v: %s", within, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestReplicaSeesRemovedAssignment: two handles on one database, as two
// replicas have. B caches the grant, A removes the assignment, and B stops
// granting within the bound with its caches on: its version moved.
func TestReplicaSeesRemovedAssignment(t *testing.T) {
	dsn := pgtest.Start(t)
	a, b := openPostgres(t, dsn), openPostgres(t, dsn)
	onB := &authz.Engine{Store: b}
	assignPull(t, a, "a1")
	eventually(t, staleAfter+slack, "B grants what A assigned", func() bool { return mayPull(t, onB) })
	before := vouched(t, b)
	if !mayPull(t, onB) {
		t.Fatal("B's grant went away by itself")
	}

	if err := a.DeleteRoleAssignment(context.Background(), "a1"); err != nil {
		t.Fatal(err)
	}
	eventually(t, staleAfter+slack, "B stops granting what A removed", func() bool { return !mayPull(t, onB) })
	if after := vouched(t, b); after == before {
		t.Fatalf("B refuses with its role assignments' version still at %d: its cache was not in use", after)
	}
}

// vouched waits until db vouches for its versions (a ping answered late on
// a loaded machine turns its caches off for a moment) and returns its
// role assignments' version.
func vouched(t *testing.T, db *DB) uint64 {
	t.Helper()
	var v uint64
	eventually(t, staleAfter+slack, "the store vouches for its versions with its listener up", func() bool {
		var ok bool
		v, ok = db.Version(store.RoleAssignmentTables)
		return ok
	})
	return v
}

// TestListenerDown: while B's listening connection is gone (terminated,
// and kept from coming back), B's caches are off and serve nothing stale;
// when it is back, every version has moved and the caches are on again.
func TestListenerDown(t *testing.T) {
	dsn := pgtest.Start(t)
	admin, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	ctx := context.Background()
	mustExec := func(q string) {
		t.Helper()
		if _, err := admin.ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	// B connects as a role of its own, so that its listener can be kept
	// from reconnecting while its pool's open connections still serve.
	mustExec("CREATE ROLE replica_b LOGIN SUPERUSER")
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.User("replica_b")
	a, b := openPostgres(t, dsn), openPostgres(t, u.String())
	onB := &authz.Engine{Store: b}
	assignPull(t, a, "a1")
	eventually(t, staleAfter+slack, "B grants what A assigned", func() bool { return mayPull(t, onB) })
	before, _ := b.Version(store.RoleAssignmentTables)

	mustExec("ALTER ROLE replica_b NOLOGIN")
	var killed int
	if err := admin.QueryRowContext(ctx, "SELECT COUNT(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1 AND usename = 'replica_b') k",
		listenerName).Scan(&killed); err != nil || killed != 1 {
		t.Fatalf("terminated %d listeners of B (%v), want 1", killed, err)
	}
	eventually(t, staleAfter+slack, "B's caches go off without their listener", func() bool {
		_, ok := b.Version(store.RoleAssignmentTables)
		return !ok
	})
	if err := a.DeleteRoleAssignment(ctx, "a1"); err != nil {
		t.Fatal(err)
	}
	if mayPull(t, onB) {
		t.Fatal("B granted from its cache what A removed while B's listener was down")
	}
	if _, ok := b.Version(store.RoleAssignmentTables); ok {
		t.Fatal("B vouches for its versions with its listener unable to connect")
	}

	mustExec("ALTER ROLE replica_b LOGIN")
	eventually(t, 2*time.Second+slack, "B's listener comes back", func() bool {
		_, ok := b.Version(store.RoleAssignmentTables)
		return ok
	})
	for t0 := range store.NumTables {
		if v, _ := b.Version(store.Tables(t0)); v < 2 {
			t.Errorf("version of group %d is %d after a reconnect, want moved past the first LISTEN's", t0, v)
		}
	}
	if after, _ := b.Version(store.RoleAssignmentTables); after <= before {
		t.Fatalf("role assignment version %d after the reconnect, was %d", after, before)
	}
	assignPull(t, a, "a2")
	eventually(t, staleAfter+slack, "B grants again after its listener is back", func() bool { return mayPull(t, onB) })
}

// TestConcurrentFirstOpen: replicas starting together on a new database
// all migrate it, once.
func TestConcurrentFirstOpen(t *testing.T) {
	dsn := pgtest.Start(t)
	const n = 6
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			db, err := Open(context.Background(), dsn)
			if err != nil {
				errs <- fmt.Errorf("replica %d: %w", i, err)
				return
			}
			db.Close()
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	db := openPostgres(t, dsn)
	names, err := fs.Glob(migrations, "migrations/*.sql")
	if err != nil {
		t.Fatal(err)
	}
	var applied int
	if err := db.r.QueryRow("SELECT COUNT(*) FROM schema_migrations").Scan(&applied); err != nil {
		t.Fatal(err)
	}
	if applied != len(names) {
		t.Fatalf("%d migrations recorded, want %d", applied, len(names))
	}
}

// BenchmarkCrossReplicaInvalidation measures, on two handles on one
// PostgreSQL database, the time from a role assignment's removal through A
// (the delete acknowledged) to B refusing what it granted from its cache
// a moment before. B polls as fast as it can; each iteration first waits
// until B grants the assignment anew.
func BenchmarkCrossReplicaInvalidation(b *testing.B) {
	dsn := pgtest.Start(b)
	a, r := openPostgres(b, dsn), openPostgres(b, dsn)
	onB := &authz.Engine{Store: r}
	ctx := context.Background()
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := range b.N {
		b.StopTimer()
		id := fmt.Sprint("a", i)
		assignPull(b, a, id)
		for !mayPull(b, onB) {
			runtime.Gosched()
		}
		b.StartTimer()
		if err := a.DeleteRoleAssignment(ctx, id); err != nil {
			b.Fatal(err)
		}
		acked := time.Now()
		for mayPull(b, onB) {
			runtime.Gosched()
		}
		lat = append(lat, time.Since(acked))
	}
	b.StopTimer()
	slices.Sort(lat)
	ms := func(q float64) float64 { return float64(lat[int(q*float64(len(lat)-1))]) / float64(time.Millisecond) }
	b.ReportMetric(ms(0.5), "p50-ms")
	b.ReportMetric(ms(0.99), "p99-ms")
	b.ReportMetric(ms(1), "max-ms")
}

// TestReplicaReadsManifestWritesAtOnce: a tag moved and a manifest
// deleted through A are what B answers next, with no wait: a registry
// client behind a load balancer reads its own writes through any replica.
func TestReplicaReadsManifestWritesAtOnce(t *testing.T) {
	dsn := pgtest.Start(t)
	a, b := openPostgres(t, dsn), openPostgres(t, dsn)
	ctx := context.Background()
	if err := a.CreateTenant(ctx, store.Tenant{ID: "t", Domain: "t.example", DisplayName: "T", CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	if err := a.CreateRegistry(ctx, store.Registry{Name: "r", TenantID: "t", ResourceID: "/r", CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	repo := store.Repo{Registry: "r", Name: "app"}
	manifest := func(s string) store.Manifest {
		content := []byte(`{"schemaVersion":2,"note":"` + s + `"}`)
		return store.Manifest{Digest: oci.FromBytes(oci.SHA256, content), MediaType: oci.MediaTypeImageManifest, Content: content, Annotations: "{}"}
	}
	one, two := manifest("one"), manifest("two")
	tag := oci.Reference{Tag: "latest"}
	for _, m := range []store.Manifest{one, two} {
		if err := a.PutManifest(ctx, repo, m, "latest"); err != nil {
			t.Fatal(err)
		}
		for range 2 { // the second read is the one a cache would answer
			if got, err := b.GetManifest(ctx, repo, tag); err != nil || got.Digest != m.Digest {
				t.Fatalf("B reads latest as %s (%v) right after A moved it to %s", got.Digest, err, m.Digest)
			}
		}
	}
	if err := a.DeleteManifest(ctx, repo, two.Digest); err != nil {
		t.Fatal(err)
	}
	if got, err := b.GetManifest(ctx, repo, oci.Reference{Digest: two.Digest}); !errors.Is(err, store.ErrManifestUnknown) {
		t.Fatalf("B reads a manifest A deleted: %s, %v", got.Digest, err)
	}
}
