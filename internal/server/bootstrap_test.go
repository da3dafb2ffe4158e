package server

import (
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/berthhq/berth/internal/store/sqlstore"
	"github.com/berthhq/berth/internal/testutil/pgtest"

	"github.com/berthhq/berth/internal/audit"
	"github.com/berthhq/berth/internal/authz"
	"github.com/berthhq/berth/internal/controlplane"
	"github.com/berthhq/berth/internal/password"
	"github.com/berthhq/berth/internal/store"
	"github.com/berthhq/berth/internal/testutil/stores"
)

// TestBootstrapFirstUser: the first start makes the first user, Global
// Administrator and Owner of the subscription, its password in
// bootstrap.json; a restart keeps it; a lost file gets a new password
// (the old one no longer works); a data directory from before the first
// user gets one at its next start.
func TestBootstrapFirstUser(t *testing.T) {
	ctx := t.Context()
	meta, _ := stores.New(t)
	log := slog.New(slog.DiscardHandler)
	cp := &controlplane.Service{Store: meta, Authz: &authz.Engine{Store: meta}, RegistrySuffix: "cr.test", Audit: &audit.Trail{Store: meta, Log: log}}
	cfg := Config{DataDir: t.TempDir()}
	start := func() Bootstrap {
		t.Helper()
		b, err := ensureBootstrap(ctx, meta, cp, cfg, "https://berth.test", log)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	signsIn := func(b Bootstrap, pw string) bool {
		t.Helper()
		u, err := meta.GetUserByUPN(ctx, b.TenantID, b.AdminUser)
		if err != nil {
			t.Fatal(err)
		}
		ok, err := password.Verify(pw, u.PasswordHash)
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}

	first := start()
	if first.AdminUser == "" || !signsIn(first, first.AdminPassword) {
		t.Fatalf("first start: %+v", first)
	}
	u, _ := meta.GetUserByUPN(ctx, first.TenantID, first.AdminUser)
	if ga, err := meta.HasDirectoryRole(ctx, first.TenantID, u.ObjectID, store.RoleGlobalAdministrator); err != nil || !ga {
		t.Fatalf("the first user is not Global Administrator: %v %v", ga, err)
	}
	g, err := (&authz.Engine{Store: meta}).Grants(ctx, u.ObjectID)
	if err != nil || !g.Allows("/subscriptions/"+first.SubscriptionID, "Microsoft.Authorization/roleAssignments/write") {
		t.Fatalf("the first user cannot assign roles in the subscription: %v", err)
	}
	if again := start(); again != first {
		t.Fatalf("a restart changed bootstrap.json:\n%+v\n%+v", first, again)
	}

	must(t, os.Remove(filepath.Join(cfg.DataDir, BootstrapFile)))
	lost := start()
	if lost.AdminUser != first.AdminUser || lost.AdminPassword == first.AdminPassword || !signsIn(lost, lost.AdminPassword) || signsIn(lost, first.AdminPassword) {
		t.Fatalf("after bootstrap.json was lost: %+v", lost)
	}

	// A data directory from before the first user.
	must(t, meta.DeleteUser(ctx, u.ObjectID))
	raw, err := meta.GetSetting(ctx, bootstrapKey)
	must(t, err)
	var rec bootstrapRecord
	must(t, json.Unmarshal([]byte(raw), &rec))
	rec.AdminUserID = ""
	old, _ := json.Marshal(rec)
	must(t, meta.PutSetting(ctx, bootstrapKey, string(old)))
	upgraded := start()
	if upgraded.AdminUser != first.AdminUser || !signsIn(upgraded, upgraded.AdminPassword) {
		t.Fatalf("an older data directory's start: %+v", upgraded)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

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
