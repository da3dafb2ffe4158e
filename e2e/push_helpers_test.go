package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/berthhq/berth/internal/testutil/berthtest"
)

// The GC and crash tests push with this small client over plain HTTP rather
// than with a client library: they must see every status code a push meets
// (a library retries some and folds the rest into one error), stop an upload
// half-way, and resume it later.

const (
	mediaTypeManifest = "application/vnd.oci.image.manifest.v1+json"
	mediaTypeConfig   = "application/vnd.oci.image.config.v1+json"
	mediaTypeLayer    = "application/vnd.oci.image.layer.v1.tar"
)

// requestTimeout bounds every request, body included, so that a server that
// stops answering fails the test with the request it hung on rather than
// at the test binary's deadline.
const requestTimeout = 60 * time.Second

type registryClient struct {
	base       *url.URL
	user, pass string
	hc         *http.Client
}

func newRegistryClient(s *berthtest.Server) *registryClient {
	base, err := url.Parse(s.URL)
	if err != nil {
		panic(err)
	}
	// Plain HTTP/1.1 with a connection per concurrent request, as most
	// pushers behave; the pool outlives server restarts because the
	// address and CA do not change.
	tr := &http.Transport{TLSClientConfig: s.TLSConfig(), MaxIdleConnsPerHost: 32}
	return &registryClient{base: base, user: s.Boot.ClientID, pass: s.Boot.ClientSecret, hc: &http.Client{Transport: tr}}
}

// dropConnections forgets connections to a server that was killed.
func (c *registryClient) dropConnections() { c.hc.CloseIdleConnections() }

// ociError is a response other than the one an operation expects.
type ociError struct {
	Op     string
	Status int
	Code   string // the first OCI error code of the body, if any
	Msg    string
}

func (e *ociError) Error() string {
	return fmt.Sprintf("%s: %d %s %s", e.Op, e.Status, e.Code, e.Msg)
}

// statusOf returns the status and OCI error code of err, or 0 and "" if
// err is not an answer from the server (a network error, say).
func statusOf(err error) (int, string) {
	var oe *ociError
	if errors.As(err, &oe) {
		return oe.Status, oe.Code
	}
	return 0, ""
}

// errContentMismatch is a blob or manifest whose bytes are not what their
// digest says: never acceptable.
var errContentMismatch = errors.New("content does not match its digest")

func (c *registryClient) resolve(ref string) string {
	u, err := c.base.Parse(ref)
	if err != nil {
		panic(err)
	}
	return u.String()
}

func (c *registryClient) request(ctx context.Context, method, target string, body []byte, hdr http.Header) (*http.Response, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.resolve(target), rd)
	if err != nil {
		return nil, err
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	req.SetBasicAuth(c.user, c.pass)
	return c.hc.Do(req)
}

// call sends a request and checks its status is one of want; on any other
// the body is read into an *ociError. On success the caller reads and
// closes the body, then calls cancel.
func (c *registryClient) call(ctx context.Context, op, method, target string, body []byte, hdr http.Header, want ...int) (*http.Response, context.CancelFunc, error) {
	ctx, cancel := context.WithTimeout(ctx, requestTimeout)
	resp, err := c.request(ctx, method, target, body, hdr)
	if err != nil {
		cancel()
		return nil, nil, fmt.Errorf("%s: %w", op, err)
	}
	if slices.Contains(want, resp.StatusCode) {
		return resp, cancel, nil
	}
	defer cancel()
	defer resp.Body.Close()
	oe := &ociError{Op: op, Status: resp.StatusCode}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	var eb struct {
		Errors []struct{ Code, Message string }
	}
	if json.Unmarshal(b, &eb) == nil && len(eb.Errors) > 0 {
		oe.Code, oe.Msg = eb.Errors[0].Code, eb.Errors[0].Message
	} else {
		oe.Msg = strings.TrimSpace(string(b))
	}
	return nil, nil, oe
}

