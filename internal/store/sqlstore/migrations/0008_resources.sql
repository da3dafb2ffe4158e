-- The control plane: resource groups, resources and role assignments. Names
-- and ids keep the case they were created with; the *_key columns hold them
-- lower-cased, because the resource manager matches ids ignoring case.

CREATE TABLE resource_groups (
	subscription_id TEXT NOT NULL REFERENCES subscriptions (id),
	name_key        TEXT NOT NULL,
	name            TEXT NOT NULL,
	location        TEXT NOT NULL,
	tags            TEXT NOT NULL,
	created_at      BIGINT NOT NULL,
	PRIMARY KEY (subscription_id, name_key)
);

CREATE TABLE resources (
	id_key          TEXT PRIMARY KEY,
	id              TEXT NOT NULL,
	subscription_id TEXT NOT NULL,
	group_key       TEXT NOT NULL,
	type_key        TEXT NOT NULL,
	type            TEXT NOT NULL,
	name            TEXT NOT NULL,
	location        TEXT NOT NULL,
	tags            TEXT NOT NULL,
	sku             TEXT NOT NULL,
	properties      TEXT NOT NULL,
	identity        TEXT NOT NULL,
	created_at      BIGINT NOT NULL,
	updated_at      BIGINT NOT NULL,
	FOREIGN KEY (subscription_id, group_key) REFERENCES resource_groups (subscription_id, name_key) ON DELETE CASCADE
);
CREATE INDEX resources_group ON resources (subscription_id, group_key);
CREATE INDEX resources_type ON resources (subscription_id, type_key);

-- A check reads one principal's assignments (the principal index); listings
-- read by scope, in byte order (NAME) because "below a scope" is a range
-- scan. The same role for the same principal at the same scope is one
-- assignment, whatever its name.
CREATE TABLE role_assignments (
	id                 TEXT PRIMARY KEY,
	scope              TEXT NOT NULL,
	scope_key          NAME NOT NULL,
	role_definition_id TEXT NOT NULL,
	principal_id       TEXT NOT NULL,
	principal_type     TEXT NOT NULL,
	tenant_id          TEXT NOT NULL,
	created_by         TEXT NOT NULL,
	created_at         BIGINT NOT NULL,
	UNIQUE (scope_key, role_definition_id, principal_id)
);
CREATE INDEX role_assignments_principal ON role_assignments (principal_id);
