-- Signed events no relay could take when they were made (receipts,
-- attestations, SafeBox entries made on a LAN with no relay), published
-- in queue order once a relay answers, then deleted.
CREATE TABLE outbox (
	id TEXT PRIMARY KEY,
	kind INTEGER NOT NULL,
	queued_at INTEGER NOT NULL,
	event TEXT NOT NULL
);
