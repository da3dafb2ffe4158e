package keys

import (
	"context"
	"testing"
	"time"

	"github.com/berthhq/berth/internal/testutil/stores"
)

func TestRotationPublishesBeforeSigningAndRetiresLate(t *testing.T) {
	ctx := context.Background()
	meta, _ := stores.New(t)
	r := &Ring{Store: meta, MaxTokenLifetime: 2 * time.Hour}
	if err := r.Ensure(ctx); err != nil {
		t.Fatal(err)
	}
	if err := r.Ensure(ctx); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	first, err := r.Signing(ctx, now)
	if err != nil {
		t.Fatal(err)
	}
	if pub, _ := r.Published(ctx, now); len(pub) != 1 {
		t.Fatalf("Ensure twice made %d keys", len(pub))
	}
	newID, err := r.Rotate(ctx, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := r.Published(ctx, time.Now())
	if err != nil || len(pub) != 2 {
		t.Fatalf("after rotation %d keys published (%v), want both", len(pub), err)
	}
	// Until clients had time to fetch the new key, the old one signs.
	if k, err := r.Signing(ctx, time.Now()); err != nil || k.ID != first.ID {
		t.Fatalf("signing right after rotation: %s, %v; want the old key", k.ID, err)
	}
	later := time.Now().Add(61 * time.Minute)
	if k, err := r.Signing(ctx, later); err != nil || k.ID != newID {
		t.Fatalf("signing after the publication window: %s, %v; want the new key", k.ID, err)
	}
	// The old key stays published until its last token expired.
	if pub, _ := r.Published(ctx, later.Add(time.Hour)); len(pub) != 2 {
		t.Fatalf("old key withdrawn while its tokens are valid")
	}
	if pub, _ := r.Published(ctx, later.Add(2*time.Hour)); len(pub) != 1 || pub[0].ID != newID {
		t.Fatalf("old key still published after its tokens expired: %d keys", len(pub))
	}
}
