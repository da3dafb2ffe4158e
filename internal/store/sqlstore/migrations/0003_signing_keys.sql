-- Token signing keys. A key is published from created_at, signs from
-- signs_from (after clients have had time to fetch it), and is published
-- until retire_at (0: not retired), when its last token has expired.
CREATE TABLE signing_keys (
	id          TEXT PRIMARY KEY,
	certificate BYTES NOT NULL,
	private_key BYTES NOT NULL,
	created_at  BIGINT NOT NULL,
	signs_from  BIGINT NOT NULL,
	retire_at   BIGINT NOT NULL
);