// simple runs a request whose answer carries nothing but headers.
func (c *registryClient) simple(ctx context.Context, op, method, target string, body []byte, hdr http.Header, want ...int) (*http.Response, error) {
	resp, cancel, err := c.call(ctx, op, method, target, body, hdr, want...)
	if err != nil {
		return nil, err
	}
	defer cancel()
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	return resp, nil
}

// statBlob is a HEAD: the size, or ok false on 404.
func (c *registryClient) statBlob(ctx context.Context, repo, d string) (size int64, ok bool, err error) {
	resp, err := c.simple(ctx, "HEAD blob "+d, http.MethodHead, "/v2/"+repo+"/blobs/"+d, nil, nil, http.StatusOK)
	if status, _ := statusOf(err); status == http.StatusNotFound {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, err
	}
	size, err = strconv.ParseInt(resp.Header.Get("Content-Length"), 10, 64)
	if err != nil {
		return 0, false, fmt.Errorf("HEAD blob %s: Content-Length %q", d, resp.Header.Get("Content-Length"))
	}
	return size, true, nil
}

// fetchBlob downloads a blob and checks it against its digest; it returns
// the number of bytes.
func (c *registryClient) fetchBlob(ctx context.Context, repo, d string) (int64, error) {
	op := "GET blob " + repo + "@" + d
	resp, cancel, err := c.call(ctx, op, http.MethodGet, "/v2/"+repo+"/blobs/"+d, nil, nil, http.StatusOK)
	if err != nil {
		return 0, err
	}
	defer cancel()
	defer resp.Body.Close()
	h := sha256.New()
	n, err := io.Copy(h, resp.Body)
	if err != nil {
		return n, fmt.Errorf("%s: %w", op, err)
	}
	if got := "sha256:" + hex.EncodeToString(h.Sum(nil)); got != d {
		return n, fmt.Errorf("%s: %w: got %d bytes hashing to %s", op, errContentMismatch, n, got)
	}
	return n, nil
}

// startUpload opens an upload session and returns its location.
func (c *registryClient) startUpload(ctx context.Context, repo string) (string, error) {
	resp, err := c.simple(ctx, "POST upload", http.MethodPost, "/v2/"+repo+"/blobs/uploads/", nil, nil, http.StatusAccepted)
	if err != nil {
		return "", err
	}
	return resp.Header.Get("Location"), nil
}

// uploadWhole sends a blob in the POST that opens the session.
func (c *registryClient) uploadWhole(ctx context.Context, repo string, b testBlob) error {
	hdr := http.Header{"Content-Type": {"application/octet-stream"}}
	_, err := c.simple(ctx, "POST upload with digest", http.MethodPost, "/v2/"+repo+"/blobs/uploads/?digest="+b.Digest, b.Data, hdr, http.StatusCreated)
	return err
}

// mountBlob asks for a cross-repository mount. When the registry declines
// it opens an upload session instead and loc is where to send the data.
func (c *registryClient) mountBlob(ctx context.Context, repo, from, d string) (mounted bool, loc string, err error) {
	q := url.Values{"mount": {d}, "from": {from}}
	resp, err := c.simple(ctx, "POST mount", http.MethodPost, "/v2/"+repo+"/blobs/uploads/?"+q.Encode(), nil, nil, http.StatusCreated, http.StatusAccepted)
	if err != nil {
		return false, "", err
	}
	if resp.StatusCode == http.StatusCreated {
		return true, "", nil
	}
	return false, resp.Header.Get("Location"), nil
}

// patchUpload appends chunk at offset and returns the session's next
// location.
func (c *registryClient) patchUpload(ctx context.Context, loc string, offset int64, chunk []byte) (string, error) {
	hdr := http.Header{
		"Content-Type":  {"application/octet-stream"},
		"Content-Range": {fmt.Sprintf("%d-%d", offset, offset+int64(len(chunk))-1)},
	}
	resp, err := c.simple(ctx, "PATCH upload", http.MethodPatch, loc, chunk, hdr, http.StatusAccepted)
	if err != nil {
		return "", err
	}
	return resp.Header.Get("Location"), nil
}

