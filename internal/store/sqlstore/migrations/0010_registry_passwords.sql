-- The admin user's passwords of a registry (two, named password and
-- password2, so that one can be renewed while the other is in use), kept
-- as salted hashes like every secret.
CREATE TABLE registry_passwords (
	registry   TEXT NOT NULL REFERENCES registries (name) ON DELETE CASCADE,
	name       TEXT NOT NULL,
	hint       TEXT NOT NULL,
	salt       BYTES NOT NULL,
	hash       BYTES NOT NULL,
	created_at BIGINT NOT NULL,
	PRIMARY KEY (registry, name)
);
