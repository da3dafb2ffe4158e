package s3blob

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/berthhq/berth/internal/blob"
	"github.com/berthhq/berth/internal/oci"
)

// Store is a blob store in a bucket of an S3-compatible service.
type Store struct {
	client *minio.Client
	core   minio.Core
	bucket string
	prefix string
}

var (
	_ blob.Store     = (*Store)(nil)
	_ blob.Presigner = (*Store)(nil)
	_ blob.Sweeper   = (*Store)(nil)
)

// Credentials are read as the AWS tools read them, the environment first,
// then the shared config and credentials files (with their profiles), but
// not from an instance's metadata endpoint or web identity tokens: those
// belong to the platform berth runs on, which says how it wants them read.
func Credentials() *credentials.Credentials {
	return credentials.NewChainCredentials([]credentials.Provider{
		&credentials.EnvAWS{},
		&credentials.FileAWSCredentials{},
	})
}

// Open connects to the bucket at loc with creds and checks that it exists;
// it never creates it.
func Open(ctx context.Context, loc Location, creds *credentials.Credentials) (*Store, error) {
	v, err := creds.GetWithContext(&credentials.CredContext{Client: http.DefaultClient})
	if err != nil || v.AccessKeyID == "" {
		return nil, errors.New("no credentials for the blob store: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or a profile in ~/.aws/credentials (AWS_PROFILE)")
	}
	client, err := minio.New(loc.Endpoint.Host, &minio.Options{
		Creds:  creds,
		Secure: loc.Endpoint.Scheme == "https",
		Region: loc.Region,
	})
	if err != nil {
		return nil, fmt.Errorf("blob store %s: %w", loc, err)
	}
	ok, err := client.BucketExists(ctx, loc.Bucket)
	if err != nil {
		return nil, fmt.Errorf("blob store %s: %w", loc, err)
	}
	if !ok {
		return nil, fmt.Errorf("blob store %s: bucket %q does not exist", loc, loc.Bucket)
	}
	return &Store{client: client, core: minio.Core{Client: client}, bucket: loc.Bucket, prefix: loc.Prefix}, nil
}

func (s *Store) blobKey(d oci.Digest) string {
	enc := d.Encoded()
	return s.prefix + "blobs/" + string(d.Algorithm()) + "/" + enc[:2] + "/" + enc
}

func (s *Store) uploadsPrefix() string { return s.prefix + "uploads/" }

// uploadKey names an object of upload id; name is relative to the
// upload's own prefix.
func (s *Store) uploadKey(id, name string) string { return s.uploadsPrefix() + id + "/" + name }

// notFound reports an error that says the key is not there.
func notFound(err error) bool {
	r := minio.ToErrorResponse(err)
	return r.Code == "NoSuchKey" || r.Code == "NoSuchUpload" || r.StatusCode == http.StatusNotFound && r.Code != "NoSuchBucket"
}

// storageErr maps the service's "no space" answers to the blob package's.
func storageErr(err error) error {
	if r := minio.ToErrorResponse(err); r.Code == "XMinioStorageFull" || r.StatusCode == http.StatusInsufficientStorage {
		return fmt.Errorf("%w (%v)", blob.ErrInsufficientStorage, err)
	}
	return err
}