// finishUpload closes a session with the digest, sending rest (may be
// empty) first.
func (c *registryClient) finishUpload(ctx context.Context, loc, d string, rest []byte) error {
	u, err := url.Parse(c.resolve(loc))
	if err != nil {
		return err
	}
	q := u.Query()
	q.Set("digest", d)
	u.RawQuery = q.Encode()
	var hdr http.Header
	if len(rest) > 0 {
		hdr = http.Header{"Content-Type": {"application/octet-stream"}}
	}
	_, err = c.simple(ctx, "PUT upload", http.MethodPut, u.String(), rest, hdr, http.StatusCreated)
	return err
}

// uploadSession tracks a chunked upload so that it can be resumed after
// the request carrying it failed.
type uploadSession struct {
	Repo string
	Blob testBlob
	Loc  string
	// Finishing is set once the closing PUT has been sent: from then on
	// the session may legitimately be gone, its content published.
	Finishing bool
}

// uploadChunked sends b in chunks of the given size, keeping sess current
// so that a failure leaves it describing where the upload stood.
func (c *registryClient) uploadChunked(ctx context.Context, sess *uploadSession, chunk int) error {
	loc, err := c.startUpload(ctx, sess.Repo)
	if err != nil {
		return err
	}
	sess.Loc = loc
	data := sess.Blob.Data
	for off := 0; off < len(data); off += chunk {
		end := min(off+chunk, len(data))
		next, err := c.patchUpload(ctx, sess.Loc, int64(off), data[off:end])
		if err != nil {
			return err
		}
		sess.Loc = next
	}
	sess.Finishing = true
	return c.finishUpload(ctx, sess.Loc, sess.Blob.Digest, nil)
}

// resume finishes an interrupted session from wherever the server says it
// stands. A Range of "0-0" means zero or one byte received (the protocol
// cannot tell), so both are tried.
func (c *registryClient) resume(ctx context.Context, sess *uploadSession) error {
	resp, err := c.simple(ctx, "GET upload status", http.MethodGet, sess.Loc, nil, nil, http.StatusNoContent)
	if err != nil {
		return err
	}
	hdr := resp.Header
	var first, last int64
	if _, err := fmt.Sscanf(hdr.Get("Range"), "%d-%d", &first, &last); err != nil || first != 0 {
		return fmt.Errorf("GET upload status: Range %q", hdr.Get("Range"))
	}
	if loc := hdr.Get("Location"); loc != "" {
		sess.Loc = loc
	}
	offsets := []int64{last + 1}
	if last == 0 {
		offsets = []int64{0, 1}
	}
	data := sess.Blob.Data
	for i, off := range offsets {
		if off > int64(len(data)) {
			return fmt.Errorf("upload holds %d bytes, more than the blob's %d", off, len(data))
		}
		if off == int64(len(data)) {
			break
		}
		loc, err := c.patchUpload(ctx, sess.Loc, off, data[off:])
		if status, _ := statusOf(err); status == http.StatusRequestedRangeNotSatisfiable && i+1 < len(offsets) {
			continue
		}
		if err != nil {
			return err
		}
		sess.Loc = loc
		break
	}
	sess.Finishing = true
	return c.finishUpload(ctx, sess.Loc, sess.Blob.Digest, nil)
}

// putManifest pushes an image manifest under ref and checks the digest the
// registry reports.
func (c *registryClient) putManifest(ctx context.Context, repo, ref string, body []byte) error {
	hdr := http.Header{"Content-Type": {mediaTypeManifest}}
	resp, err := c.simple(ctx, "PUT manifest "+repo+":"+ref, http.MethodPut, "/v2/"+repo+"/manifests/"+ref, body, hdr, http.StatusCreated)
	if err != nil {
		return err
	}
	if got, want := resp.Header.Get("Docker-Content-Digest"), digestOf(body); got != want {
		return fmt.Errorf("PUT manifest %s:%s: Docker-Content-Digest %s, want %s", repo, ref, got, want)
	}
	return nil
}

