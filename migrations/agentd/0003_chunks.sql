-- Chunks a provider holds and until when they are paid for: the sweeper
-- deletes a chunk once its storage period (the buyer's match duration)
-- has passed.
CREATE TABLE chunks (
	cid TEXT PRIMARY KEY,
	owner TEXT NOT NULL,
	expires_at INTEGER NOT NULL
);
CREATE INDEX chunks_expires ON chunks(expires_at);
