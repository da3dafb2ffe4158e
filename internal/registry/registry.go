package registry

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/berthhq/berth/internal/blob"
	"github.com/berthhq/berth/internal/oci"
	"github.com/berthhq/berth/internal/store"
)

// Service implements the registry operations for every registry the
// metadata store knows.
type Service struct {
	meta  store.Store
	blobs blob.Store
	// busyWait bounds how long an upload waits for a collector deleting
	// the same content.
	busyWait time.Duration
}

// New returns a registry service.
func New(meta store.Store, blobs blob.Store) *Service {
	return &Service{meta: meta, blobs: blobs, busyWait: 10 * time.Second}
}

// Repository resolves a repository name within a registry.
func (s *Service) Repository(registry, name string) (store.Repo, error) {
	if err := oci.ValidateName(name); err != nil {
		return store.Repo{}, ErrNameInvalid
	}
	return store.Repo{Registry: registry, Name: name}, nil
}

// RegistryExists reports whether a registry of that name exists.
func (s *Service) RegistryExists(ctx context.Context, name string) (bool, error) {
	_, err := s.meta.GetRegistry(ctx, name)
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}

// StatBlob returns the size of a blob in repo. A live record implies
// published content, so the blob store is not asked.
func (s *Service) StatBlob(ctx context.Context, repo store.Repo, d oci.Digest) (int64, error) {
	size, err := s.meta.StatBlob(ctx, repo, d)
	return size, mapStore(err)
}

// OpenBlob opens a blob of repo for reading.
func (s *Service) OpenBlob(ctx context.Context, repo store.Repo, d oci.Digest) (blob.Reader, error) {
	if _, err := s.meta.StatBlob(ctx, repo, d); err != nil {
		return nil, mapStore(err)
	}
	r, err := s.blobs.Open(ctx, d)
	return r, mapBlob(err)
}

// BlobURL returns a URL that reads blob d of repo straight from the blob
// store, without other credentials, for ttl; "" when the blob store gives
// no such URLs.
func (s *Service) BlobURL(ctx context.Context, repo store.Repo, d oci.Digest, ttl time.Duration) (string, error) {
	p, ok := s.blobs.(blob.Presigner)
	if !ok {
		return "", nil
	}
	if _, err := s.meta.StatBlob(ctx, repo, d); err != nil {
		return "", mapStore(err)
	}
	return p.PresignGet(ctx, d, ttl)
}

// DeleteBlob removes a blob from repo. The content is reclaimed by GC once
// nothing references it.
func (s *Service) DeleteBlob(ctx context.Context, repo store.Repo, d oci.Digest) error {
	return mapStore(s.meta.UnlinkBlob(ctx, repo, d))
}

// MountBlob links a blob from another repository of the same registry.
func (s *Service) MountBlob(ctx context.Context, from, repo store.Repo, d oci.Digest) (int64, error) {
	size, err := s.meta.MountBlob(ctx, from, repo, d)
	return size, mapStore(err)
}

// StartUpload opens an upload session in repo.
func (s *Service) StartUpload(ctx context.Context, repo store.Repo) (string, error) {
	var b [16]byte
	rand.Read(b[:])
	id := hex.EncodeToString(b[:])
	now := time.Now()
	if err := s.meta.CreateUpload(ctx, store.Upload{ID: id, Repo: repo, StartedAt: now, UpdatedAt: now}); err != nil {
		return "", mapStore(err)
	}
	if err := s.blobs.StartUpload(ctx, id); err != nil {
		return "", mapBlob(err)
	}
	return id, nil
}

// ValidUploadID reports whether id has the shape StartUpload gives, so that
// no other string ever reaches a store as a name.
func ValidUploadID(id string) bool {
	if len(id) != 32 {
		return false
	}
	_, err := hex.DecodeString(id)
	return err == nil
}

func (s *Service) upload(ctx context.Context, repo store.Repo, id string) error {
	if !ValidUploadID(id) {
		return ErrUploadUnknown
	}
	u, err := s.meta.GetUpload(ctx, id)
	if err != nil {
		return mapStore(err)
	}
	if u.Repo != repo {
		return ErrUploadUnknown
	}
	return nil
}

// UploadSize returns how many bytes an upload holds.
func (s *Service) UploadSize(ctx context.Context, repo store.Repo, id string) (int64, error) {
	if err := s.upload(ctx, repo, id); err != nil {
		return 0, err
	}
	n, err := s.blobs.UploadSize(ctx, id)
	return n, mapBlob(err)
}

