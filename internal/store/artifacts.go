package store

import (
	"context"
	"errors"
	"time"

	"github.com/berthhq/berth/internal/oci"
)

// ErrLocked means a repository's, manifest's or tag's attributes refuse a
// write, a delete or a read (the cloud's "locked image"); nothing changed.
var ErrLocked = errors.New("locked")

// Attributes say what may be done with a repository, a manifest or a tag,
// as the cloud's changeable attributes do. New ones allow everything.
//
// The store enforces three of them: WriteEnabled false refuses moving a
// tag, and pushing into a repository; WriteEnabled or DeleteEnabled false
// refuses deleting the thing, and anything whose deletion would take it
// along (a manifest and its tags, a repository and its content);
// ReadEnabled false refuses GetManifest of the manifest, by the tag, or
// of anything in the repository (the cloud's lock against pulls). The
// metadata reads (GetTagInfo, GetManifestInfo...) still answer, so that
// the attributes can be seen and changed back. ListEnabled is the
// surfaces' to apply.
type Attributes struct {
	DeleteEnabled bool
	WriteEnabled  bool
	ListEnabled   bool
	ReadEnabled   bool
}

// Locked reports whether the attributes refuse deleting.
func (a Attributes) Locked() bool { return !a.DeleteEnabled || !a.WriteEnabled }

// AllEnabled are a new repository's, manifest's or tag's attributes.
var AllEnabled = Attributes{DeleteEnabled: true, WriteEnabled: true, ListEnabled: true, ReadEnabled: true}

// AttributesUpdate sets the attributes that are not nil.
type AttributesUpdate struct {
	DeleteEnabled *bool
	WriteEnabled  *bool
	ListEnabled   *bool
	ReadEnabled   *bool
}

// RepositoryInfo is a repository with its counts and attributes.
// UpdatedAt is the last time a manifest or tag in it changed.
type RepositoryInfo struct {
	Repo
	CreatedAt     time.Time
	UpdatedAt     time.Time
	ManifestCount int
	TagCount      int
	Attributes
}

// TagInfo is a tag with the manifest it points at.
type TagInfo struct {
	Name      string
	Digest    oci.Digest
	CreatedAt time.Time
	UpdatedAt time.Time
	Attributes
}

// ManifestInfo is a manifest's metadata. Size is the manifest's own and
// the blobs' it references.
type ManifestInfo struct {
	Digest    oci.Digest
	MediaType string
	Size      int64
	CreatedAt time.Time
	UpdatedAt time.Time
	Tags      []string
	Attributes
}

// Order is how tags and manifests are listed.
type Order int

const (
	// ByName lists tags by name, manifests by digest.
	ByName Order = iota
	// ByTimeAsc lists by last update, oldest first.
	ByTimeAsc
	// ByTimeDesc lists by last update, newest first.
	ByTimeDesc
)

// ArtifactQuery pages through tags or manifests: at most N (N <= 0: all)
// after the one named Last (a tag's name or a manifest's digest) in
// Order. Digest, for tags, keeps only those pointing at that manifest.
type ArtifactQuery struct {
	Last   string
	N      int
	Order  Order
	Digest oci.Digest
}

// DeletedRepository is what deleting a repository took along.
type DeletedRepository struct {
	Manifests []oci.Digest
	Tags      []string
}

// Artifacts is the registry's metadata API: repositories, tags and
// manifests with their attributes.
type Artifacts interface {
	// GetRepositoryInfo: ErrNotFound if the repository does not exist.
	GetRepositoryInfo(ctx context.Context, repo Repo) (RepositoryInfo, error)
	// ListTagInfo lists a repository's tags; ErrNotFound if the
	// repository does not exist.
	ListTagInfo(ctx context.Context, repo Repo, q ArtifactQuery) ([]TagInfo, error)
	// GetTagInfo: ErrManifestUnknown if there is no such tag.
	GetTagInfo(ctx context.Context, repo Repo, tag string) (TagInfo, error)
	// ListManifestInfo lists a repository's manifests; ErrNotFound if
	// the repository does not exist.
	ListManifestInfo(ctx context.Context, repo Repo, q ArtifactQuery) ([]ManifestInfo, error)
	// GetManifestInfo: ErrManifestUnknown if there is no such manifest.
	GetManifestInfo(ctx context.Context, repo Repo, d oci.Digest) (ManifestInfo, error)
	// UpdateRepositoryAttributes: ErrNotFound if the repository does not
	// exist.
	UpdateRepositoryAttributes(ctx context.Context, repo Repo, up AttributesUpdate) error
	// UpdateTagAttributes: ErrManifestUnknown if there is no such tag.
	UpdateTagAttributes(ctx context.Context, repo Repo, tag string, up AttributesUpdate) error
	// UpdateManifestAttributes: ErrManifestUnknown if there is no such
	// manifest.
	UpdateManifestAttributes(ctx context.Context, repo Repo, d oci.Digest, up AttributesUpdate) error
	// DeleteRepository removes a repository with its manifests, tags and
	// blob links, and says which manifests and tags went: ErrNotFound if
	// it does not exist, ErrLocked (and nothing changed) if it or
	// anything in it refuses deleting.
	DeleteRepository(ctx context.Context, repo Repo) (DeletedRepository, error)
}
