-- Federated identity credentials of applications. Audiences are a JSON
-- array: they are only ever read with their credential. Names are unique
-- per application in any letter case, as the directory API compares them.
CREATE TABLE federated_credentials (
	id            TEXT PRIMARY KEY,
	app_object_id TEXT NOT NULL REFERENCES applications (object_id) ON DELETE CASCADE,
	name          TEXT NOT NULL,
	issuer        TEXT NOT NULL,
	subject       TEXT NOT NULL,
	audiences     TEXT NOT NULL,
	description   TEXT NOT NULL
);
CREATE UNIQUE INDEX federated_credentials_name ON federated_credentials (app_object_id, LOWER(name));
