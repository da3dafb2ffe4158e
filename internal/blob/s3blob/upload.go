package s3blob

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/berthhq/berth/internal/blob"
	"github.com/berthhq/berth/internal/oci"
)

// S3's limits on multipart uploads: every part but the last has at least
// minPart bytes. partSize is what an append sends per part, and so the
// memory one append holds; at 10,000 parts it bounds one append to 160 GiB.
const (
	minPart  = 5 << 20
	partSize = 16 << 20
)

// manifest is an upload's state, the one object of the upload that
// changes. Every change is a conditional write against the version read,
// so of two requests that read the same version (on one server or two)
// exactly one wins.
type manifest struct {
	// Session tells this upload from a later one under the same id.
	Session string  `json:"session"`
	Size    int64   `json:"size"`
	Chunks  []chunk `json:"chunks,omitempty"`
	// Hash is the SHA-256 state after Size bytes, so that Verify need
	// not read the chunks again.
	Hash []byte `json:"hash,omitempty"`
	// Sealed names the verified content once Verify has passed, and
	// Digest is its SHA-256 digest.
	Sealed string `json:"sealed,omitempty"`
	Digest string `json:"digest,omitempty"`
}

// chunk is the bytes of one or more appends, in an object of their own.
// Every chunk but the last has at least minPart bytes, so that the
// chunks can be composed into one object by S3 itself.
type chunk struct {
	Key  string `json:"key"`
	Size int64  `json:"size"`
}

const manifestName = "manifest"

// errConflict is a conditional write that lost.
var errConflict = errors.New("the upload changed meanwhile")

func (s *Store) load(ctx context.Context, id string) (manifest, string, error) {
	body, info, _, err := s.core.GetObject(ctx, s.bucket, s.uploadKey(id, manifestName), minio.GetObjectOptions{})
	if notFound(err) {
		return manifest{}, "", blob.ErrUploadNotFound
	}
	if err != nil {
		return manifest{}, "", err
	}
	defer body.Close()
	var m manifest
	if err := json.NewDecoder(io.LimitReader(body, 1<<20)).Decode(&m); err != nil {
		return manifest{}, "", fmt.Errorf("upload %s: reading its manifest: %w", id, err)
	}
	return m, info.ETag, nil
}

// save writes m if the manifest is still at version etag, or, with an
// empty etag, if there is none.
func (s *Store) save(ctx context.Context, id string, m manifest, etag string) error {
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	opts := minio.PutObjectOptions{ContentType: "application/json"}
	if etag == "" {
		opts.SetMatchETagExcept("*")
	} else {
		opts.SetMatchETag(etag)
	}
	_, err = s.core.PutObject(ctx, s.bucket, s.uploadKey(id, manifestName), bytes.NewReader(b), int64(len(b)), "", "", opts)
	switch r := minio.ToErrorResponse(err); {
	case err == nil:
		return nil
	case r.StatusCode == http.StatusPreconditionFailed || r.StatusCode == http.StatusConflict || notFound(err):
		// 409 is S3's answer to two conditional writes at once; 404 a
		// manifest removed since it was read.
		return errConflict
	default:
		return storageErr(err)
	}
}

func (s *Store) StartUpload(ctx context.Context, id string) error {
	err := s.save(ctx, id, manifest{Session: randomName()}, "")
	if errors.Is(err, errConflict) {
		return fmt.Errorf("upload %s exists already", id)
	}
	return err
}

func (s *Store) UploadSize(ctx context.Context, id string) (int64, error) {
	m, _, err := s.load(ctx, id)
	return m.Size, err
}

// lost answers a request whose conditional write lost: the upload is gone,
// sealed or another one (ErrUploadNotFound), or grew (ErrRangeInvalid and
// its size).
func (s *Store) lost(ctx context.Context, id, session string) (int64, error) {
	m, _, err := s.load(ctx, id)
	switch {
	case err != nil:
		return 0, err
	case m.Session != session || m.Sealed != "":
		return 0, blob.ErrUploadNotFound
	}
	return m.Size, blob.ErrRangeInvalid
}

