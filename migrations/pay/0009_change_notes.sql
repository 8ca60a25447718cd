-- The change notes a provider owes its buyers (issue 14): a closed
-- session's refund token, P2PK-locked to the buyer, goes out as a change
-- note (kind 8466). The row is written in the transaction of the refund's
-- send op, so a refund journaled is a note owed whatever the process does;
-- the provider publishes it until a relay accepts it (published_at set).
-- The token itself is the send op's (journal data); a row whose op is no
-- longer 'sent' (the buyer redeemed it, or it failed or came back) is not
-- published.
CREATE TABLE change_notes (
	op_id INTEGER PRIMARY KEY,
	buyer TEXT NOT NULL,
	session TEXT NOT NULL,
	resource TEXT NOT NULL,
	sats INTEGER NOT NULL,
	created_at INTEGER NOT NULL,
	published_at INTEGER
);
CREATE INDEX change_notes_unpublished ON change_notes(published_at);
