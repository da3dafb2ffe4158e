package store

import (
	"context"
	"errors"
	"time"

	"github.com/berthhq/berth/internal/oci"
)

// Store is the metadata store. It is the union of small interfaces so that a
// component can ask for just the part it uses.
type Store interface {
	Directory
	Registries
	Content
	Artifacts
	Uploads
	Collector
	Settings
	Keys
	Resources
	ClusterIssuers
	RoleAssignments
	Events
	Ping(ctx context.Context) error
	Close() error
}

// Settings is a small key-value table for server-wide facts such as the
// bootstrap record.
type Settings interface {
	GetSetting(ctx context.Context, key string) (string, error)
	// PutSetting stores value under key, replacing what was there.
	PutSetting(ctx context.Context, key, value string) error
	// CreateSetting stores value under key if key has no value yet, and
	// returns ErrExists if it has: of replicas racing to make a value,
	// one wins and all read its value.
	CreateSetting(ctx context.Context, key, value string) error
}

// Tenant is a directory.
type Tenant struct {
	ID          string
	Domain      string
	DisplayName string
	CreatedAt   time.Time
}

// Subscription is a billing and authorization boundary inside a tenant.
type Subscription struct {
	ID          string
	TenantID    string
	DisplayName string
	CreatedAt   time.Time
}

// Application is an application registration in its home tenant.
type Application struct {
	ObjectID       string
	AppID          string
	TenantID       string
	DisplayName    string
	SignInAudience string
	// WebRedirectURIs are where sign-in and consent may send the browser
	// back to (nil: none).
	WebRedirectURIs []string
	CreatedAt       time.Time
}

// PasswordCredential is an application secret. Only a salted hash is kept;
// Hint is the first characters of the secret, shown to tell secrets apart.
type PasswordCredential struct {
	KeyID         string
	AppObjectID   string
	DisplayName   string
	Hint          string
	Salt          []byte
	Hash          []byte
	StartDateTime time.Time
	EndDateTime   time.Time
}

// Key credential type and usage: the only kind berth accepts, a certificate
// whose key verifies client assertions.
const (
	KeyTypeX509Cert = "AsymmetricX509Cert"
	KeyUsageVerify  = "Verify"
)

// KeyCredential is an application's certificate credential. Only the
// certificate is kept; the private key stays with the client.
type KeyCredential struct {
	KeyID       string
	AppObjectID string
	DisplayName string
	Type        string
	Usage       string
	Certificate []byte // DER
	// Thumbprint and ThumbprintSHA256 are the SHA-1 and SHA-256 of the
	// DER in base64url, for the x5t and x5t#S256 assertion headers.
	Thumbprint       string
	ThumbprintSHA256 string
	StartDateTime    time.Time
	EndDateTime      time.Time
}

// FederatedCredential lets a token from another issuer (a Kubernetes
// service account token, say) stand in for a secret when its issuer,
// subject and audience match. Its owner is an application, or a
// user-assigned managed identity, which has no application: the object id
// of the application, or of the identity's service principal.
type FederatedCredential struct {
	ID            string
	OwnerObjectID string
	Name          string
	Issuer        string
	Subject       string
	Audiences     []string
	Description   string
}

// ErrLimit means an owner already has as many federated credentials as
// it may.
var ErrLimit = errors.New("limit reached")

// Service principal types.
const (
	PrincipalApplication     = "Application"
	PrincipalManagedIdentity = "ManagedIdentity"
)

// ServicePrincipal is an application's (or managed identity's) presence in a
// tenant.
type ServicePrincipal struct {
	ObjectID         string
	TenantID         string
	AppID            string
	AppOwnerTenantID string
	Type             string
	DisplayName      string
	CreatedAt        time.Time
}