func (s *Store) Append(ctx context.Context, id string, offset int64, r io.Reader) (int64, error) {
	m, etag, err := s.load(ctx, id)
	if err != nil {
		return 0, err
	}
	if m.Sealed != "" {
		return 0, blob.ErrUploadNotFound
	}
	if m.Size != offset {
		return m.Size, blob.ErrRangeInvalid
	}
	in := &counter{r: r}
	var src io.Reader = in
	h := restoreHash(m)
	if h != nil {
		src = io.TeeReader(in, h)
	}
	chunks := m.Chunks
	var replaced *chunk
	if n := len(chunks); n > 0 && chunks[n-1].Size < minPart {
		// Too small to stand before another chunk: the new chunk holds
		// it and the new bytes after it.
		last := chunks[n-1]
		old, err := s.open(ctx, s.uploadKey(id, last.Key))
		if notFound(err) {
			return s.lost(ctx, id, m.Session)
		}
		if err != nil {
			return offset, err
		}
		defer old.Close()
		src = io.MultiReader(old, src)
		replaced, chunks = &last, chunks[:n-1]
	}
	key := "chunks/" + randomName()
	written, err := s.put(ctx, s.uploadKey(id, key), src)
	if err != nil {
		if in.err != nil {
			// The client's bytes stopped coming; nothing was stored.
			return offset, in.err
		}
		return offset, err
	}
	if in.n == 0 {
		s.removeQuietly(ctx, id, key)
		return offset, nil
	}
	if replaced != nil && written != replaced.Size+in.n || replaced == nil && written != in.n {
		s.removeQuietly(ctx, id, key)
		return offset, fmt.Errorf("upload %s: stored %d bytes of a chunk that has %d", id, written, in.n)
	}
	m.Size += in.n
	m.Chunks = append(chunks, chunk{Key: key, Size: written})
	m.Hash = marshalHash(h)
	if err := s.save(ctx, id, m, etag); err != nil {
		s.removeQuietly(ctx, id, key)
		if errors.Is(err, errConflict) {
			return s.lost(ctx, id, m.Session)
		}
		return offset, err
	}
	if replaced != nil {
		s.removeQuietly(ctx, id, replaced.Key)
	}
	return m.Size, nil
}

// counter counts what the client sent and keeps the client's own error,
// told apart from the service's.
type counter struct {
	r   io.Reader
	n   int64
	err error
}

func (c *counter) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	if err != nil && err != io.EOF {
		c.err = err
	}
	return n, err
}

// put stores src under key: in one request when it fits in a part, as a
// multipart upload of partSize parts when it does not.
func (s *Store) put(ctx context.Context, key string, src io.Reader) (int64, error) {
	bp := parts.Get().(*[]byte)
	defer parts.Put(bp)
	buf := *bp
	n, err := io.ReadFull(src, buf)
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		info, err := s.core.PutObject(ctx, s.bucket, key, bytes.NewReader(buf[:n]), int64(n), "", "", minio.PutObjectOptions{ContentType: "application/octet-stream"})
		return info.Size, storageErr(err)
	}
	if err != nil {
		return 0, err
	}
	uploadID, err := s.core.NewMultipartUpload(ctx, s.bucket, key, minio.PutObjectOptions{ContentType: "application/octet-stream"})
	if err != nil {
		return 0, storageErr(err)
	}
	size, err := s.putParts(ctx, key, uploadID, buf, n, src)
	if err != nil {
		// Detached: a client that hung up cancelled ctx, and the parts
		// should go all the same. Sweep finds what this misses.
		abort, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		s.core.AbortMultipartUpload(abort, s.bucket, key, uploadID)
		return 0, storageErr(err)
	}
	return size, nil
}

// parts are the buffers of appends in progress: a part is sent with its
// length, so it is read whole first.
var parts = sync.Pool{New: func() any { b := make([]byte, partSize); return &b }}

// putParts sends buf[:n], then the rest of src, as the parts of uploadID,
// and completes it.
func (s *Store) putParts(ctx context.Context, key, uploadID string, buf []byte, n int, src io.Reader) (int64, error) {
	var parts []minio.CompletePart
	var size int64
	for {
		p, err := s.core.PutObjectPart(ctx, s.bucket, key, uploadID, len(parts)+1, bytes.NewReader(buf[:n]), int64(n), minio.PutObjectPartOptions{})
		if err != nil {
			return 0, err
		}
		parts = append(parts, minio.CompletePart{PartNumber: p.PartNumber, ETag: p.ETag})
		size += int64(n)
		var err2 error
		n, err2 = io.ReadFull(src, buf)
		if err2 == io.EOF {
			break
		}
		if err2 != nil && err2 != io.ErrUnexpectedEOF {
			return 0, err2
		}
	}
	if _, err := s.core.CompleteMultipartUpload(ctx, s.bucket, key, uploadID, parts, minio.PutObjectOptions{}); err != nil {
		return 0, err
	}
	return size, nil
}

