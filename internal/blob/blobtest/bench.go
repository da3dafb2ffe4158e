package blobtest

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"math/rand/v2"
	"testing"

	"github.com/berthhq/berth/internal/blob"
	"github.com/berthhq/berth/internal/oci"
)

// Benchmark measures a store as the registry uses it: a blob put whole
// (start, one append, verify, commit, remove the upload), put in chunks
// (one append per chunk, as a client pushing in PATCHes), and read back
// whole. Every put is new content, so that no commit finds its blob there
// already. open is called once per sub-benchmark.
func Benchmark(b *testing.B, open func(b *testing.B) blob.Store) {
	for _, size := range []int{1 << 20, 32 << 20} {
		b.Run(fmt.Sprintf("Put/%dMiB", size>>20), func(b *testing.B) {
			benchPut(b, open(b), size, size)
		})
		b.Run(fmt.Sprintf("PutChunked/%dMiB_in_1MiB", size>>20), func(b *testing.B) {
			benchPut(b, open(b), size, 1<<20)
		})
		b.Run(fmt.Sprintf("Get/%dMiB", size>>20), func(b *testing.B) {
			benchGet(b, open(b), size)
		})
	}
}

func content(size int) []byte {
	c := make([]byte, size)
	rand.NewChaCha8([32]byte{1}).Read(c)
	return c
}

func benchPut(b *testing.B, s blob.Store, size, chunk int) {
	ctx := context.Background()
	data := content(size)
	b.SetBytes(int64(size))
	b.ResetTimer()
	for i := range b.N {
		b.StopTimer()
		binary.LittleEndian.PutUint64(data, uint64(i))
		d := oci.FromBytes(oci.SHA256, data)
		id := fmt.Sprintf("%032x", i)
		b.StartTimer()
		if err := s.StartUpload(ctx, id); err != nil {
			b.Fatal(err)
		}
		for off := 0; off < size; off += chunk {
			end := min(off+chunk, size)
			if _, err := s.Append(ctx, id, int64(off), bytes.NewReader(data[off:end])); err != nil {
				b.Fatal(err)
			}
		}
		if _, err := s.Verify(ctx, id, d); err != nil {
			b.Fatal(err)
		}
		if err := s.Commit(ctx, id, d); err != nil {
			b.Fatal(err)
		}
		if err := s.AbortUpload(ctx, id); err != nil {
			b.Fatal(err)
		}
	}
}

func benchGet(b *testing.B, s blob.Store, size int) {
	ctx := context.Background()
	data := content(size)
	d := oci.FromBytes(oci.SHA256, data)
	if err := s.StartUpload(ctx, "get"); err != nil {
		b.Fatal(err)
	}
	if _, err := s.Append(ctx, "get", 0, bytes.NewReader(data)); err != nil {
		b.Fatal(err)
	}
	if _, err := s.Verify(ctx, "get", d); err != nil {
		b.Fatal(err)
	}
	if err := s.Commit(ctx, "get", d); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(size))
	b.ResetTimer()
	for range b.N {
		r, err := s.Open(ctx, d)
		if err != nil {
			b.Fatal(err)
		}
		n, err := io.Copy(io.Discard, r)
		r.Close()
		if err != nil || n != int64(size) {
			b.Fatalf("read %d bytes, %v", n, err)
		}
	}
}