// Directory holds tenants and the identities in them.
type Directory interface {
	CreateTenant(ctx context.Context, t Tenant) error
	GetTenant(ctx context.Context, id string) (Tenant, error)
	// GetTenantByDomain finds a tenant by its domain name,
	// case-insensitively.
	GetTenantByDomain(ctx context.Context, domain string) (Tenant, error)
	CreateSubscription(ctx context.Context, s Subscription) error
	GetSubscription(ctx context.Context, id string) (Subscription, error)
	CreateApplication(ctx context.Context, a Application) error
	GetApplicationByAppID(ctx context.Context, appID string) (Application, error)
	AddPasswordCredential(ctx context.Context, c PasswordCredential) error
	ListPasswordCredentials(ctx context.Context, appObjectID string) ([]PasswordCredential, error)
	// AddKeyCredential adds a certificate credential; ErrNotFound if the
	// application does not exist.
	AddKeyCredential(ctx context.Context, c KeyCredential) error
	ListKeyCredentials(ctx context.Context, appObjectID string) ([]KeyCredential, error)
	// ReplaceKeyCredentials makes an application's certificate credentials
	// those of keep (key ids of its present ones) and add, in one
	// transaction: ErrNotFound, and nothing changed, if the application
	// does not exist or keep names a key it does not have; ErrExists if an
	// added key id is taken.
	ReplaceKeyCredentials(ctx context.Context, appObjectID string, keep []string, add []KeyCredential) error
	CreateServicePrincipal(ctx context.Context, sp ServicePrincipal) error
	GetServicePrincipalByAppID(ctx context.Context, tenantID, appID string) (ServicePrincipal, error)

	// GetApplication finds an application by its object id.
	GetApplication(ctx context.Context, objectID string) (Application, error)
	// UpdateApplication sets an application's display name and redirect
	// URIs; ErrNotFound if it does not exist.
	UpdateApplication(ctx context.Context, a Application) error
	// ListApplications lists a tenant's applications by display name.
	ListApplications(ctx context.Context, tenantID string) ([]Application, error)
	// DeleteApplication removes an application with its credentials, its
	// owners, and its service principals (with their directory roles and
	// ownerships) in every tenant; ErrNotFound if it does not exist.
	DeleteApplication(ctx context.Context, objectID string) error
	// RemovePasswordCredential removes one secret; ErrNotFound if the
	// application has no such secret.
	RemovePasswordCredential(ctx context.Context, appObjectID, keyID string) error
	GetServicePrincipal(ctx context.Context, objectID string) (ServicePrincipal, error)
	// DeleteServicePrincipal removes a principal with its directory
	// roles, ownerships and role assignments; ErrNotFound if it does not
	// exist, ErrLastAdministrator if it is the last Global Administrator
	// of its tenant that can act.
	DeleteServicePrincipal(ctx context.Context, objectID string) error
	// ListServicePrincipals lists a tenant's service principals by display
	// name.
	ListServicePrincipals(ctx context.Context, tenantID string) ([]ServicePrincipal, error)
	// AddDirectoryRole gives a principal a directory role (a role template
	// id) in a tenant; adding it twice is not an error.
	AddDirectoryRole(ctx context.Context, tenantID, principalObjectID, role string) error
	HasDirectoryRole(ctx context.Context, tenantID, principalObjectID, role string) (bool, error)
	// AddApplicationOwner makes a principal (user or service principal,
	// by object id) an owner of an application; adding it twice is not an
	// error, and ErrNotFound if the application does not exist.
	AddApplicationOwner(ctx context.Context, appObjectID, ownerObjectID string) error
	// ListApplicationOwners lists the object ids of an application's
	// owners, in id order.
	ListApplicationOwners(ctx context.Context, appObjectID string) ([]string, error)
	IsApplicationOwner(ctx context.Context, appObjectID, principalObjectID string) (bool, error)

	// CreateFederatedCredential adds a federated identity credential to an
	// owner that has fewer than limit: ErrNotFound if the owner is neither
	// an application nor a managed identity's service principal,
	// ErrExists if it has one of the same name in any letter case,
	// ErrLimit if it has limit already. Deleting the application or the
	// service principal deletes its federated credentials.
	CreateFederatedCredential(ctx context.Context, c FederatedCredential, limit int) error
	// ListFederatedCredentials lists an owner's federated identity
	// credentials by name.
	ListFederatedCredentials(ctx context.Context, ownerObjectID string) ([]FederatedCredential, error)
	// UpdateFederatedCredential sets the issuer, subject, audiences and
	// description of the credential with c's id and owner (its name
	// stays); ErrNotFound if there is none.
	UpdateFederatedCredential(ctx context.Context, c FederatedCredential) error
	// DeleteFederatedCredential removes one; ErrNotFound if the owner has
	// no credential with that id.
	DeleteFederatedCredential(ctx context.Context, ownerObjectID, id string) error

	// CreateUser adds a user; ErrExists if the tenant has a user with the
	// same user principal name in any letter case, ErrNotFound if the
	// tenant does not exist.
	CreateUser(ctx context.Context, u User) error
	// GetUser finds a user by object id.
	GetUser(ctx context.Context, objectID string) (User, error)
	// GetUserByUPN finds a tenant's user by user principal name,
	// case-insensitively.
	GetUserByUPN(ctx context.Context, tenantID, upn string) (User, error)
	// ListUsers lists a tenant's users by display name.
	ListUsers(ctx context.Context, tenantID string) ([]User, error)
	// UpdateUser changes the fields of a user that up sets, together;
	// ErrNotFound if the user does not exist, ErrLastAdministrator (and
	// nothing changed) if it would disable the last Global Administrator
	// of the user's tenant that can act.
	UpdateUser(ctx context.Context, objectID string, up UserUpdate) error
	// DeleteUser removes a user with its directory roles, role
	// assignments and application ownerships; ErrNotFound if it does not
	// exist, ErrLastAdministrator (and nothing changed) if it is the last
	// Global Administrator of its tenant that can act.
	DeleteUser(ctx context.Context, objectID string) error
	// RemoveDirectoryRole takes a directory role from a principal;
	// ErrNotFound if it does not hold it, ErrLastAdministrator (and
	// nothing changed) if it is the last Global Administrator of the
	// tenant that can act.
	RemoveDirectoryRole(ctx context.Context, tenantID, principalObjectID, role string) error
}

