-- NIP-60 mirror of the wallet (agentd --nip60): the token events (kind
-- 7375) that hold the wallet's unspent proofs on the relays, and an outbox
-- of signed events still to publish. A mirror pass records its new token
-- events, the tokens it destroys and every event to publish in one
-- transaction, then publishes the outbox in order and deletes each row
-- once a relay took it: a crash re-publishes the same events (same ids).
CREATE TABLE nip60_tokens (
	event_id TEXT PRIMARY KEY,
	mint TEXT NOT NULL,
	amount INTEGER NOT NULL,
	secrets TEXT NOT NULL -- JSON array of the proofs' secrets
);
CREATE TABLE nip60_outbox (
	id INTEGER PRIMARY KEY,
	event TEXT NOT NULL -- signed event JSON
);
-- The mints the kind-17375 wallet event last published lists (JSON).
CREATE TABLE nip60_wallet (
	id INTEGER PRIMARY KEY CHECK (id = 1),
	mints TEXT NOT NULL
);
