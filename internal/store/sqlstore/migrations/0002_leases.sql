-- Leases make one holder at a time of a server-wide job (garbage
-- collection) across every process on the same database.
CREATE TABLE leases (
	name       TEXT PRIMARY KEY,
	holder     TEXT NOT NULL,
	expires_at BIGINT NOT NULL
);