// ErrLastAdministrator means a change would leave a tenant that has a
// Global Administrator able to act (a service principal, or an enabled
// user) with none, and so with nobody who can give the role again.
var ErrLastAdministrator = errors.New("the tenant's last Global Administrator")

// UserUpdate is a change to a user: the fields that are not nil are set,
// and with RevokeSessions the user's SessionEpoch moves on.
type UserUpdate struct {
	DisplayName         *string
	PasswordHash        *string
	Disabled            *bool
	ForceChangePassword *bool
	RevokeSessions      bool
}

// User is a person in a tenant who signs in with a password.
type User struct {
	ObjectID          string
	TenantID          string
	UserPrincipalName string
	DisplayName       string
	// PasswordHash is the password's encoded hash (internal/password),
	// never the password.
	PasswordHash string
	// Disabled users may not sign in (the graph's accountEnabled false);
	// the zero value is an enabled account.
	Disabled bool
	// ForceChangePassword means the user must choose a new password at
	// their next sign-in before anything else.
	ForceChangePassword bool
	// SessionEpoch changes when the user's sign-in sessions are revoked;
	// a session made in another epoch is over.
	SessionEpoch int64
	CreatedAt    time.Time
}

// Directory role template ids, the cloud's, so that clients which name
// roles by id work unchanged.
const (
	RoleGlobalAdministrator      = "62e90394-69f5-4237-9190-012177145e10"
	RoleApplicationAdministrator = "9b895d92-2cd3-44c7-9d02-a6ac2d5ea5c3"
	RoleUserAdministrator        = "fe930be7-5e62-47db-91af-98c3a49a38b1"
)

// Registry is a registry resource: a namespace of repositories served at its
// own login server.
type Registry struct {
	Name       string
	TenantID   string
	ResourceID string
	CreatedAt  time.Time
}

// Registries holds registry records.
type Registries interface {
	CreateRegistry(ctx context.Context, r Registry) error
	GetRegistry(ctx context.Context, name string) (Registry, error)
	// DeleteRegistry forgets a registry and everything in it: repositories,
	// manifests, tags and blob links. Blob content left unreferenced is
	// garbage collection's to reclaim.
	DeleteRegistry(ctx context.Context, name string) error
	// PutRegistryPassword sets (or replaces) one of the admin user's
	// passwords; ErrNotFound if the registry does not exist.
	PutRegistryPassword(ctx context.Context, p RegistryPassword) error
	ListRegistryPasswords(ctx context.Context, registry string) ([]RegistryPassword, error)
}

