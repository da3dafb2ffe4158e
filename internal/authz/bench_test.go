package authz_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/berthhq/berth/internal/authz"
	"github.com/berthhq/berth/internal/store"
	"github.com/berthhq/berth/internal/store/sqlstore"
	"github.com/berthhq/berth/internal/testutil/pgtest"
	"github.com/berthhq/berth/internal/testutil/stores"
)

// BenchmarkCheck measures one authorization check with 10,000 role
// assignments stored: 1,000 principals, 10 each, spread over 100 resource
// groups of 10 registries. It reports the 99th percentile besides the
// mean, because the target is a tail latency.
func BenchmarkCheck(b *testing.B) {
	meta, _ := stores.New(b)
	benchmarkCheck(b, meta)
}

// BenchmarkCheckPostgres is the same on PostgreSQL, where replicas share
// the store and the engine's cache follows their writes by notification.
func BenchmarkCheckPostgres(b *testing.B) {
	meta, err := sqlstore.Open(context.Background(), pgtest.Start(b))
	if err != nil {
		b.Fatal(err)
	}
	defer meta.Close()
	benchmarkCheck(b, meta)
}

type assignmentStore interface {
	authz.Store
	CreateRoleAssignment(ctx context.Context, a store.RoleAssignment) error
}

func benchmarkCheck(b *testing.B, meta assignmentStore) {
	ctx := context.Background()
	roles := []string{authz.AcrPull, authz.AcrPush, authz.Reader, authz.Contributor, authz.AcrDelete}
	scope := func(i int) string {
		return fmt.Sprintf("/subscriptions/s/resourceGroups/g%d/providers/Microsoft.ContainerRegistry/registries/r%d", i%100, i%1000)
	}
	const principals, each = 1000, 10
	for p := range principals {
		for k := range each {
			i := p*each + k
			err := meta.CreateRoleAssignment(ctx, store.RoleAssignment{ID: fmt.Sprintf("a%d", i), Scope: scope(p*7 + k*13),
				RoleDefinitionID: roles[i%len(roles)], PrincipalID: fmt.Sprintf("p%d", p), PrincipalType: "ServicePrincipal",
				TenantID: "t", CreatedAt: time.Now()})
			if err != nil {
				b.Fatal(err)
			}
		}
	}
	// What the engine does for this store: on SQLite it caches, warmed
	// here; on PostgreSQL it reads every time.
	b.Run("engine", func(b *testing.B) {
		e := &authz.Engine{Store: meta}
		for p := range principals {
			if _, err := e.Grants(ctx, fmt.Sprintf("p%d", p)); err != nil {
				b.Fatal(err)
			}
		}
		checks(b, e, principals, scope)
	})
	// What every check costs on PostgreSQL, and on SQLite right after a
	// role assignment changed.
	b.Run("uncached", func(b *testing.B) {
		checks(b, &authz.Engine{Store: unversioned{meta}}, principals, scope)
	})
}

// unversioned hides the store's version, so the engine cannot cache.
type unversioned struct{ authz.Store }

func checks(b *testing.B, e *authz.Engine, principals int, scope func(int) string) {
	ctx := context.Background()
	lat := make([]time.Duration, 0, b.N)
	for i := 0; b.Loop(); i++ {
		start := time.Now()
		if _, err := e.Check(ctx, fmt.Sprintf("p%d", i%principals), scope(i), authz.ActionRegistryPull); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(start))
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)*99/100].Nanoseconds()), "p99-ns")
	b.ReportMetric(float64(lat[len(lat)/2].Nanoseconds()), "p50-ns")
}