func randomName() string {
	var b [12]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func (s *Store) Stat(ctx context.Context, d oci.Digest) (int64, error) {
	info, err := s.client.StatObject(ctx, s.bucket, s.blobKey(d), minio.StatObjectOptions{})
	if notFound(err) {
		return 0, blob.ErrNotFound
	}
	if err != nil {
		return 0, err
	}
	return info.Size, nil
}

func (s *Store) Open(ctx context.Context, d oci.Digest) (blob.Reader, error) {
	r, err := s.open(ctx, s.blobKey(d))
	if notFound(err) {
		return nil, blob.ErrNotFound
	}
	return r, err
}

func (s *Store) Delete(ctx context.Context, d oci.Digest) error {
	// S3 deletes a missing key without complaint; the contract wants to
	// know.
	if _, err := s.Stat(ctx, d); err != nil {
		return err
	}
	return s.client.RemoveObject(ctx, s.bucket, s.blobKey(d), minio.RemoveObjectOptions{})
}

func (s *Store) Walk(ctx context.Context, fn func(oci.Digest, int64) error) error {
	base := s.prefix + "blobs/"
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for obj := range s.client.ListObjects(ctx, s.bucket, minio.ListObjectsOptions{Prefix: base, Recursive: true}) {
		if obj.Err != nil {
			return obj.Err
		}
		parts := strings.Split(strings.TrimPrefix(obj.Key, base), "/")
		if len(parts) != 3 || !strings.HasPrefix(parts[2], parts[1]) || len(parts[1]) != 2 {
			continue // not ours: ignore stray objects rather than fail
		}
		d, err := oci.ParseDigest(parts[0] + ":" + parts[2])
		if err != nil {
			continue
		}
		if err := fn(d, obj.Size); err != nil {
			return err
		}
	}
	return nil
}

// PresignGet signs a GET of d's object. The signature is made here, from
// the credentials, without asking the service; the service checks it, and
// the URL's lifetime, when the client comes.
func (s *Store) PresignGet(ctx context.Context, d oci.Digest, ttl time.Duration) (string, error) {
	// The object's own Content-Type may be anything a copy left; clients
	// of a registry expect this one.
	params := url.Values{"response-content-type": {"application/octet-stream"}}
	u, err := s.client.PresignedGetObject(ctx, s.bucket, s.blobKey(d), ttl, params)
	if err != nil {
		return "", err
	}
	return u.String(), nil
}

// Sweep aborts the multipart uploads under the store's prefix begun before
// cutoff: those of appends and copies whose process stopped half-way, which
// S3 keeps (and bills) until told otherwise.
func (s *Store) Sweep(ctx context.Context, cutoff time.Time) (int, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	n := 0
	// Listed whole and filtered here: MinIO lists multipart uploads by
	// exact key only, not by prefix.
	for mpu := range s.client.ListIncompleteUploads(ctx, s.bucket, "", true) {
		if mpu.Err != nil {
			return n, mpu.Err
		}
		if !strings.HasPrefix(mpu.Key, s.prefix) || !mpu.Initiated.Before(cutoff) {
			continue
		}
		if err := s.core.AbortMultipartUpload(ctx, s.bucket, mpu.Key, mpu.UploadID); err != nil && !notFound(err) {
			return n, err
		}
		n++
	}
	return n, nil
}

// reader reads an object, seeking by asking for a range: Seek only moves
// the position, and the next Read fetches from there if the open response
// is elsewhere. The key may have been written again in between (a commit
// of the same content); under a digest that is the same bytes.
type reader struct {
	s         *Store
	ctx       context.Context
	key       string
	size      int64
	pos       int64
	body      io.ReadCloser
	bodyAt    int64
	closedErr error
}

func (s *Store) open(ctx context.Context, key string) (*reader, error) {
	body, info, _, err := s.core.GetObject(ctx, s.bucket, key, minio.GetObjectOptions{})
	if err != nil {
		return nil, err
	}
	return &reader{s: s, ctx: ctx, key: key, size: info.Size, body: body}, nil
}

func (r *reader) Size() int64 { return r.size }

func (r *reader) Read(p []byte) (int, error) {
	if r.closedErr != nil {
		return 0, r.closedErr
	}
	if r.pos >= r.size {
		return 0, io.EOF
	}
	if r.body == nil || r.bodyAt != r.pos {
		if r.body != nil {
			r.body.Close()
			r.body = nil
		}
		opts := minio.GetObjectOptions{}
		if err := opts.SetRange(r.pos, r.size-1); err != nil {
			return 0, err
		}
		body, _, _, err := r.s.core.GetObject(r.ctx, r.s.bucket, r.key, opts)
		if err != nil {
			return 0, err
		}
		r.body, r.bodyAt = body, r.pos
	}
	n, err := r.body.Read(p)
	r.pos += int64(n)
	r.bodyAt += int64(n)
	if err == io.EOF && r.pos < r.size {
		err = io.ErrUnexpectedEOF
	}
	return n, err
}

func (r *reader) Seek(offset int64, whence int) (int64, error) {
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		offset += r.pos
	case io.SeekEnd:
		offset += r.size
	default:
		return r.pos, errors.New("seek: invalid whence")
	}
	if offset < 0 {
		return r.pos, errors.New("seek: negative position")
	}
	r.pos = offset
	return offset, nil
}

func (r *reader) Close() error {
	r.closedErr = errors.New("read after close")
	if r.body == nil {
		return nil
	}
	err := r.body.Close()
	r.body = nil
	return err
}
