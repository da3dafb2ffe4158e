-- The audit trail. Listings read one tenant's (and subscription's) events
-- in a time window, newest first; retention deletes by time. target_key
-- and group_key are lower-cased for matching ignoring case, target_key in
-- byte order (NAME) because "at or below a resource" is a range scan.
CREATE TABLE events (
	id              TEXT PRIMARY KEY,
	at              BIGINT NOT NULL,
	tenant_id       TEXT NOT NULL,
	subscription_id TEXT NOT NULL,
	resource_group  TEXT NOT NULL,
	group_key       TEXT NOT NULL,
	caller_id       TEXT NOT NULL,
	caller_kind     TEXT NOT NULL,
	client_ip       TEXT NOT NULL,
	correlation_id  TEXT NOT NULL,
	operation       TEXT NOT NULL,
	target          TEXT NOT NULL,
	target_key      NAME NOT NULL,
	status          TEXT NOT NULL,
	description     TEXT NOT NULL
);
CREATE INDEX events_window ON events (tenant_id, subscription_id, at);
CREATE INDEX events_at ON events (at);
