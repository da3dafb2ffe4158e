// Package e2e runs real clients against a real `berth serve`: container
// clients (go-containerregistry, oras-go, skopeo), garbage collection under
// concurrent pushes, and crashes. Nothing here is faked.
package e2e

import (
	"testing"

	"github.com/berthhq/berth/internal/testutil/berthtest"
)

func TestMain(m *testing.M) { berthtest.Main(m) }
