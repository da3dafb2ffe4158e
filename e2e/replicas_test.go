package e2e

import (
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/berthhq/berth/internal/testutil/berthtest"
)

// TestReplicas runs three berth serve replicas on one PostgreSQL and one
// MinIO bucket behind HAProxy (berthtest.StartReplicas), and real clients
// through it.
func TestReplicas(t *testing.T) {
	r := berthtest.StartReplicas(t, 3)
	t.Cleanup(func() {
		if t.Failed() {
			for i, s := range r.Servers {
				t.Logf("%s log:\n%s", berthtest.ReplicaName(i), s.Log.String())
			}
			t.Logf("haproxy log:\n%s", r.Proxy.Log())
		}
	})
	t.Run("clients", func(t *testing.T) { replicaClients(t, r) })
}

// replicaClients: go-containerregistry pushes an image through the load
// balancer, and every replica, asked directly, serves it whole: what one
// replica acknowledged, the others know.
func replicaClients(t *testing.T, r *berthtest.Replicas) {
	ctx := t.Context()
	img := ociImage(t, v1.Platform{OS: "linux", Architecture: "amd64"}, 2<<10, 7*mib)
	ref, err := name.NewTag(r.Front.Host + "/replicas/ggcr:v1")
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref, img, ggcrOptions(ctx, r.Front)...); err != nil {
		t.Fatalf("push through the load balancer: %v", err)
	}
	got, err := remote.Image(ref, ggcrOptions(ctx, r.Front)...)
	if err != nil {
		t.Fatalf("pull through the load balancer: %v", err)
	}
	sameImage(t, "through the load balancer", img, got)
	for i, s := range r.Servers {
		direct, err := name.NewTag(s.Host + "/replicas/ggcr:v1")
		if err != nil {
			t.Fatal(err)
		}
		got, err := remote.Image(direct, ggcrOptions(ctx, s)...)
		if err != nil {
			t.Fatalf("pull from %s: %v", berthtest.ReplicaName(i), err)
		}
		sameImage(t, berthtest.ReplicaName(i), img, got)
	}
}
