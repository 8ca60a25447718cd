-- Payments a provider accepted while their mint could not be reached
-- (checked on their DLEQ proofs, swapped later): their earnings stay
-- unconfirmed until the wallet's swap, and one the mint then refuses (a
-- token spent elsewhere meanwhile) is written off by a 'lost' ledger line.
-- SQLite cannot change a CHECK constraint: the ledger is rebuilt.
CREATE TABLE ledger_new (
	id INTEGER PRIMARY KEY,
	session TEXT NOT NULL,
	kind TEXT NOT NULL CHECK (kind IN ('earn', 'change', 'spend', 'refund', 'lost')),
	counterparty TEXT NOT NULL,
	resource TEXT NOT NULL,
	sats INTEGER NOT NULL CHECK (sats >= 0),
	fee INTEGER NOT NULL DEFAULT 0,
	op_id INTEGER NOT NULL DEFAULT 0,
	created_at INTEGER NOT NULL
);
INSERT INTO ledger_new (id, session, kind, counterparty, resource, sats, fee, op_id, created_at)
	SELECT id, session, kind, counterparty, resource, sats, fee, op_id, created_at FROM ledger;
DROP TABLE ledger;
ALTER TABLE ledger_new RENAME TO ledger;
CREATE INDEX ledger_session ON ledger(session);
CREATE INDEX ledger_kind ON ledger(kind, created_at);
CREATE INDEX ledger_op ON ledger(op_id);

-- The receive ops (payment journal ids) of earnings accepted offline and
-- not yet confirmed by the mint.
CREATE TABLE offline_earnings (
	op_id INTEGER PRIMARY KEY,
	created_at INTEGER NOT NULL
);
