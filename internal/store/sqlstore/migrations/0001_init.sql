-- Written once for both dialects: BYTES, NAME and the like are replaced per
-- dialect when the migration runs (see dialect.go). Times are Unix
-- nanoseconds, so both backends compare them the same way.

CREATE TABLE settings (
	key   TEXT PRIMARY KEY,
	value TEXT NOT NULL
);

CREATE TABLE tenants (
	id           TEXT PRIMARY KEY,
	domain       TEXT NOT NULL UNIQUE,
	display_name TEXT NOT NULL,
	created_at   BIGINT NOT NULL
);

CREATE TABLE subscriptions (
	id           TEXT PRIMARY KEY,
	tenant_id    TEXT NOT NULL REFERENCES tenants (id),
	display_name TEXT NOT NULL,
	created_at   BIGINT NOT NULL
);

CREATE TABLE applications (
	object_id        TEXT PRIMARY KEY,
	app_id           TEXT NOT NULL UNIQUE,
	tenant_id        TEXT NOT NULL REFERENCES tenants (id),
	display_name     TEXT NOT NULL,
	sign_in_audience TEXT NOT NULL,
	created_at       BIGINT NOT NULL
);

CREATE TABLE password_credentials (
	key_id        TEXT PRIMARY KEY,
	app_object_id TEXT NOT NULL REFERENCES applications (object_id) ON DELETE CASCADE,
	display_name  TEXT NOT NULL,
	hint          TEXT NOT NULL,
	salt          BYTES NOT NULL,
	hash          BYTES NOT NULL,
	start_at      BIGINT NOT NULL,
	end_at        BIGINT NOT NULL
);
CREATE INDEX password_credentials_app ON password_credentials (app_object_id);

CREATE TABLE service_principals (
	object_id           TEXT PRIMARY KEY,
	tenant_id           TEXT NOT NULL REFERENCES tenants (id),
	app_id              TEXT NOT NULL,
	app_owner_tenant_id TEXT NOT NULL,
	type                TEXT NOT NULL,
	display_name        TEXT NOT NULL,
	created_at          BIGINT NOT NULL,
	UNIQUE (tenant_id, app_id)
);

CREATE TABLE registries (
	name        TEXT PRIMARY KEY,
	tenant_id   TEXT NOT NULL REFERENCES tenants (id),
	resource_id TEXT NOT NULL,
	created_at  BIGINT NOT NULL
);

CREATE TABLE repositories (
	registry   TEXT NOT NULL REFERENCES registries (name) ON DELETE CASCADE,
	name       NAME NOT NULL,
	created_at BIGINT NOT NULL,
	PRIMARY KEY (registry, name)
);

-- One row per distinct content. state 0 is live, 1 is being deleted by GC.
CREATE TABLE blobs (
	digest     TEXT PRIMARY KEY,
	size       BIGINT NOT NULL,
	state      INTEGER NOT NULL,
	touched_at BIGINT NOT NULL
);
CREATE INDEX blobs_state_touched ON blobs (state, touched_at);

CREATE TABLE repository_blobs (
	registry   TEXT NOT NULL,
	repository NAME NOT NULL,
	digest     TEXT NOT NULL REFERENCES blobs (digest) ON DELETE CASCADE,
	linked_at  BIGINT NOT NULL,
	PRIMARY KEY (registry, repository, digest),
	FOREIGN KEY (registry, repository) REFERENCES repositories (registry, name) ON DELETE CASCADE
);
CREATE INDEX repository_blobs_digest ON repository_blobs (digest);

CREATE TABLE manifests (
	registry      TEXT NOT NULL,
	repository    NAME NOT NULL,
	digest        TEXT NOT NULL,
	media_type    TEXT NOT NULL,
	artifact_type TEXT NOT NULL,
	subject       TEXT,
	annotations   TEXT NOT NULL,
	content       BYTES NOT NULL,
	created_at    BIGINT NOT NULL,
	PRIMARY KEY (registry, repository, digest),
	FOREIGN KEY (registry, repository) REFERENCES repositories (registry, name) ON DELETE CASCADE
);
CREATE INDEX manifests_subject ON manifests (registry, repository, subject) WHERE subject IS NOT NULL;

CREATE TABLE manifest_blobs (
	registry   TEXT NOT NULL,
	repository NAME NOT NULL,
	manifest   TEXT NOT NULL,
	digest     TEXT NOT NULL,
	PRIMARY KEY (registry, repository, manifest, digest),
	FOREIGN KEY (registry, repository, manifest) REFERENCES manifests (registry, repository, digest) ON DELETE CASCADE
);
CREATE INDEX manifest_blobs_digest ON manifest_blobs (digest);

CREATE TABLE manifest_children (
	registry   TEXT NOT NULL,
	repository NAME NOT NULL,
	manifest   TEXT NOT NULL,
	child      TEXT NOT NULL,
	PRIMARY KEY (registry, repository, manifest, child),
	FOREIGN KEY (registry, repository, manifest) REFERENCES manifests (registry, repository, digest) ON DELETE CASCADE
);

CREATE TABLE tags (
	registry   TEXT NOT NULL,
	repository NAME NOT NULL,
	name       NAME NOT NULL,
	digest     TEXT NOT NULL,
	updated_at BIGINT NOT NULL,
	PRIMARY KEY (registry, repository, name),
	FOREIGN KEY (registry, repository, digest) REFERENCES manifests (registry, repository, digest) ON DELETE CASCADE
);

CREATE TABLE uploads (
	id         TEXT PRIMARY KEY,
	registry   TEXT NOT NULL,
	repository NAME NOT NULL,
	started_at BIGINT NOT NULL,
	updated_at BIGINT NOT NULL
);
CREATE INDEX uploads_updated ON uploads (updated_at);
