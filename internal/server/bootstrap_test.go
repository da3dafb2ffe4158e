package server

import (
	"context"
	"log/slog"
	"sync"
	"testing"

	"github.com/berthhq/berth/internal/authz"
	"github.com/berthhq/berth/internal/controlplane"
	"github.com/berthhq/berth/internal/store/sqlstore"
	"github.com/berthhq/berth/internal/testutil/pgtest"
)

// Replicas starting together on a new PostgreSQL database make one
// bootstrap tenant between them, and each comes up with working
// credentials for it.
func TestReplicasBootstrapOnce(t *testing.T) {
	dsn := pgtest.Start(t)
	const n = 3
	boots := make([]Bootstrap, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		meta, err := sqlstore.Open(context.Background(), dsn)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { meta.Close() })
		cp := &controlplane.Service{Store: meta, Authz: &authz.Engine{Store: meta}, RegistrySuffix: "registry.test"}
		cfg := Config{DataDir: t.TempDir()}
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			boots[i], errs[i] = ensureBootstrap(context.Background(), meta, cp, cfg, "https://berth.test", slog.New(slog.DiscardHandler))
		}()
	}
	close(start)
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("replica %d: %v", i, errs[i])
		}
		if boots[i].TenantID != boots[0].TenantID || boots[i].ClientID != boots[0].ClientID {
			t.Fatalf("replica %d bootstrapped tenant %s (client %s), replica 0 %s (client %s)",
				i, boots[i].TenantID, boots[i].ClientID, boots[0].TenantID, boots[0].ClientID)
		}
		if boots[i].ClientSecret == "" {
			t.Fatalf("replica %d has no administrator secret", i)
		}
	}
}
