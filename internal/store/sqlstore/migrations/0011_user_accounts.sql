-- A user's account can be disabled, and can require a new password at the
-- next sign-in; the users that exist already stay enabled. session_epoch
-- counts the revocations of the user's sign-in sessions.
ALTER TABLE users ADD COLUMN disabled BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE users ADD COLUMN force_change_password BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE users ADD COLUMN session_epoch BIGINT NOT NULL DEFAULT 0;
-- Who holds a role in a tenant, for the check that a tenant keeps a Global
-- Administrator.
CREATE INDEX directory_roles_role ON directory_roles (tenant_id, role);
