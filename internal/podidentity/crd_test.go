package podidentity

import (
	"bytes"
	"flag"
	"os"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the shipped CRD file")

// crdFile is the definitions as shipped, for kubectl apply -f.
const crdFile = "../../docs/pod-identity-crds.yaml"

// TestCRDsFileIsCurrent fails when the shipped definitions are not what
// the types generate.
func TestCRDsFileIsCurrent(t *testing.T) {
	want, err := CRDs()
	if err != nil {
		t.Fatal(err)
	}
	want = append([]byte("# Generated from internal/podidentity/types.go; do not edit.\n# Regenerate: go test ./internal/podidentity -run TestCRDsFileIsCurrent -update\n"), want...)
	if *update {
		if err := os.WriteFile(crdFile, want, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(crdFile)
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("%s is stale (%v): regenerate with go test ./internal/podidentity -run TestCRDsFileIsCurrent -update", crdFile, err)
	}
}
