package keys

import (
	"context"
	"testing"
	"time"

	"github.com/berthhq/berth/internal/testutil/stores"
)

// A verifier finds a key another process rotated in, once its cached set
// is old enough to reload, and never finds a made-up one.
func TestVerifyingSeesKeysRotatedElsewhere(t *testing.T) {
	ctx := context.Background()
	meta, _ := stores.New(t)
	verifier := &Ring{Store: meta, MaxTokenLifetime: time.Hour}
	if err := verifier.Ensure(ctx); err != nil {
		t.Fatal(err)
	}
	first, err := verifier.Signing(ctx, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if k, ok, err := verifier.Verifying(ctx, first.ID, time.Now()); err != nil || !ok || k.ID != first.ID {
		t.Fatalf("Verifying(first) = %v %v", ok, err)
	}
	other := &Ring{Store: meta, MaxTokenLifetime: time.Hour}
	id, err := other.Rotate(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(minReload)
	if _, ok, err := verifier.Verifying(ctx, id, time.Now()); err != nil || !ok {
		t.Fatalf("a key rotated in elsewhere was not found: %v %v", ok, err)
	}
	if _, ok, err := verifier.Verifying(ctx, "made-up", time.Now()); err != nil || ok {
		t.Fatalf("Verifying(made-up) = %v %v", ok, err)
	}
	// Retired keys verify nothing.
	if _, ok, _ := verifier.Verifying(ctx, first.ID, time.Now().Add(3*time.Hour)); ok {
		t.Fatal("a retired key still verifies")
	}
}