// RegistryPassword is one of a registry admin user's passwords: only its
// salted hash and a hint are kept.
type RegistryPassword struct {
	Registry  string
	Name      string
	Hint      string
	Salt      []byte
	Hash      []byte
	CreatedAt time.Time
}

// Repo names a repository inside a registry.
type Repo struct {
	Registry string
	Name     string
}

// Manifest is a stored manifest with what it references.
type Manifest struct {
	Digest       oci.Digest
	MediaType    string
	ArtifactType string
	Content      []byte
	Subject      oci.Digest
	// Annotations are kept as the JSON object the manifest carried, for the
	// referrers API.
	Annotations string
	// Blobs and Children are what the manifest references; they are
	// written with it and read back only by fsck.
	Blobs    []oci.Digest
	Children []oci.Digest
}

// Referrer is a manifest whose subject is another manifest.
type Referrer struct {
	Digest       oci.Digest
	MediaType    string
	ArtifactType string
	Size         int64
	Annotations  string
}

// Content holds repositories, blob records, manifests and tags.
type Content interface {
	// LinkBlob records that verified content d of the given size is about
	// to be published and belongs to repo, creating the repository if
	// needed. A new record is pending until PublishBlob; an existing one is
	// touched. ErrBlobBusy if GC is deleting it.
	LinkBlob(ctx context.Context, repo Repo, d oci.Digest, size int64) error
	// PublishBlob marks a pending record live once its content is in the
	// blob store. It reports whether the record is live afterwards: false
	// means GC took it in between, and the caller links it again.
	PublishBlob(ctx context.Context, d oci.Digest) (bool, error)
	// StatBlob returns the size of d if it is linked to repo and live.
	StatBlob(ctx context.Context, repo Repo, d oci.Digest) (int64, error)
	// MountBlob links live d from repository from into repo (same
	// registry).
	MountBlob(ctx context.Context, from, repo Repo, d oci.Digest) (int64, error)
	// UnlinkBlob removes d from repo; the content stays until GC.
	UnlinkBlob(ctx context.Context, repo Repo, d oci.Digest) error

	// PutManifest stores m in repo and points each of tags at it. Every
	// blob m names must be linked to repo and live (they are touched),
	// every child must be a manifest in repo; otherwise ErrBlobUnknown or
	// ErrManifestUnknown and nothing changes. ErrLocked if the repository
	// refuses writes or a tag that refuses them would move.
	PutManifest(ctx context.Context, repo Repo, m Manifest, tags ...string) error
	// GetManifest returns a manifest by tag or digest; ErrLocked if the
	// tag, the manifest or the repository refuses reads.
	GetManifest(ctx context.Context, repo Repo, ref oci.Reference) (Manifest, error)
	// DeleteManifest removes a manifest and every tag pointing at it;
	// ErrLocked if the repository, the manifest or one of those tags
	// refuses deleting (see Attributes).
	DeleteManifest(ctx context.Context, repo Repo, d oci.Digest) error
	// DeleteTag removes a tag, leaving the manifest; ErrLocked if the tag
	// or the repository refuses deleting.
	DeleteTag(ctx context.Context, repo Repo, tag string) error
	// ListTags lists tags in lexical order after last, at most n (n <= 0:
	// all). ErrNotFound if the repository does not exist.
	ListTags(ctx context.Context, repo Repo, last string, n int) ([]string, error)
	// ListRepositories lists a registry's repositories in lexical order.
	ListRepositories(ctx context.Context, registry, last string, n int) ([]string, error)
	// Referrers lists manifests in repo whose subject is d, optionally only
	// those of one artifact type.
	Referrers(ctx context.Context, repo Repo, d oci.Digest, artifactType string) ([]Referrer, error)
}

// Upload is an upload session. Its data lives in the blob store under the
// same id.
type Upload struct {
	ID        string
	Repo      Repo
	StartedAt time.Time
	UpdatedAt time.Time
}

// Uploads holds upload sessions, so that any replica can continue one.
type Uploads interface {
	CreateUpload(ctx context.Context, u Upload) error
	GetUpload(ctx context.Context, id string) (Upload, error)
	TouchUpload(ctx context.Context, id string, at time.Time) error
	DeleteUpload(ctx context.Context, id string) error
}

