-- The changeable attributes of repositories, manifests and tags (what may
-- be written, deleted, listed and read), all allowed for what exists; and
-- the times the registry's metadata API shows: a tag's creation, a
-- manifest's last change.
ALTER TABLE repositories ADD COLUMN delete_enabled BOOLEAN NOT NULL DEFAULT TRUE;
ALTER TABLE repositories ADD COLUMN write_enabled BOOLEAN NOT NULL DEFAULT TRUE;
ALTER TABLE repositories ADD COLUMN list_enabled BOOLEAN NOT NULL DEFAULT TRUE;
ALTER TABLE repositories ADD COLUMN read_enabled BOOLEAN NOT NULL DEFAULT TRUE;
ALTER TABLE manifests ADD COLUMN delete_enabled BOOLEAN NOT NULL DEFAULT TRUE;
ALTER TABLE manifests ADD COLUMN write_enabled BOOLEAN NOT NULL DEFAULT TRUE;
ALTER TABLE manifests ADD COLUMN list_enabled BOOLEAN NOT NULL DEFAULT TRUE;
ALTER TABLE manifests ADD COLUMN read_enabled BOOLEAN NOT NULL DEFAULT TRUE;
ALTER TABLE manifests ADD COLUMN updated_at BIGINT NOT NULL DEFAULT 0;
UPDATE manifests SET updated_at = created_at;
ALTER TABLE tags ADD COLUMN delete_enabled BOOLEAN NOT NULL DEFAULT TRUE;
ALTER TABLE tags ADD COLUMN write_enabled BOOLEAN NOT NULL DEFAULT TRUE;
ALTER TABLE tags ADD COLUMN list_enabled BOOLEAN NOT NULL DEFAULT TRUE;
ALTER TABLE tags ADD COLUMN read_enabled BOOLEAN NOT NULL DEFAULT TRUE;
ALTER TABLE tags ADD COLUMN created_at BIGINT NOT NULL DEFAULT 0;
UPDATE tags SET created_at = updated_at;
-- Tags by the manifest they point at, for a manifest's tags and for
-- deleting it.
CREATE INDEX tags_digest ON tags (registry, repository, digest);