// AppendUpload adds r to an upload. A negative offset means "at the end"
// (a PATCH without Content-Range).
func (s *Service) AppendUpload(ctx context.Context, repo store.Repo, id string, offset int64, r io.Reader) (int64, error) {
	if err := s.upload(ctx, repo, id); err != nil {
		return 0, err
	}
	if offset < 0 {
		n, err := s.blobs.UploadSize(ctx, id)
		if err != nil {
			return 0, mapBlob(err)
		}
		offset = n
	}
	n, err := s.blobs.Append(ctx, id, offset, r)
	if err != nil {
		return n, mapBlob(err)
	}
	if err := s.meta.TouchUpload(ctx, id, time.Now()); err != nil {
		return n, mapStore(err)
	}
	return n, nil
}

// FinishUpload appends r (if not nil), verifies the upload against d and
// publishes it in repo.
func (s *Service) FinishUpload(ctx context.Context, repo store.Repo, id string, d oci.Digest, r io.Reader) (int64, error) {
	if err := s.upload(ctx, repo, id); err != nil {
		return 0, err
	}
	if r != nil {
		if _, err := s.AppendUpload(ctx, repo, id, -1, r); err != nil {
			return 0, err
		}
	}
	size, err := s.blobs.Verify(ctx, id, d)
	if err != nil {
		return 0, mapBlob(err)
	}
	if err := s.publish(ctx, repo, id, d, size); err != nil {
		return 0, err
	}
	if err := s.blobs.AbortUpload(ctx, id); err != nil && !errors.Is(err, blob.ErrUploadNotFound) {
		return 0, mapBlob(err)
	}
	if err := s.meta.DeleteUpload(ctx, id); err != nil && !errors.Is(err, store.ErrUploadUnknown) {
		return 0, mapStore(err)
	}
	return size, nil
}