// removeQuietly removes an object of the upload that nothing names (any
// more), also when the client has gone: what it fails to remove goes with
// the upload (AbortUpload).
func (s *Store) removeQuietly(ctx context.Context, id, name string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	s.client.RemoveObject(ctx, s.bucket, s.uploadKey(id, name), minio.RemoveObjectOptions{})
}

type hashState interface {
	hash.Hash
	encoding.BinaryMarshaler
	encoding.BinaryUnmarshaler
}

// restoreHash returns the SHA-256 state after m's bytes, or nil when m
// keeps none that fits (then Verify reads the chunks).
func restoreHash(m manifest) hashState {
	h := sha256.New().(hashState)
	if m.Size == 0 {
		return h
	}
	if m.Hash == nil || h.UnmarshalBinary(m.Hash) != nil {
		return nil
	}
	return h
}

func marshalHash(h hashState) []byte {
	if h == nil {
		return nil
	}
	b, err := h.MarshalBinary()
	if err != nil {
		return nil
	}
	return b
}

// verifyAttempts bounds how often Verify starts again after an append
// changed the upload under it, which only a misbehaving client does.
const verifyAttempts = 3

func (s *Store) Verify(ctx context.Context, id string, d oci.Digest) (int64, error) {
	for range verifyAttempts {
		m, etag, err := s.load(ctx, id)
		if err != nil {
			return 0, err
		}
		if m.Sealed != "" {
			return s.checkSealed(ctx, id, m, d)
		}
		sum, err := s.hashChunks(ctx, id, m, d.Algorithm())
		if err != nil {
			return 0, err
		}
		if sum[0] != d.Encoded() {
			return 0, blob.ErrDigestMismatch
		}
		sealed, err := s.seal(ctx, id, m)
		if err != nil {
			return 0, err
		}
		m.Sealed, m.Digest = sealed, string(oci.SHA256)+":"+sum[1]
		err = s.save(ctx, id, m, etag)
		if err == nil {
			return m.Size, nil
		}
		if len(m.Chunks) != 1 {
			s.removeQuietly(ctx, id, sealed)
		}
		if !errors.Is(err, errConflict) {
			return 0, err
		}
	}
	return 0, fmt.Errorf("upload %s kept changing while it was verified", id)
}

// hashChunks returns the hex digest of m's content with alg, and its
// SHA-256 one, from the saved state when that suffices.
func (s *Store) hashChunks(ctx context.Context, id string, m manifest, alg oci.Algorithm) ([2]string, error) {
	if h := restoreHash(m); h != nil && alg == oci.SHA256 {
		sum := hex.EncodeToString(h.Sum(nil))
		return [2]string{sum, sum}, nil
	}
	h, h256 := alg.New(), sha256.New()
	w := io.MultiWriter(h, h256)
	for _, c := range m.Chunks {
		r, err := s.open(ctx, s.uploadKey(id, c.Key))
		if notFound(err) {
			// An append replaced it, or the upload is gone.
			return [2]string{}, s.goneOr(ctx, id, m, err)
		}
		if err != nil {
			return [2]string{}, err
		}
		n, err := io.Copy(w, r)
		r.Close()
		if err != nil {
			return [2]string{}, err
		}
		if n != c.Size {
			return [2]string{}, fmt.Errorf("upload %s: chunk %s has %d bytes, its manifest says %d", id, c.Key, n, c.Size)
		}
	}
	return [2]string{hex.EncodeToString(h.Sum(nil)), hex.EncodeToString(h256.Sum(nil))}, nil
}

// goneOr is ErrUploadNotFound when the upload m was read from is no
// longer there or no longer the same, else err.
func (s *Store) goneOr(ctx context.Context, id string, m manifest, err error) error {
	now, _, lerr := s.load(ctx, id)
	if errors.Is(lerr, blob.ErrUploadNotFound) || lerr == nil && now.Session != m.Session {
		return blob.ErrUploadNotFound
	}
	return err
}

// seal makes the one object that holds m's content and returns its name.
// A single chunk is that object already; several are composed by the
// service (a multipart copy), without the bytes passing through here.
func (s *Store) seal(ctx context.Context, id string, m manifest) (string, error) {
	if len(m.Chunks) == 1 {
		return m.Chunks[0].Key, nil
	}
	name := "sealed-" + randomName()
	dst := minio.CopyDestOptions{Bucket: s.bucket, Object: s.uploadKey(id, name)}
	if len(m.Chunks) == 0 {
		_, err := s.core.PutObject(ctx, s.bucket, dst.Object, bytes.NewReader(nil), 0, "", "", minio.PutObjectOptions{ContentType: "application/octet-stream"})
		return name, storageErr(err)
	}
	srcs := make([]minio.CopySrcOptions, len(m.Chunks))
	for i, c := range m.Chunks {
		srcs[i] = minio.CopySrcOptions{Bucket: s.bucket, Object: s.uploadKey(id, c.Key)}
	}
	if _, err := s.client.ComposeObject(ctx, dst, srcs...); err != nil {
		if notFound(err) {
			return "", s.goneOr(ctx, id, m, err)
		}
		return "", storageErr(err)
	}
	return name, nil
}

