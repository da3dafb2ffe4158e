package fsblob

import (
	"testing"

	"github.com/berthhq/berth/internal/blob"
	"github.com/berthhq/berth/internal/blob/blobtest"
)

func TestConformance(t *testing.T) {
	blobtest.Run(t, func(t *testing.T) blob.Store {
		s, err := New(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}
