package blobtest

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/berthhq/berth/internal/blob"
	"github.com/berthhq/berth/internal/oci"
)

// Run runs the suite against stores made by open, which must return a new,
// empty store for each call.
func Run(t *testing.T, open func(t *testing.T) blob.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s blob.Store)
	}{
		{"MonolithicUpload", testMonolithic},
		{"ChunkedUploadAndRanges", testChunked},
		{"SHA512", testSHA512},
		{"DigestMismatchPublishesNothing", testMismatch},
		{"DeleteWalkAbort", testDeleteWalkAbort},
		{"ConcurrentAppendsDoNotInterleave", testConcurrentAppends},
		{"FailedAppendChangesNothing", testFailedAppend},
		{"VerifySealsAndCommitRepublishes", testSealAndRepublish},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, open(t)) })
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func put(t *testing.T, s blob.Store, id string, content []byte) oci.Digest {
	t.Helper()
	ctx := context.Background()
	d := oci.FromBytes(oci.SHA256, content)
	must(t, s.StartUpload(ctx, id))
	if n, err := s.Append(ctx, id, 0, bytes.NewReader(content)); err != nil || n != int64(len(content)) {
		t.Fatalf("Append = %d, %v", n, err)
	}
	if n, err := s.Verify(ctx, id, d); err != nil || n != int64(len(content)) {
		t.Fatalf("Verify = %d, %v", n, err)
	}
	must(t, s.Commit(ctx, id, d))
	must(t, s.AbortUpload(ctx, id))
	return d
}

func read(t *testing.T, s blob.Store, d oci.Digest) []byte {
	t.Helper()
	r, err := s.Open(context.Background(), d)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	if r.Size() != int64(len(b)) {
		t.Fatalf("Size() = %d, read %d", r.Size(), len(b))
	}
	return b
}

