-- Owners of an application: users or service principals of its tenant, by
-- object id, who may manage its credentials without a directory role. The
-- owner is not a foreign key because it may be either kind of principal.
CREATE TABLE application_owners (
	app_object_id   TEXT NOT NULL REFERENCES applications (object_id) ON DELETE CASCADE,
	owner_object_id TEXT NOT NULL,
	PRIMARY KEY (app_object_id, owner_object_id)
);
CREATE INDEX application_owners_owner ON application_owners (owner_object_id);
