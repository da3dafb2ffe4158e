package storetest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/berthhq/berth/internal/store"
)

func testClusterIssuers(t *testing.T, s store.Store) {
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Microsecond)
	const iss = "https://berth.example:8443/oidc/t1/5e2d1c3a-0000-4000-8000-000000000001/"
	const cluster = "/subscriptions/s1/resourceGroups/g/providers/Microsoft.ContainerService/managedClusters/c1"
	_, err := s.GetClusterIssuer(ctx, iss)
	wantErr(t, err, store.ErrNotFound)
	must(t, s.CreateClusterIssuer(ctx, store.ClusterIssuer{Issuer: iss, ResourceID: cluster, CreatedAt: now}))
	wantErr(t, s.CreateClusterIssuer(ctx, store.ClusterIssuer{Issuer: iss, ResourceID: cluster + "2", CreatedAt: now}), store.ErrExists)
	got, err := s.GetClusterIssuer(ctx, iss)
	must(t, err)
	if got.Issuer != iss || got.ResourceID != cluster || !got.CreatedAt.Equal(now) {
		t.Fatalf("GetClusterIssuer = %+v", got)
	}
	// Issuers are compared exactly, as tokens' are: another case, or
	// without the trailing slash, is another issuer.
	for _, other := range []string{"https://BERTH.example:8443/oidc/t1/5e2d1c3a-0000-4000-8000-000000000001/", iss[:len(iss)-1]} {
		if _, err := s.GetClusterIssuer(ctx, other); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("GetClusterIssuer(%q) = %v, want ErrNotFound", other, err)
		}
	}
	must(t, s.CreateClusterIssuer(ctx, store.ClusterIssuer{Issuer: iss[:len(iss)-1], ResourceID: cluster + "2", CreatedAt: now}))
	must(t, s.DeleteClusterIssuer(ctx, iss))
	wantErr(t, s.DeleteClusterIssuer(ctx, iss), store.ErrNotFound)
	_, err = s.GetClusterIssuer(ctx, iss)
	wantErr(t, err, store.ErrNotFound)
	if got, err := s.GetClusterIssuer(ctx, iss[:len(iss)-1]); err != nil || got.ResourceID != cluster+"2" {
		t.Fatalf("the other issuer after a delete: %+v %v", got, err)
	}
	// Deleted, the issuer can be a cluster's again.
	must(t, s.CreateClusterIssuer(ctx, store.ClusterIssuer{Issuer: iss, ResourceID: cluster, CreatedAt: now}))
}