// fetchManifest returns a manifest's bytes and the digest the registry
// gives for them, having checked that the two agree.
func (c *registryClient) fetchManifest(ctx context.Context, repo, ref string) ([]byte, string, error) {
	op := "GET manifest " + repo + ":" + ref
	hdr := http.Header{"Accept": {mediaTypeManifest}}
	resp, cancel, err := c.call(ctx, op, http.MethodGet, "/v2/"+repo+"/manifests/"+ref, nil, hdr, http.StatusOK)
	if err != nil {
		return nil, "", err
	}
	defer cancel()
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, "", fmt.Errorf("%s: %w", op, err)
	}
	d := resp.Header.Get("Docker-Content-Digest")
	if digestOf(b) != d {
		return nil, "", fmt.Errorf("%s: %w: Docker-Content-Digest %s, bytes hash to %s", op, errContentMismatch, d, digestOf(b))
	}
	return b, d, nil
}

func (c *registryClient) deleteManifest(ctx context.Context, repo, d string) error {
	_, err := c.simple(ctx, "DELETE manifest "+repo+"@"+d, http.MethodDelete, "/v2/"+repo+"/manifests/"+d, nil, nil, http.StatusAccepted)
	return err
}

func digestOf(b []byte) string {
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// testBlob is content with its digest.
type testBlob struct {
	Digest string
	Data   []byte
}

func newTestBlob(data []byte) testBlob { return testBlob{Digest: digestOf(data), Data: data} }

// randomBlob returns n bytes determined by seed, so that two pushers
// asking for the same seed push the same content.
func randomBlob(seed uint64, n int) testBlob {
	var key [32]byte
	binary.LittleEndian.PutUint64(key[:], seed)
	b := make([]byte, n)
	rand.NewChaCha8(key).Read(b)
	return newTestBlob(b)
}

type descriptor struct {
	MediaType string `json:"mediaType"`
	Digest    string `json:"digest"`
	Size      int64  `json:"size"`
}

// pushedImage is what a test remembers of a push: enough to pull the
// image back and check it, without holding the layers' content.
type pushedImage struct {
	Repo, Tag string
	Digest    string
	Manifest  []byte
	Blobs     []descriptor // config first
}

// newImage builds an image manifest. The config names the image, so that
// images with the same layers still have manifests of their own.
func newImage(repo, tag, name string, layers []testBlob) (pushedImage, testBlob) {
	type rootfs struct {
		Type    string   `json:"type"`
		DiffIDs []string `json:"diff_ids"`
	}
	cfg := struct {
		Architecture string         `json:"architecture"`
		OS           string         `json:"os"`
		RootFS       rootfs         `json:"rootfs"`
		Config       map[string]any `json:"config"`
	}{Architecture: "amd64", OS: "linux", RootFS: rootfs{Type: "layers", DiffIDs: []string{}}, Config: map[string]any{"Labels": map[string]string{"test.image": name}}}
	for _, l := range layers {
		cfg.RootFS.DiffIDs = append(cfg.RootFS.DiffIDs, l.Digest)
	}
	cb, err := json.Marshal(cfg)
	if err != nil {
		panic(err)
	}
	config := newTestBlob(cb)
	m := struct {
		SchemaVersion int          `json:"schemaVersion"`
		MediaType     string       `json:"mediaType"`
		Config        descriptor   `json:"config"`
		Layers        []descriptor `json:"layers"`
	}{SchemaVersion: 2, MediaType: mediaTypeManifest, Config: descriptor{mediaTypeConfig, config.Digest, int64(len(config.Data))}, Layers: []descriptor{}}
	for _, l := range layers {
		m.Layers = append(m.Layers, descriptor{mediaTypeLayer, l.Digest, int64(len(l.Data))})
	}
	mb, err := json.Marshal(m)
	if err != nil {
		panic(err)
	}
	img := pushedImage{Repo: repo, Tag: tag, Digest: digestOf(mb), Manifest: mb, Blobs: append([]descriptor{m.Config}, m.Layers...)}
	return img, config
}

// imageVerifier pulls acknowledged images back, each blob of a repository
// once however many images share it.
type imageVerifier struct {
	c       *registryClient
	mu      sync.Mutex
	checked map[string]bool // repo@digest
	Bytes   int64
}

func newImageVerifier(c *registryClient) *imageVerifier {
	return &imageVerifier{c: c, checked: map[string]bool{}}
}

// verify checks that img can be pulled whole: the manifest by tag (if
// checkTag) and by digest, byte for byte, and every blob it names, with
// the size the manifest gives.
func (v *imageVerifier) verify(ctx context.Context, img pushedImage, checkTag bool) error {
	refs := []string{img.Digest}
	if checkTag {
		refs = append(refs, img.Tag)
	}
	for _, ref := range refs {
		b, d, err := v.c.fetchManifest(ctx, img.Repo, ref)
		if err != nil {
			return err
		}
		if d != img.Digest || !bytes.Equal(b, img.Manifest) {
			return fmt.Errorf("manifest %s:%s is %s, pushed %s", img.Repo, ref, d, img.Digest)
		}
	}
	for _, desc := range img.Blobs {
		key := img.Repo + "@" + desc.Digest
		v.mu.Lock()
		done := v.checked[key]
		v.mu.Unlock()
		if done {
			continue
		}
		n, err := v.c.fetchBlob(ctx, img.Repo, desc.Digest)
		if err != nil {
			return fmt.Errorf("image %s:%s (%s): %w", img.Repo, img.Tag, img.Digest, err)
		}
		if n != desc.Size {
			return fmt.Errorf("image %s:%s: blob %s is %d bytes, manifest says %d", img.Repo, img.Tag, desc.Digest, n, desc.Size)
		}
		v.mu.Lock()
		v.checked[key] = true
		v.Bytes += n
		v.mu.Unlock()
	}
	return nil
}

// verifyAll verifies images with a few downloads in flight and returns
// every failure.
func (v *imageVerifier) verifyAll(ctx context.Context, imgs []pushedImage, checkTag bool) []error {
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
		next = make(chan pushedImage)
	)
	for range 4 {
		wg.Go(func() {
			for img := range next {
				if err := v.verify(ctx, img, checkTag); err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
				}
			}
		})
	}
	for _, img := range imgs {
		next <- img
	}
	close(next)
	wg.Wait()
	return errs
}

