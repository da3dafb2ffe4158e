package harness

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"testing"
	"testing/iotest"
)

func TestPayloadIsDeterministicAndExact(t *testing.T) {
	const size = 3*payloadBlock + 5
	whole, err := io.ReadAll(NewPayload(7, size))
	if err != nil {
		t.Fatal(err)
	}
	if len(whole) != size {
		t.Fatalf("read %d bytes, want %d", len(whole), size)
	}
	// Odd-sized reads must see the same stream as whole-block writes.
	var viaWriteTo bytes.Buffer
	if _, err := io.Copy(&viaWriteTo, NewPayload(7, size)); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(whole, viaWriteTo.Bytes()) {
		t.Fatal("WriteTo and Read produce different content")
	}
	if err := iotest.TestReader(NewPayload(7, size), whole); err != nil {
		t.Fatal(err)
	}
	other, _ := io.ReadAll(NewPayload(8, size))
	if bytes.Equal(whole[:64], other[:64]) {
		t.Fatal("different seeds produced the same content")
	}
	sum := sha256.Sum256(whole)
	if got, want := digestOf(7, size), "sha256:"+hex.EncodeToString(sum[:]); got != want {
		t.Fatalf("digestOf = %s, want %s", got, want)
	}
}

func TestFillDigests(t *testing.T) {
	blobs := []*Blob{{Seed: 1, Size: 10}, {Seed: 2, Size: 0}, {Seed: 3, Size: payloadBlock + 1}}
	fillDigests(blobs)
	for _, b := range blobs {
		if want := digestOf(b.Seed, b.Size); b.Digest != want {
			t.Errorf("blob %d: digest %s, want %s", b.Seed, b.Digest, want)
		}
	}
}
