package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/berthhq/berth/internal/testutil/miniotest"
)

// TestObjectStore runs berth serve with its blobs in a real MinIO:
// go-containerregistry pushes an image (each layer streamed in one PATCH,
// the largest past one S3 part), a client pushes a layer in many small
// PATCHes, and both images pull back byte for byte, streamed through
// berth. fsck is clean. A server killed in the middle of a large PATCH
// leaves a multipart upload in the bucket, which berth gc removes. With
// --blob-redirect, go-containerregistry pulls the same images following
// berth's 307s to presigned URLs, straight from MinIO.
func TestObjectStore(t *testing.T) {
	store := miniotest.Start(t)
	bucket := store.Bucket(t)
	blobStore := store.URL(bucket, "berth")
	// The server and the CLI read credentials as the AWS tools do.
	for _, kv := range store.Env() {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	s := startBerth(t, "--blob-store", blobStore)
	ctx := t.Context()
	s3Host := strings.TrimPrefix(store.Endpoint, "http://")

	// Pushed by go-containerregistry.
	img := ociImage(t, v1.Platform{OS: "linux", Architecture: "amd64"}, 3<<10, 6*mib, 21*mib)
	ggcrRef, err := name.NewTag(s.Host + "/objects/ggcr:v1")
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ggcrRef, img, ggcrOptions(ctx, s)...); err != nil {
		t.Fatalf("push: %v", err)
	}
	// Pushed in PATCHes of a little over a megabyte, below S3's minimum
	// part size.
	c := newRegistryClient(s)
	layer := randomBlob(7, 13*mib+5)
	chunkedImg, config := newImage("objects/chunked", "v1", "chunked", []testBlob{layer})
	if err := c.uploadChunked(ctx, &uploadSession{Repo: chunkedImg.Repo, Blob: layer}, mib+7); err != nil {
		t.Fatal(err)
	}
	if err := c.uploadWhole(ctx, chunkedImg.Repo, config); err != nil {
		t.Fatal(err)
	}
	if err := c.putManifest(ctx, chunkedImg.Repo, chunkedImg.Tag, chunkedImg.Manifest); err != nil {
		t.Fatal(err)
	}
	chunkedRef, err := name.NewTag(s.Host + "/" + chunkedImg.Repo + ":" + chunkedImg.Tag)
	if err != nil {
		t.Fatal(err)
	}

	// pull fetches both images with go-containerregistry, through a
	// transport that notes every request.
	pull := func(what string) *requestLog {
		t.Helper()
		log := &requestLog{next: berthTransport(s)}
		opts := append(ggcrOptions(ctx, s), remote.WithTransport(log))
		got, err := remote.Image(ggcrRef, opts...)
		if err != nil {
			t.Fatalf("%s: pull: %v", what, err)
		}
		sameImage(t, what, img, got)
		got, err = remote.Image(chunkedRef, opts...)
		if err != nil {
			t.Fatalf("%s: pull: %v", what, err)
		}
		layers, err := got.Layers()
		if err != nil || len(layers) != 1 {
			t.Fatalf("%s: layers %v, %v", what, layers, err)
		}
		if b := compressed(t, layers[0]); !bytes.Equal(b, layer.Data) {
			t.Fatalf("%s: the chunked layer came back as %d other bytes", what, len(b))
		}
		if b, err := got.RawConfigFile(); err != nil || !bytes.Equal(b, config.Data) {
			t.Fatalf("%s: config %q, %v", what, b, err)
		}
		return log
	}
	if log := pull("streamed"); log.count(s3Host) != 0 {
		t.Fatalf("without --blob-redirect the client went to the object store:\n%s", log)
	}
	if out, err := operator(t, s, "fsck", "--blob-store", blobStore); err != nil {
		t.Fatalf("fsck: %v\n%s", err, out)
	}

	// A server killed while a PATCH it was storing had reached the object
	// store as a multipart upload.
	loc, err := c.startUpload(ctx, "objects/killed")
	if err != nil {
		t.Fatal(err)
	}
	body, feed := io.Pipe()
	patched := make(chan error, 1)
	go func() {
		req, err := http.NewRequestWithContext(ctx, http.MethodPatch, c.resolve(loc), body)
		if err == nil {
			req.SetBasicAuth(c.user, c.pass)
			req.Header.Set("Content-Type", "application/octet-stream")
			var resp *http.Response
			if resp, err = c.hc.Do(req); err == nil {
				resp.Body.Close()
			}
		}
		patched <- err
	}()
	// More than one part, and the body left open: the server is
	// mid-append when it dies.
	go feed.Write(randomBlob(8, 17*mib).Data)
	waitFor(t, 30*time.Second, "a multipart upload in the bucket while a 17 MiB PATCH is under way", func() bool { return len(multipartUploads(t, store, bucket)) > 0 })
	s.Kill()
	feed.CloseWithError(io.ErrClosedPipe)
	if err := <-patched; err == nil {
		t.Fatal("the PATCH to a killed server succeeded")
	}
	c.dropConnections()
	out, err := operator(t, s, "gc", "--grace", "0s", "--blob-store", blobStore)
	if err != nil {
		t.Fatalf("gc: %v\n%s", err, out)
	}
	var r gcResult
	var swept int
	if _, err := fmt.Sscanf(out, "deleted %d blobs (%d bytes), removed %d abandoned uploads and %d unfinished multipart uploads", &r.Blobs, &r.Bytes, &r.Uploads, &swept); err != nil {
		t.Fatalf("gc printed %q: %v", out, err)
	}
	if r.Blobs != 0 || r.Uploads != 1 || swept != 1 {
		t.Fatalf("gc: %q; want nothing deleted, the killed upload and its multipart upload removed", out)
	}
	if left := multipartUploads(t, store, bucket); len(left) != 0 {
		t.Fatalf("multipart uploads after gc: %v", left)
	}
	if out, err := operator(t, s, "fsck", "--blob-store", blobStore); err != nil {
		t.Fatalf("fsck after the kill and gc: %v\n%s", err, out)
	}

	s.Args = append(s.Args, "--blob-redirect")
	s.Restart()
	log := pull("redirected")
	redirects := log.redirects()
	// Config and three layers of one image, config and layer of the
	// other: every blob GET.
	if len(redirects) != 6 || log.count(s3Host) != 6 {
		t.Fatalf("with --blob-redirect: %d redirects, %d requests to the object store; want 6 and 6:\n%s", len(redirects), log.count(s3Host), log)
	}
	for _, u := range redirects {
		if u.Host != s3Host || u.Query().Get("X-Amz-Expires") != "600" || !strings.HasPrefix(u.Path, "/"+bucket+"/berth/blobs/sha256/") {
			t.Fatalf("redirect to %s: want a ten-minute presigned URL of a blob in the bucket", u)
		}
	}
}

