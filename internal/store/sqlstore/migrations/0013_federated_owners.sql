-- Federated identity credentials belong to an application or to a
-- user-assigned managed identity (its service principal, which has no
-- application), so the owner is an object id of either table and no
-- longer a foreign key: the deletes of applications and service
-- principals remove their credentials themselves.
CREATE TABLE federated_identity_credentials (
	id              TEXT PRIMARY KEY,
	owner_object_id TEXT NOT NULL,
	name            TEXT NOT NULL,
	issuer          TEXT NOT NULL,
	subject         TEXT NOT NULL,
	audiences       TEXT NOT NULL,
	description     TEXT NOT NULL
);
INSERT INTO federated_identity_credentials (id, owner_object_id, name, issuer, subject, audiences, description)
	SELECT id, app_object_id, name, issuer, subject, audiences, description FROM federated_credentials;
DROP TABLE federated_credentials;
CREATE UNIQUE INDEX federated_identity_credentials_name ON federated_identity_credentials (owner_object_id, LOWER(name));
