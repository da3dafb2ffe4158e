package fsblob

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/berthhq/berth/internal/blob"
	"github.com/berthhq/berth/internal/blob/blobtest"
	"github.com/berthhq/berth/internal/oci"
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

// A crash between an append's data and its saved hash state leaves them
// out of step; Verify must notice and hash the data itself.
func TestVerifyIgnoresStaleHashState(t *testing.T) {
	ctx := context.Background()
	s, err := New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if err := s.StartUpload(ctx, "u"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Append(ctx, "u", 0, strings.NewReader("first")); err != nil {
		t.Fatal(err)
	}
	// Bytes that reached the data file without their hash state.
	f, err := os.OpenFile(filepath.Join(s.uploadDir("u"), "data"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("second")
	f.Close()
	if _, err := s.Verify(ctx, "u", oci.FromBytes(oci.SHA256, []byte("first"))); !errors.Is(err, blob.ErrDigestMismatch) {
		t.Fatalf("Verify trusted a stale hash state: %v", err)
	}
	// Appends continue correctly after the mismatch.
	if _, err := s.Append(ctx, "u", 11, strings.NewReader("!")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Verify(ctx, "u", oci.FromBytes(oci.SHA256, []byte("firstsecond"))); !errors.Is(err, blob.ErrDigestMismatch) {
		t.Fatal("Verify ignored an append")
	}
	if n, err := s.Verify(ctx, "u", oci.FromBytes(oci.SHA256, []byte("firstsecond!"))); err != nil || n != 12 {
		t.Fatalf("Verify = %d, %v", n, err)
	}
}

// Removing an upload while a request appends to it must neither fail nor
// leave anything behind.
func TestAbortUploadDuringAppends(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, err := New(dir)
	if err != nil {
		t.Fatal(err)
	}
	chunk := bytes.Repeat([]byte("x"), 4096)
	for i := 0; i < 200; i++ {
		id := fmt.Sprintf("%032x", i)
		if err := s.StartUpload(ctx, id); err != nil {
			t.Fatal(err)
		}
		done := make(chan struct{})
		go func() {
			defer close(done)
			for off := int64(0); ; off += int64(len(chunk)) {
				if _, err := s.Append(ctx, id, off, bytes.NewReader(chunk)); err != nil {
					return
				}
			}
		}()
		time.Sleep(100 * time.Microsecond)
		err := s.AbortUpload(ctx, id)
		<-done
		if err != nil {
			t.Fatalf("try %d: AbortUpload during appends: %v", i, err)
		}
	}
	entries, _ := os.ReadDir(filepath.Join(dir, "uploads"))
	if len(entries) != 0 {
		t.Fatalf("left behind: %v", entries)
	}
}

// Removing an upload while it is started, verified or published must only
// ever make it unknown, never fail otherwise: garbage collection with a
// short grace window does this to live sessions. The interleavings are up to
// the scheduler; each run covers a few of them.
func TestAbortUploadDuringVerifyAndCommit(t *testing.T) {
	ctx := context.Background()
	s, err := New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	content := []byte("raced")
	d := oci.FromBytes(oci.SHA256, content)
	expected := func(err error) bool { return err == nil || errors.Is(err, blob.ErrUploadNotFound) }
	for i := 0; i < 300; i++ {
		id := fmt.Sprintf("%032x", i)
		done := make(chan error, 1)
		go func() {
			err := s.StartUpload(ctx, id)
			if err == nil {
				_, err = s.Append(ctx, id, 0, bytes.NewReader(content))
			}
			if err == nil {
				_, err = s.Verify(ctx, id, d)
			}
			if err == nil {
				err = s.Commit(ctx, id, d)
			}
			done <- err
		}()
		if err := s.AbortUpload(ctx, id); !expected(err) {
			t.Fatalf("try %d: AbortUpload: %v", i, err)
		}
		if err := <-done; !expected(err) {
			t.Fatalf("try %d: an upload removed meanwhile failed with %v, want ErrUploadNotFound", i, err)
		}
		s.AbortUpload(ctx, id)
		s.Delete(ctx, d)
	}
}

// BenchmarkStore: see blobtest.Benchmark, and docs/benchmarks.md for
// numbers beside s3blob's.
func BenchmarkStore(b *testing.B) {
	blobtest.Benchmark(b, func(b *testing.B) blob.Store {
		s, err := New(b.TempDir())
		if err != nil {
			b.Fatal(err)
		}
		return s
	})
}
