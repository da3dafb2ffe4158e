package s3blob

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/berthhq/berth/internal/blob"
	"github.com/berthhq/berth/internal/blob/blobtest"
	"github.com/berthhq/berth/internal/oci"
	"github.com/berthhq/berth/internal/testutil/miniotest"
)

func open(t testing.TB, srv *miniotest.Server, bucket, prefix string) *Store {
	t.Helper()
	loc, err := ParseURL(srv.URL(bucket, prefix))
	if err != nil {
		t.Fatal(err)
	}
	s, err := Open(context.Background(), loc, credentials.NewStaticV4(srv.AccessKey, srv.SecretKey, ""))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestConformance(t *testing.T) {
	srv := miniotest.Start(t)
	bucket := srv.Bucket(t)
	n := 0
	blobtest.Run(t, func(t *testing.T) blob.Store {
		n++
		return open(t, srv, bucket, fmt.Sprintf("conformance/%d", n))
	})
}

// The whole store lives in the bucket: an upload started through one
// process goes on through another, with chunks below S3's minimum part
// size and above the part size of one request.
func TestUploadAcrossProcesses(t *testing.T) {
	srv := miniotest.Start(t)
	bucket := srv.Bucket(t)
	a, b := open(t, srv, bucket, "shared"), open(t, srv, bucket, "shared")
	ctx := context.Background()
	content := make([]byte, 40<<20)
	for i := range content {
		content[i] = byte(i * 7 / 5)
	}
	d := oci.FromBytes(oci.SHA256, content)
	must(t, a.StartUpload(ctx, "u"))
	// Seven 1 MiB chunks (merged until they make a part), one that spans
	// two requests' parts, and one byte.
	cuts := []int{1 << 20, 2 << 20, 3 << 20, 4 << 20, 5 << 20, 6 << 20, 7 << 20, 7<<20 + partSize + 3, len(content) - 1, len(content)}
	var off int64
	for i, end := range cuts {
		s := []*Store{a, b}[i%2]
		n, err := s.Append(ctx, "u", off, bytes.NewReader(content[off:end]))
		if err != nil || n != int64(end) {
			t.Fatalf("append %d through store %d = %d, %v", i, i%2, n, err)
		}
		off = n
	}
	m, _, err := b.load(ctx, "u")
	must(t, err)
	for i, c := range m.Chunks[:len(m.Chunks)-1] {
		if c.Size < minPart {
			t.Errorf("chunk %d of %d has %d bytes, below S3's minimum part size", i, len(m.Chunks), c.Size)
		}
	}
	if n, err := a.UploadSize(ctx, "u"); err != nil || n != int64(len(content)) {
		t.Fatalf("UploadSize = %d, %v", n, err)
	}
	if _, err := b.Verify(ctx, "u", d); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Append(ctx, "u", off, strings.NewReader("x")); !errors.Is(err, blob.ErrUploadNotFound) {
		t.Fatalf("append through the other process after Verify = %v", err)
	}
	must(t, a.Commit(ctx, "u", d))
	must(t, b.AbortUpload(ctx, "u"))
	r, err := b.Open(ctx, d)
	must(t, err)
	defer r.Close()
	got, err := io.ReadAll(r)
	must(t, err)
	if !bytes.Equal(got, content) {
		t.Fatal("content read back differs")
	}
	// SHA-512 has no saved state: Verify reads the chunks.
	must(t, a.StartUpload(ctx, "v"))
	_, err = a.Append(ctx, "v", 0, bytes.NewReader(content[:6<<20]))
	must(t, err)
	_, err = b.Append(ctx, "v", 6<<20, bytes.NewReader(content[6<<20:7<<20]))
	must(t, err)
	if _, err := b.Verify(ctx, "v", oci.FromBytes(oci.SHA512, content[:7<<20])); err != nil {
		t.Fatal(err)
	}
}

// Two processes appending at the same offset: exactly one wins, and the
// loser's bytes are nowhere.
func TestConcurrentAppendsAcrossProcesses(t *testing.T) {
	srv := miniotest.Start(t)
	bucket := srv.Bucket(t)
	stores := []*Store{open(t, srv, bucket, "p"), open(t, srv, bucket, "p")}
	ctx := context.Background()
	must(t, stores[0].StartUpload(ctx, "cc"))
	_, err := stores[0].Append(ctx, "cc", 0, strings.NewReader("head"))
	must(t, err)
	var wg sync.WaitGroup
	results := make([]error, 8)
	for i := range results {
		wg.Go(func() {
			chunk := bytes.Repeat([]byte{byte('a' + i)}, 100<<10)
			_, results[i] = stores[i%2].Append(ctx, "cc", 4, bytes.NewReader(chunk))
		})
	}
	wg.Wait()
	winner := -1
	for i, err := range results {
		switch {
		case err == nil && winner >= 0:
			t.Fatalf("appends %d and %d both won", winner, i)
		case err == nil:
			winner = i
		case !errors.Is(err, blob.ErrRangeInvalid):
			t.Fatalf("append %d = %v, want ErrRangeInvalid", i, err)
		}
	}
	if winner < 0 {
		t.Fatal("no append won")
	}
	want := append([]byte("head"), bytes.Repeat([]byte{byte('a' + winner)}, 100<<10)...)
	if _, err := stores[1].Verify(ctx, "cc", oci.FromBytes(oci.SHA256, want)); err != nil {
		t.Fatalf("Verify of the winner's bytes = %v", err)
	}
	var keys []string
	for obj := range srv.Client.ListObjects(ctx, bucket, minio.ListObjectsOptions{Prefix: "p/uploads/cc/", Recursive: true}) {
		must(t, obj.Err)
		keys = append(keys, obj.Key)
	}
	if len(keys) != 2 {
		t.Fatalf("objects of the upload: %v; want its manifest and one chunk", keys)
	}
}

// Removing an upload while it is started, appended to, verified or
// published must only ever make it unknown, never fail otherwise, and
// must leave nothing behind.
func TestAbortUploadDuringUse(t *testing.T) {
	srv := miniotest.Start(t)
	bucket := srv.Bucket(t)
	s := open(t, srv, bucket, "race")
	ctx := context.Background()
	content := []byte("raced")
	d := oci.FromBytes(oci.SHA256, content)
	expected := func(err error) bool { return err == nil || errors.Is(err, blob.ErrUploadNotFound) }
	for i := range 40 {
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
		time.Sleep(time.Duration(i%8) * 2 * time.Millisecond)
		if err := s.AbortUpload(ctx, id); !expected(err) {
			t.Fatalf("try %d: AbortUpload: %v", i, err)
		}
		if err := <-done; !expected(err) {
			t.Fatalf("try %d: an upload removed meanwhile failed with %v, want ErrUploadNotFound", i, err)
		}
		s.AbortUpload(ctx, id)
		s.Delete(ctx, d)
	}
	for obj := range srv.Client.ListObjects(ctx, bucket, minio.ListObjectsOptions{Prefix: "race/", Recursive: true}) {
		t.Errorf("left behind: %s (%v)", obj.Key, obj.Err)
	}
}

// Objects of an upload whose manifest is gone (a process stopped in the
// middle of AbortUpload) are found by WalkUploads and removed by
// AbortUpload, as garbage collection does; multipart uploads that a
// process stopped in the middle of are Sweep's.
func TestLeftovers(t *testing.T) {
	srv := miniotest.Start(t)
	bucket := srv.Bucket(t)
	s := open(t, srv, bucket, "left")
	ctx := context.Background()
	_, err := srv.Client.PutObject(ctx, bucket, "left/uploads/orphan/chunks/x", strings.NewReader("data"), 4, minio.PutObjectOptions{})
	must(t, err)
	var seen []string
	must(t, s.WalkUploads(ctx, func(id string, mod time.Time) error {
		if time.Since(mod) > time.Minute {
			t.Errorf("upload %s modified %v", id, mod)
		}
		seen = append(seen, id)
		return nil
	}))
	if len(seen) != 1 || seen[0] != "orphan" {
		t.Fatalf("WalkUploads = %v", seen)
	}
	must(t, s.AbortUpload(ctx, "orphan"))
	if err := s.AbortUpload(ctx, "orphan"); !errors.Is(err, blob.ErrUploadNotFound) {
		t.Fatalf("second AbortUpload = %v", err)
	}

	core := minio.Core{Client: srv.Client}
	abandoned, err := core.NewMultipartUpload(ctx, bucket, "left/uploads/dead/chunks/y", minio.PutObjectOptions{})
	must(t, err)
	_, err = core.NewMultipartUpload(ctx, bucket, "elsewhere/z", minio.PutObjectOptions{})
	must(t, err)
	if n, err := s.Sweep(ctx, time.Now().Add(-time.Hour)); err != nil || n != 0 {
		t.Fatalf("Sweep of uploads begun an hour ago = %d, %v; want 0: this one is new", n, err)
	}
	// The service's clock decides "begun"; a minute ahead of it is safe.
	if n, err := s.Sweep(ctx, time.Now().Add(time.Minute)); err != nil || n != 1 {
		t.Fatalf("Sweep = %d, %v; want 1 (the other multipart upload is outside the prefix)", n, err)
	}
	left := map[string]string{}
	for mpu := range srv.Client.ListIncompleteUploads(ctx, bucket, "", true) {
		must(t, mpu.Err)
		left[mpu.Key] = mpu.UploadID
	}
	if _, ok := left["left/uploads/dead/chunks/y"]; ok || len(left) != 1 {
		t.Fatalf("multipart uploads after Sweep: %v (swept %s)", left, abandoned)
	}
}

func TestReaderSeeks(t *testing.T) {
	srv := miniotest.Start(t)
	s := open(t, srv, srv.Bucket(t), "")
	ctx := context.Background()
	content := []byte("0123456789abcdefghij")
	d := oci.FromBytes(oci.SHA256, content)
	must(t, s.StartUpload(ctx, "r"))
	_, err := s.Append(ctx, "r", 0, bytes.NewReader(content))
	must(t, err)
	_, err = s.Verify(ctx, "r", d)
	must(t, err)
	must(t, s.Commit(ctx, "r", d))

	r, err := s.Open(ctx, d)
	must(t, err)
	defer r.Close()
	buf := make([]byte, 4)
	read := func(want string) {
		t.Helper()
		n, err := io.ReadFull(r, buf[:len(want)])
		if err != nil || string(buf[:n]) != want {
			t.Fatalf("read %q, %v; want %q", buf[:n], err, want)
		}
	}
	read("0123")
	if p, err := r.Seek(-3, io.SeekEnd); err != nil || p != 17 {
		t.Fatalf("Seek from end = %d, %v", p, err)
	}
	read("hij")
	if n, err := r.Read(buf); n != 0 || err != io.EOF {
		t.Fatalf("read at the end = %d, %v", n, err)
	}
	if _, err := r.Seek(10, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	read("abcd")
	if _, err := r.Seek(-8, io.SeekCurrent); err != nil {
		t.Fatal(err)
	}
	read("6789")
	if _, err := r.Seek(-1, io.SeekStart); err == nil {
		t.Fatal("seek before the start succeeded")
	}
}

func TestPresignGet(t *testing.T) {
	srv := miniotest.Start(t)
	s := open(t, srv, srv.Bucket(t), "signed")
	ctx := context.Background()
	content := []byte("fetched straight from the bucket")
	d := oci.FromBytes(oci.SHA256, content)
	must(t, s.StartUpload(ctx, "p"))
	_, err := s.Append(ctx, "p", 0, bytes.NewReader(content))
	must(t, err)
	_, err = s.Verify(ctx, "p", d)
	must(t, err)
	must(t, s.Commit(ctx, "p", d))

	u, err := s.PresignGet(ctx, d, time.Minute)
	must(t, err)
	resp, err := http.Get(u)
	must(t, err)
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !bytes.Equal(got, content) {
		t.Fatalf("GET presigned URL: %s %q", resp.Status, got)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/octet-stream" {
		t.Errorf("Content-Type = %q", ct)
	}
	// The signature covers the key: the same URL for another key is
	// refused.
	other := strings.Replace(u, d.Encoded(), oci.FromBytes(oci.SHA256, []byte("other")).Encoded(), 1)
	resp, err = http.Get(other)
	must(t, err)
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("GET of a URL signed for another key: %s, want 403", resp.Status)
	}
}

func TestOpenRefuses(t *testing.T) {
	srv := miniotest.Start(t)
	ctx := context.Background()
	loc, err := ParseURL(srv.URL("no-such-bucket", ""))
	must(t, err)
	creds := credentials.NewStaticV4(srv.AccessKey, srv.SecretKey, "")
	if _, err := Open(ctx, loc, creds); err == nil || !strings.Contains(err.Error(), `bucket "no-such-bucket" does not exist`) {
		t.Fatalf("Open of a missing bucket = %v", err)
	}
	loc, err = ParseURL(srv.URL(srv.Bucket(t), ""))
	must(t, err)
	if _, err := Open(ctx, loc, credentials.NewStatic("", "", "", credentials.SignatureAnonymous)); err == nil || !strings.Contains(err.Error(), "AWS_ACCESS_KEY_ID") {
		t.Fatalf("Open without credentials = %v", err)
	}
	if _, err := Open(ctx, loc, credentials.NewStaticV4(srv.AccessKey, "wrong-secret", "")); err == nil {
		t.Fatal("Open with a wrong secret succeeded")
	}
}

// BenchmarkStore: see blobtest.Benchmark, and docs/benchmarks.md for
// numbers beside fsblob's. MinIO runs on this machine, on the same disk.
func BenchmarkStore(b *testing.B) {
	srv := miniotest.Start(b)
	bucket := srv.Bucket(b)
	n := 0
	blobtest.Benchmark(b, func(b *testing.B) blob.Store {
		n++
		return open(b, srv, bucket, fmt.Sprintf("bench/%d", n))
	})
}

// An empty blob (an image's empty layer) has no chunk at all.
func TestEmptyBlob(t *testing.T) {
	srv := miniotest.Start(t)
	s := open(t, srv, srv.Bucket(t), "empty")
	ctx := context.Background()
	d := oci.FromBytes(oci.SHA256, nil)
	must(t, s.StartUpload(ctx, "e"))
	if n, err := s.Append(ctx, "e", 0, strings.NewReader("")); err != nil || n != 0 {
		t.Fatalf("empty Append = %d, %v", n, err)
	}
	if n, err := s.Verify(ctx, "e", d); err != nil || n != 0 {
		t.Fatalf("Verify = %d, %v", n, err)
	}
	must(t, s.Commit(ctx, "e", d))
	must(t, s.AbortUpload(ctx, "e"))
	r, err := s.Open(ctx, d)
	must(t, err)
	defer r.Close()
	if b, err := io.ReadAll(r); err != nil || len(b) != 0 || r.Size() != 0 {
		t.Fatalf("read %q, %v, size %d", b, err, r.Size())
	}
}
