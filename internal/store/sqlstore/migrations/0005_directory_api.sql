-- Redirect URIs are a JSON array: they are only ever read with their
-- application.
ALTER TABLE applications ADD COLUMN web_redirect_uris TEXT NOT NULL DEFAULT '[]';

CREATE INDEX applications_tenant ON applications (tenant_id, display_name);
CREATE INDEX service_principals_app ON service_principals (app_id);

-- Directory roles held by principals (service principals today), by role
-- template id.
CREATE TABLE directory_roles (
	tenant_id           TEXT NOT NULL REFERENCES tenants (id),
	principal_object_id TEXT NOT NULL,
	role                TEXT NOT NULL,
	PRIMARY KEY (tenant_id, principal_object_id, role)
);
