-- OpenID Connect issuers of clusters' service account tokens that berth
-- knows, by their exact URL: the token service finds a cluster by the
-- issuer a token names. No foreign key to resources: the control plane
-- makes the issuer before the resource's record and removes it with the
-- resource.
CREATE TABLE cluster_issuers (
	issuer      TEXT PRIMARY KEY,
	resource_id TEXT NOT NULL,
	created_at  BIGINT NOT NULL
);
