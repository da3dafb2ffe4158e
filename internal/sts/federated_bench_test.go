package sts_test

import (
	"context"
	"testing"
	"time"

	"github.com/berthhq/berth/internal/clientauth"
	"github.com/berthhq/berth/internal/controlplane"
	"github.com/berthhq/berth/internal/federation"
	"github.com/berthhq/berth/internal/ids"
	"github.com/berthhq/berth/internal/keys"
	"github.com/berthhq/berth/internal/secret"
	"github.com/berthhq/berth/internal/store"
	"github.com/berthhq/berth/internal/sts"
	"github.com/berthhq/berth/internal/testutil/kubetest"
	"github.com/berthhq/berth/internal/testutil/stores"
)

// BenchmarkClientCredentials compares a token for a client secret with
// one for a federated assertion (a real API server's service account
// token, its issuer's keys cached after the first), in the same run:
//
//	go test ./internal/sts -run '^$' -bench ClientCredentials -benchtime 2000x -count 5
func BenchmarkClientCredentials(b *testing.B) {
	ctx := context.Background()
	cluster := kubetest.Start(b, kubetest.Options{Audiences: []string{"api://AzureADTokenExchange"}})
	meta, _ := stores.New(b)
	ring := &keys.Ring{Store: meta, MaxTokenLifetime: 24 * time.Hour}
	if err := ring.Ensure(ctx); err != nil {
		b.Fatal(err)
	}
	// The issuers berth knows are asked first, as the server asks them.
	issuers := &federation.Issuers{Roots: cluster.CA, Known: controlplane.KnownIssuers{Store: meta}}
	svc := &sts.Service{Directory: meta, Keys: ring, Clients: clientauth.NewChecker(meta), Issuers: issuers, Lifetime: time.Hour}
	now := time.Now()
	must := func(err error) {
		b.Helper()
		if err != nil {
			b.Fatal(err)
		}
	}
	must(meta.CreateTenant(ctx, store.Tenant{ID: "bench-tenant", Domain: "bench.example", CreatedAt: now}))
	app := store.Application{ObjectID: ids.New(), AppID: ids.New(), TenantID: "bench-tenant", DisplayName: "bench", SignInAudience: "AzureADMyOrg", CreatedAt: now}
	must(meta.CreateApplication(ctx, app))
	must(meta.CreateServicePrincipal(ctx, store.ServicePrincipal{ObjectID: ids.New(), TenantID: "bench-tenant", AppID: app.AppID,
		AppOwnerTenantID: "bench-tenant", Type: store.PrincipalApplication, DisplayName: "bench", CreatedAt: now}))
	value := secret.Generate()
	salt, sum := secret.Hash(value)
	must(meta.AddPasswordCredential(ctx, store.PasswordCredential{KeyID: ids.New(), AppObjectID: app.ObjectID, Salt: salt, Hash: sum,
		StartDateTime: now.Add(-time.Hour), EndDateTime: now.Add(time.Hour)}))
	must(meta.CreateFederatedCredential(ctx, store.FederatedCredential{ID: ids.New(), OwnerObjectID: app.ObjectID, Name: "kube",
		Issuer: cluster.Issuer, Subject: "system:serviceaccount:default:bench", Audiences: []string{"api://AzureADTokenExchange"}}, 20))
	assertion := cluster.ServiceAccountToken(b, "default", "bench", 0, "api://AzureADTokenExchange")

	req := sts.ClientCredentials{Tenant: "bench-tenant", ClientID: app.AppID, Resource: "https://management.azure.com/", Authority: "https://login.test", Source: "10.0.0.1"}
	for name, with := range map[string]func(*sts.ClientCredentials){
		"secret": func(r *sts.ClientCredentials) { r.ClientSecret = value },
		"federated": func(r *sts.ClientCredentials) {
			r.ClientAssertionType, r.ClientAssertion = sts.ClientAssertionType, assertion
		},
	} {
		r := req
		with(&r)
		if _, err := svc.Issue(ctx, r); err != nil {
			b.Fatalf("%s: %v", name, err)
		}
		b.Run(name, func(b *testing.B) {
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := svc.Issue(ctx, r); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}