// checkSealed verifies d against content that an earlier Verify sealed.
func (s *Store) checkSealed(ctx context.Context, id string, m manifest, d oci.Digest) (int64, error) {
	if d.Algorithm() == oci.SHA256 {
		if m.Digest != d.String() {
			return 0, blob.ErrDigestMismatch
		}
		return m.Size, nil
	}
	r, err := s.open(ctx, s.uploadKey(id, m.Sealed))
	if notFound(err) {
		return 0, blob.ErrUploadNotFound
	}
	if err != nil {
		return 0, err
	}
	defer r.Close()
	h := d.Algorithm().New()
	n, err := io.Copy(h, r)
	if err != nil {
		return 0, err
	}
	if hex.EncodeToString(h.Sum(nil)) != d.Encoded() {
		return 0, blob.ErrDigestMismatch
	}
	return n, nil
}

// Commit copies the sealed content to its digest's key, where the service
// makes it visible whole or not at all. Content already there is the same
// verified bytes, so it is copied over rather than asked for first: a
// commit is nearly always of new content.
func (s *Store) Commit(ctx context.Context, id string, d oci.Digest) error {
	m, _, err := s.load(ctx, id)
	if err != nil {
		return err
	}
	if m.Sealed == "" {
		return blob.ErrUploadNotFound
	}
	dst := minio.CopyDestOptions{Bucket: s.bucket, Object: s.blobKey(d)}
	src := minio.CopySrcOptions{Bucket: s.bucket, Object: s.uploadKey(id, m.Sealed)}
	if m.Size <= maxCopy {
		_, err = s.client.CopyObject(ctx, dst, src)
	} else {
		// A multipart copy, which appears when it completes.
		_, err = s.client.ComposeObject(ctx, dst, src)
	}
	if notFound(err) {
		return blob.ErrUploadNotFound
	}
	return storageErr(err)
}

// maxCopy is the largest object S3 copies in one request.
const maxCopy = 5 << 30

// AbortUpload removes the manifest first, so that no request can go on
// with the upload, then the upload's other objects. A request that
// stores a chunk meanwhile loses its conditional write and removes the
// chunk itself; one that dies in between leaves it to WalkUploads.
func (s *Store) AbortUpload(ctx context.Context, id string) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	mkey := s.uploadKey(id, manifestName)
	var rest []string
	found := false
	for obj := range s.client.ListObjects(ctx, s.bucket, minio.ListObjectsOptions{Prefix: s.uploadKey(id, ""), Recursive: true}) {
		if obj.Err != nil {
			return obj.Err
		}
		found = true
		if obj.Key != mkey {
			rest = append(rest, obj.Key)
		}
	}
	if !found {
		return blob.ErrUploadNotFound
	}
	if err := s.client.RemoveObject(ctx, s.bucket, mkey, minio.RemoveObjectOptions{}); err != nil {
		return err
	}
	for _, key := range rest {
		if err := s.client.RemoveObject(ctx, s.bucket, key, minio.RemoveObjectOptions{}); err != nil {
			return err
		}
	}
	return nil
}

// WalkUploads reports every upload that has an object, its manifest or
// chunks left without one, with the latest change to any of them.
func (s *Store) WalkUploads(ctx context.Context, fn func(string, time.Time) error) error {
	base := s.uploadsPrefix()
	latest := map[string]time.Time{}
	var order []string
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for obj := range s.client.ListObjects(ctx, s.bucket, minio.ListObjectsOptions{Prefix: base, Recursive: true}) {
		if obj.Err != nil {
			return obj.Err
		}
		id, _, ok := strings.Cut(obj.Key[len(base):], "/")
		if !ok || id == "" {
			continue
		}
		t, seen := latest[id]
		if !seen {
			order = append(order, id)
		}
		if obj.LastModified.After(t) {
			latest[id] = obj.LastModified
		}
	}
	for _, id := range order {
		if err := fn(id, latest[id]); err != nil {
			return err
		}
	}
	return nil
}