// BlobState is where a blob record stands.
type BlobState int

const (
	// BlobLive content is published and may be referenced.
	BlobLive BlobState = iota
	// BlobDeleting is marked by GC; its content is going away.
	BlobDeleting
	// BlobPending is recorded by an upload that has not published its
	// content yet (or crashed before it did).
	BlobPending
)

// BlobRecord is a blob's metadata row.
type BlobRecord struct {
	Digest    oci.Digest
	Size      int64
	State     BlobState
	TouchedAt time.Time
}

// Collector is what garbage collection and fsck need.
type Collector interface {
	// AcquireLease takes or renews the named lease for holder until ttl
	// from now; false if another holder has it and it has not expired.
	AcquireLease(ctx context.Context, name, holder string, ttl time.Duration) (bool, error)
	// ReleaseLease gives the lease up if holder has it.
	ReleaseLease(ctx context.Context, name, holder string) error
	// UnreferencedBlobs lists live or pending blobs that no manifest
	// references and that were last touched before cutoff, at most limit.
	UnreferencedBlobs(ctx context.Context, cutoff time.Time, limit int) ([]oci.Digest, error)
	// MarkBlobDeleting marks d for deletion if it is still live or pending,
	// unreferenced and untouched since cutoff; false if it no longer is.
	MarkBlobDeleting(ctx context.Context, d oci.Digest, cutoff time.Time) (bool, error)
	// DeletingBlobs lists blobs marked for deletion (left by a collector
	// that stopped half-way).
	DeletingBlobs(ctx context.Context) ([]oci.Digest, error)
	// ForgetBlob removes the record of a blob marked for deletion.
	ForgetBlob(ctx context.Context, d oci.Digest) error
	// StaleUploads lists upload sessions not updated since cutoff.
	StaleUploads(ctx context.Context, cutoff time.Time) ([]string, error)
	// ListBlobs lists blob records in digest order after `after`.
	ListBlobs(ctx context.Context, after oci.Digest, limit int) ([]BlobRecord, error)
	// ListManifests lists every manifest in digest order after the
	// (repo, digest) cursor, with its references.
	ListManifests(ctx context.Context, after ManifestCursor, limit int) ([]RepoManifest, error)
}

// ManifestCursor is a position in ListManifests.
type ManifestCursor struct {
	Repo   Repo
	Digest oci.Digest
}

// RepoManifest is a manifest with the repository it is in.
type RepoManifest struct {
	Repo Repo
	Manifest
}

// SigningKey is a token signing key with its self-signed certificate (the
// x5c of the published key). It is published from CreatedAt, signs from
// SignsFrom, and stays published until RetireAt (zero: not retired).
type SigningKey struct {
	ID          string
	Certificate []byte // DER
	PrivateKey  []byte // PKCS #8 DER
	CreatedAt   time.Time
	SignsFrom   time.Time
	RetireAt    time.Time
}

// Keys holds the token service's signing keys.
type Keys interface {
	CreateSigningKey(ctx context.Context, k SigningKey) error
	ListSigningKeys(ctx context.Context) ([]SigningKey, error)
	// RetireSigningKey sets when a key stops being published.
	RetireSigningKey(ctx context.Context, id string, at time.Time) error
}

// Tables names a group of tables whose reads are cached together
// (package store/cache).
type Tables int

// The groups of tables that caches follow.
const (
	// DirectoryTables are tenants, applications, their secrets, service
	// principals, users and directory roles: what the token service reads
	// for every token, and who may change them.
	DirectoryTables Tables = iota
	// RoleAssignmentTables are the role assignments.
	RoleAssignmentTables
	// RegistryTables are registries and resources (a registry's settings
	// are its resource's).
	RegistryTables
	// ManifestTables are manifests and tags.
	ManifestTables
	numTables
)

// NumTables is how many groups of tables there are.
const NumTables = int(numTables)

// Versions is implemented by stores that can say when tables last
// changed: Version moves after every write to t, so a value read at one
// version is current while the version is (within the store's stated
// bound for writes by other processes on the same database). ok is false
// when the store cannot vouch for that at the moment, and then nothing
// read from it may be kept by version.
type Versions interface {
	Version(t Tables) (v uint64, ok bool)
}
