-- Certificate credentials of applications. Both thumbprints of the DER
-- (SHA-1 and SHA-256, base64url) are kept so that a client assertion's x5t
-- or x5t#S256 header finds its certificate by comparison alone.
CREATE TABLE key_credentials (
	key_id            TEXT PRIMARY KEY,
	app_object_id     TEXT NOT NULL REFERENCES applications (object_id) ON DELETE CASCADE,
	display_name      TEXT NOT NULL,
	key_type          TEXT NOT NULL,
	key_usage         TEXT NOT NULL,
	certificate       BYTES NOT NULL,
	thumbprint_sha1   TEXT NOT NULL,
	thumbprint_sha256 TEXT NOT NULL,
	start_at          BIGINT NOT NULL,
	end_at            BIGINT NOT NULL
);
CREATE INDEX key_credentials_app ON key_credentials (app_object_id);
