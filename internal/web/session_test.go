package web

import (
	"bytes"
	"context"
	"sync"
	"testing"

	"github.com/berthhq/berth/internal/testutil/stores"
)

// Replicas starting together on a new store make one session key between
// them, so that each accepts the others' cookies.
func TestSessionKeySharedByReplicas(t *testing.T) {
	meta, _ := stores.New(t)
	const n = 8
	keys := make([][]byte, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			keys[i], errs[i] = loadKey(context.Background(), meta)
		}()
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		if !bytes.Equal(keys[i], keys[0]) {
			t.Fatalf("replica %d made a session key of its own", i)
		}
	}
}
