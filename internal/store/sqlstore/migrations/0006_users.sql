-- Users of a tenant. upn_key is the user principal name lowercased, so that
-- uniqueness is case-insensitive the same way in both backends (graph
-- treats UPNs case-insensitively); user_principal_name keeps the spelling
-- the user was created with. password_hash is a self-describing PHC string
-- (see internal/password), so parameters can change without a migration.
CREATE TABLE users (
	object_id           TEXT PRIMARY KEY,
	tenant_id           TEXT NOT NULL REFERENCES tenants (id),
	user_principal_name TEXT NOT NULL,
	upn_key             TEXT NOT NULL,
	display_name        TEXT NOT NULL,
	password_hash       TEXT NOT NULL,
	created_at          BIGINT NOT NULL,
	UNIQUE (tenant_id, upn_key)
);
CREATE INDEX users_tenant ON users (tenant_id, display_name);