// publish records a verified upload, puts its content in place and marks
// the record live, in that order (see package store). When a collector was
// deleting the same content, it waits for it to finish; when a collector
// took the record between the steps, it starts over, which is possible
// because the upload keeps its sealed data until the end.
func (s *Service) publish(ctx context.Context, repo store.Repo, id string, d oci.Digest, size int64) error {
	deadline := time.Now().Add(s.busyWait)
	for wait := 10 * time.Millisecond; ; wait = min(2*wait, time.Second) {
		err := s.meta.LinkBlob(ctx, repo, d, size)
		if err == nil {
			if err := s.blobs.Commit(ctx, id, d); err != nil {
				return mapBlob(err)
			}
			live, err := s.meta.PublishBlob(ctx, d)
			if err != nil || live {
				return mapStore(err)
			}
		} else if !errors.Is(err, store.ErrBlobBusy) {
			return mapStore(err)
		}
		if time.Now().After(deadline) {
			return ErrBusy
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
	}
}

// CancelUpload discards an upload.
func (s *Service) CancelUpload(ctx context.Context, repo store.Repo, id string) error {
	if err := s.upload(ctx, repo, id); err != nil {
		return err
	}
	if err := s.blobs.AbortUpload(ctx, id); err != nil && !errors.Is(err, blob.ErrUploadNotFound) {
		return err
	}
	return mapStore(s.meta.DeleteUpload(ctx, id))
}

// PutManifestResult is what the client learns about a stored manifest.
type PutManifestResult struct {
	Digest  oci.Digest
	Subject oci.Digest
}

// PutManifest validates and stores a manifest under ref (a tag or the
// digest of body), and points the extra tags (the tag query parameters of a
// push by digest) at it in the same transaction.
func (s *Service) PutManifest(ctx context.Context, repo store.Repo, ref oci.Reference, contentType string, body []byte, tags ...string) (PutManifestResult, error) {
	if len(body) > oci.MaxManifestSize {
		return PutManifestResult{}, ErrManifestTooLarge
	}
	for _, t := range tags {
		if err := oci.ValidateTag(t); err != nil {
			return PutManifestResult{}, fmt.Errorf("%w: %v", ErrTagInvalid, err)
		}
	}
	d := oci.FromBytes(oci.SHA256, body)
	if ref.Digest != "" {
		if got := oci.FromBytes(ref.Digest.Algorithm(), body); got != ref.Digest {
			return PutManifestResult{}, ErrDigestInvalid
		}
		d = ref.Digest
	}
	m, err := oci.ParseManifest(contentType, body)
	if err != nil {
		return PutManifestResult{}, fmt.Errorf("%w: %v", ErrManifestInvalid, err)
	}
	rec := store.Manifest{Digest: d, MediaType: m.MediaType, ArtifactType: m.ArtifactType, Content: body, Annotations: "{}"}
	if len(m.Annotations) > 0 {
		b, _ := json.Marshal(m.Annotations)
		rec.Annotations = string(b)
	}
	if m.Subject != nil {
		rec.Subject = m.Subject.Digest
	}
	for _, b := range m.Blobs {
		rec.Blobs = append(rec.Blobs, b.Digest)
	}
	for _, c := range m.Manifests {
		rec.Children = append(rec.Children, c.Digest)
	}
	if ref.Tag != "" {
		tags = append([]string{ref.Tag}, tags...)
	}
	err = s.meta.PutManifest(ctx, repo, rec, tags...)
	switch {
	case errors.Is(err, store.ErrBlobUnknown):
		return PutManifestResult{}, fmt.Errorf("%w: %v", ErrManifestBlobUnknown, err)
	case errors.Is(err, store.ErrManifestUnknown):
		return PutManifestResult{}, fmt.Errorf("%w: %v", ErrManifestBlobUnknown, err)
	case err != nil:
		return PutManifestResult{}, mapStore(err)
	}
	return PutManifestResult{Digest: d, Subject: rec.Subject}, nil
}

// GetManifest returns a manifest by tag or digest.
func (s *Service) GetManifest(ctx context.Context, repo store.Repo, ref oci.Reference) (store.Manifest, error) {
	m, err := s.meta.GetManifest(ctx, repo, ref)
	return m, mapStore(err)
}

// DeleteManifest deletes a tag, or a manifest and its tags by digest.
func (s *Service) DeleteManifest(ctx context.Context, repo store.Repo, ref oci.Reference) error {
	if ref.Tag != "" {
		return mapStore(s.meta.DeleteTag(ctx, repo, ref.Tag))
	}
	return mapStore(s.meta.DeleteManifest(ctx, repo, ref.Digest))
}

// Tags lists a repository's tags.
func (s *Service) Tags(ctx context.Context, repo store.Repo, last string, n int) ([]string, error) {
	tags, err := s.meta.ListTags(ctx, repo, last, n)
	if errors.Is(err, store.ErrNotFound) {
		return nil, ErrNameUnknown
	}
	return tags, err
}

// Catalog lists a registry's repositories.
func (s *Service) Catalog(ctx context.Context, registry, last string, n int) ([]string, error) {
	return s.meta.ListRepositories(ctx, registry, last, n)
}

// Referrers returns the image index of the manifests whose subject is d.
func (s *Service) Referrers(ctx context.Context, repo store.Repo, d oci.Digest, artifactType string) ([]byte, error) {
	refs, err := s.meta.Referrers(ctx, repo, d, artifactType)
	if err != nil {
		return nil, err
	}
	type descriptor struct {
		MediaType    string          `json:"mediaType"`
		ArtifactType string          `json:"artifactType,omitempty"`
		Digest       oci.Digest      `json:"digest"`
		Size         int64           `json:"size"`
		Annotations  json.RawMessage `json:"annotations,omitempty"`
	}
	index := struct {
		SchemaVersion int          `json:"schemaVersion"`
		MediaType     string       `json:"mediaType"`
		Manifests     []descriptor `json:"manifests"`
	}{SchemaVersion: 2, MediaType: oci.MediaTypeImageIndex, Manifests: []descriptor{}}
	for _, r := range refs {
		desc := descriptor{MediaType: r.MediaType, ArtifactType: r.ArtifactType, Digest: r.Digest, Size: r.Size}
		if r.Annotations != "" && r.Annotations != "{}" {
			desc.Annotations = json.RawMessage(r.Annotations)
		}
		index.Manifests = append(index.Manifests, desc)
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	err = enc.Encode(index)
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), err
}

func mapStore(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, store.ErrBlobUnknown):
		return ErrBlobUnknown
	case errors.Is(err, store.ErrManifestUnknown):
		return ErrManifestUnknown
	case errors.Is(err, store.ErrUploadUnknown):
		return ErrUploadUnknown
	case errors.Is(err, store.ErrBlobBusy):
		return ErrBusy
	case errors.Is(err, store.ErrInsufficientStorage):
		return ErrInsufficientStorage
	case errors.Is(err, store.ErrLocked):
		return ErrDisallowed
	}
	return err
}

func mapBlob(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, blob.ErrNotFound):
		return ErrBlobUnknown
	case errors.Is(err, blob.ErrUploadNotFound):
		return ErrUploadUnknown
	case errors.Is(err, blob.ErrRangeInvalid):
		return ErrRangeInvalid
	case errors.Is(err, blob.ErrDigestMismatch):
		return ErrDigestInvalid
	case errors.Is(err, blob.ErrInsufficientStorage):
		return ErrInsufficientStorage
	}
	return err
}
