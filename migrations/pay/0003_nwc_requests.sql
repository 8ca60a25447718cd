-- NIP-47 requests a wallet service has taken, so a request the relay
-- delivers again (after a restart, or twice) is never executed twice; the
-- response is kept to be published again.
CREATE TABLE nwc_requests (
	event_id TEXT PRIMARY KEY,
	service TEXT NOT NULL,
	response TEXT NOT NULL DEFAULT '',
	created_at INTEGER NOT NULL
);
CREATE INDEX nwc_requests_created ON nwc_requests(created_at);