// runFsck runs berth fsck on the server's data directory and returns its
// summary line, or an error with the whole report if it found problems.
func runFsck(t *testing.T, s *berthtest.Server) (string, error) {
	out, err := operator(t, s, "fsck")
	if err != nil {
		return "", fmt.Errorf("berth fsck: %v\n%s", err, out)
	}
	return strings.TrimSpace(out), nil
}

// gcResult is what one berth gc run reports.
type gcResult struct {
	Blobs, Bytes, Uploads int64
	// Skipped is a run that found another collector (the server's) holding
	// the lease and did nothing.
	Skipped bool
}

func runGC(t *testing.T, s *berthtest.Server, grace string) (gcResult, error) {
	out, err := operator(t, s, "gc", "--grace", grace)
	if err != nil {
		return gcResult{}, fmt.Errorf("berth gc: %v\n%s", err, out)
	}
	var r gcResult
	if strings.HasPrefix(out, "another garbage collection is running") {
		r.Skipped = true
		return r, nil
	}
	if _, err := fmt.Sscanf(out, "deleted %d blobs (%d bytes), removed %d abandoned uploads", &r.Blobs, &r.Bytes, &r.Uploads); err != nil {
		return r, fmt.Errorf("berth gc: unexpected output %q: %v", out, err)
	}
	return r, nil
}