func testMonolithic(t *testing.T, s blob.Store) {
	ctx := context.Background()
	content := []byte("hello, berth")
	d := oci.FromBytes(oci.SHA256, content)
	_, err := s.Stat(ctx, d)
	if !errors.Is(err, blob.ErrNotFound) {
		t.Fatalf("Stat before commit = %v", err)
	}
	put(t, s, "u1", content)
	if n, err := s.Stat(ctx, d); err != nil || n != int64(len(content)) {
		t.Fatalf("Stat = %d, %v", n, err)
	}
	if got := read(t, s, d); !bytes.Equal(got, content) {
		t.Fatalf("read %q", got)
	}
	r, err := s.Open(ctx, d)
	must(t, err)
	if _, err := r.Seek(7, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	tail, _ := io.ReadAll(r)
	r.Close()
	if string(tail) != "berth" {
		t.Fatalf("read after seek = %q", tail)
	}
	// The same content again is not an error.
	put(t, s, "u2", content)
	if _, err := s.Append(ctx, "missing", 0, strings.NewReader("x")); !errors.Is(err, blob.ErrUploadNotFound) {
		t.Fatalf("Append to unknown upload = %v", err)
	}
}

func testChunked(t *testing.T, s blob.Store) {
	ctx := context.Background()
	content := bytes.Repeat([]byte("0123456789"), 100_000)
	d := oci.FromBytes(oci.SHA256, content)
	must(t, s.StartUpload(ctx, "c"))
	var off int64
	for _, chunk := range [][]byte{content[:1], content[1:4096], content[4096:700_001], content[700_001:]} {
		n, err := s.Append(ctx, "c", off, bytes.NewReader(chunk))
		if err != nil || n != off+int64(len(chunk)) {
			t.Fatalf("Append at %d = %d, %v", off, n, err)
		}
		off = n
		if size, err := s.UploadSize(ctx, "c"); err != nil || size != off {
			t.Fatalf("UploadSize = %d, %v", size, err)
		}
	}
	if n, err := s.Append(ctx, "c", 5, strings.NewReader("x")); !errors.Is(err, blob.ErrRangeInvalid) || n != off {
		t.Fatalf("Append at a wrong offset = %d, %v; want ErrRangeInvalid and the current size", n, err)
	}
	if n, err := s.Verify(ctx, "c", d); err != nil || n != int64(len(content)) {
		t.Fatalf("Verify = %d, %v", n, err)
	}
	must(t, s.Commit(ctx, "c", d))
	must(t, s.AbortUpload(ctx, "c"))
	if !bytes.Equal(read(t, s, d), content) {
		t.Fatal("chunked content differs")
	}
}

func testSHA512(t *testing.T, s blob.Store) {
	ctx := context.Background()
	content := []byte("sha512 content")
	d := oci.FromBytes(oci.SHA512, content)
	must(t, s.StartUpload(ctx, "s"))
	_, err := s.Append(ctx, "s", 0, bytes.NewReader(content))
	must(t, err)
	if _, err := s.Verify(ctx, "s", oci.FromBytes(oci.SHA256, content)); err != nil {
		t.Fatalf("the same upload verifies as sha256 too: %v", err)
	}
	if _, err := s.Verify(ctx, "s", d); err != nil {
		t.Fatal(err)
	}
	must(t, s.Commit(ctx, "s", d))
	if !bytes.Equal(read(t, s, d), content) {
		t.Fatal("sha512 content differs")
	}
}

func testMismatch(t *testing.T, s blob.Store) {
	ctx := context.Background()
	must(t, s.StartUpload(ctx, "m"))
	_, err := s.Append(ctx, "m", 0, strings.NewReader("actual"))
	must(t, err)
	wrong := oci.FromBytes(oci.SHA256, []byte("claimed"))
	if _, err := s.Verify(ctx, "m", wrong); !errors.Is(err, blob.ErrDigestMismatch) {
		t.Fatalf("Verify = %v, want ErrDigestMismatch", err)
	}
	if _, err := s.Stat(ctx, wrong); !errors.Is(err, blob.ErrNotFound) {
		t.Fatalf("mismatched content visible: %v", err)
	}
	if n, err := s.UploadSize(ctx, "m"); err != nil || n != 6 {
		t.Fatalf("upload after mismatch = %d, %v", n, err)
	}
}

func testDeleteWalkAbort(t *testing.T, s blob.Store) {
	ctx := context.Background()
	a, b := put(t, s, "a", []byte("a")), put(t, s, "b", []byte("bb"))
	seen := map[oci.Digest]int64{}
	must(t, s.Walk(ctx, func(d oci.Digest, n int64) error { seen[d] = n; return nil }))
	if len(seen) != 2 || seen[a] != 1 || seen[b] != 2 {
		t.Fatalf("Walk saw %v", seen)
	}
	must(t, s.Delete(ctx, a))
	if err := s.Delete(ctx, a); !errors.Is(err, blob.ErrNotFound) {
		t.Fatalf("second Delete = %v", err)
	}
	if _, err := s.Open(ctx, a); !errors.Is(err, blob.ErrNotFound) {
		t.Fatalf("Open deleted = %v", err)
	}
	must(t, s.StartUpload(ctx, "x"))
	var uploads []string
	must(t, s.WalkUploads(ctx, func(id string, mod time.Time) error {
		if time.Since(mod) > time.Minute {
			t.Errorf("upload %s modified %v", id, mod)
		}
		uploads = append(uploads, id)
		return nil
	}))
	if len(uploads) != 1 || uploads[0] != "x" {
		t.Fatalf("WalkUploads = %v", uploads)
	}
	must(t, s.AbortUpload(ctx, "x"))
	if err := s.AbortUpload(ctx, "x"); !errors.Is(err, blob.ErrUploadNotFound) {
		t.Fatalf("second AbortUpload = %v", err)
	}
}

func testConcurrentAppends(t *testing.T, s blob.Store) {
	ctx := context.Background()
	must(t, s.StartUpload(ctx, "cc"))
	chunk := bytes.Repeat([]byte("z"), 64<<10)
	var wg sync.WaitGroup
	var mu sync.Mutex
	ok := 0
	// Every writer claims offset 0; exactly one may win.
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := s.Append(ctx, "cc", 0, bytes.NewReader(chunk)); err == nil {
				mu.Lock()
				ok++
				mu.Unlock()
			} else if !errors.Is(err, blob.ErrRangeInvalid) {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if n, _ := s.UploadSize(ctx, "cc"); ok != 1 || n != int64(len(chunk)) {
		t.Fatalf("%d appends won, size %d", ok, n)
	}
}

type failingReader struct{ n int }

func (f *failingReader) Read(p []byte) (int, error) {
	if f.n <= 0 {
		return 0, errors.New("connection reset")
	}
	k := min(len(p), f.n)
	f.n -= k
	return k, nil
}

func testFailedAppend(t *testing.T, s blob.Store) {
	ctx := context.Background()
	must(t, s.StartUpload(ctx, "f"))
	_, err := s.Append(ctx, "f", 0, strings.NewReader("good"))
	must(t, err)
	if _, err := s.Append(ctx, "f", 4, &failingReader{n: 1000}); err == nil {
		t.Fatal("Append from a failing reader succeeded")
	}
	if n, err := s.UploadSize(ctx, "f"); err != nil || n != 4 {
		t.Fatalf("size after failed append = %d, %v", n, err)
	}
	_, err = s.Append(ctx, "f", 4, strings.NewReader("more"))
	must(t, err)
	d := oci.FromBytes(oci.SHA256, []byte("goodmore"))
	if _, err := s.Verify(ctx, "f", d); err != nil {
		t.Fatalf("Verify after resumed append = %v", err)
	}
}

// testSealAndRepublish: what Verify checked is what Commit publishes, and
// an upload can publish again after its content was deleted (a collector
// won a race in between).
func testSealAndRepublish(t *testing.T, s blob.Store) {
	ctx := context.Background()
	content := []byte("sealed content")
	d := oci.FromBytes(oci.SHA256, content)
	must(t, s.StartUpload(ctx, "s"))
	_, err := s.Append(ctx, "s", 0, bytes.NewReader(content))
	must(t, err)
	if _, err := s.Verify(ctx, "s", d); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Append(ctx, "s", int64(len(content)), strings.NewReader("more")); !errors.Is(err, blob.ErrUploadNotFound) {
		t.Fatalf("Append after Verify = %v, want ErrUploadNotFound", err)
	}
	if n, err := s.Verify(ctx, "s", d); err != nil || n != int64(len(content)) {
		t.Fatalf("second Verify = %d, %v", n, err)
	}
	if _, err := s.Verify(ctx, "s", oci.FromBytes(oci.SHA256, []byte("x"))); !errors.Is(err, blob.ErrDigestMismatch) {
		t.Fatalf("Verify of a sealed upload against another digest = %v", err)
	}
	if n, err := s.UploadSize(ctx, "s"); err != nil || n != int64(len(content)) {
		t.Fatalf("UploadSize of a sealed upload = %d, %v", n, err)
	}
	must(t, s.Commit(ctx, "s", d))
	must(t, s.Commit(ctx, "s", d))
	must(t, s.Delete(ctx, d))
	must(t, s.Commit(ctx, "s", d))
	if !bytes.Equal(read(t, s, d), content) {
		t.Fatal("republished content differs")
	}
	must(t, s.AbortUpload(ctx, "s"))
	if !bytes.Equal(read(t, s, d), content) {
		t.Fatal("removing the upload changed published content")
	}
	if err := s.Commit(ctx, "s", d); !errors.Is(err, blob.ErrUploadNotFound) {
		t.Fatalf("Commit after AbortUpload = %v", err)
	}
}