// requestLog is a transport that records each request's host, and where
// the answers that redirect point.
type requestLog struct {
	next http.RoundTripper
	mu   sync.Mutex
	seen []string
	to   []*url.URL
}

func (l *requestLog) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := l.next.RoundTrip(req)
	l.mu.Lock()
	defer l.mu.Unlock()
	line := req.Method + " " + req.URL.Redacted()
	if err == nil {
		line += " " + resp.Status
		if resp.StatusCode == http.StatusTemporaryRedirect {
			if u, perr := resp.Location(); perr == nil {
				l.to = append(l.to, u)
			}
		}
	}
	l.seen = append(l.seen, req.URL.Host+"\t"+line)
	return resp, err
}

func (l *requestLog) count(host string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, s := range l.seen {
		if strings.HasPrefix(s, host+"\t") {
			n++
		}
	}
	return n
}

func (l *requestLog) redirects() []*url.URL {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.to
}

func (l *requestLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.seen, "\n")
}

func multipartUploads(t *testing.T, store *miniotest.Server, bucket string) []string {
	t.Helper()
	var keys []string
	for mpu := range store.Client.ListIncompleteUploads(context.Background(), bucket, "", true) {
		if mpu.Err != nil {
			t.Fatal(mpu.Err)
		}
		keys = append(keys, mpu.Key)
	}
	return keys
}

// A blob store that cannot be used is refused with a message that says
// why, before anything is written: no data directory appears.
func TestObjectStoreRefusals(t *testing.T) {
	store := miniotest.Start(t)
	bucket := store.Bucket(t)
	// No credentials in the environment or in a shared credentials file.
	t.Setenv("AWS_ACCESS_KEY_ID", "")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(t.TempDir(), "none"))
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(t.TempDir(), "none"))
	c := newCLI(t, "")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"serve", "--listen", "127.0.0.1:0", "--blob-redirect"}, "--blob-redirect needs an object store"},
		{[]string{"fsck", "--blob-store", "s3://Blobs"}, "lower-case letters, digits, dots and hyphens only"},
		{[]string{"gc", "--blob-store", "s3://blobs?endpoint=minio:9000"}, "must be an http:// or https:// URL"},
		{[]string{"serve", "--listen", "127.0.0.1:0", "--blob-store", "s3://blobs?acl=public"}, `unknown parameter "acl"`},
		{[]string{"fsck", "--blob-store", store.URL(bucket, "p")}, "no credentials for the blob store"},
	} {
		dir := filepath.Join(t.TempDir(), "data")
		out, err := c.try(append(tc.args, "--data-dir", dir)...)
		if err == nil || !strings.Contains(out, tc.want) {
			t.Errorf("berth %v: %v\n%s\nwant it to say %q", tc.args, err, out, tc.want)
		}
		if _, err := os.Stat(dir); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("berth %v left a data directory (%v)", tc.args, err)
		}
	}
	for _, kv := range store.Env() {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	out, err := c.try("fsck", "--data-dir", filepath.Join(t.TempDir(), "data"), "--blob-store", store.URL("missing-bucket", ""))
	if err == nil || !strings.Contains(out, `bucket "missing-bucket" does not exist`) {
		t.Errorf("fsck on a missing bucket: %v\n%s", err, out)
	}
}
