-- agentd's state: market sessions (as buyer or provider), the money ledger
-- (provider earnings, buyer spends and refunds), stored files, measured
-- providers and the spending budget. The payment journal (proofs, ops) is
-- a separate database (migrations/pay).

-- One market session: a match, from either side.
CREATE TABLE sessions (
	id TEXT PRIMARY KEY,
	role TEXT NOT NULL CHECK (role IN ('buyer', 'provider')),
	resource TEXT NOT NULL,
	counterparty TEXT NOT NULL,
	match_id TEXT NOT NULL DEFAULT '',
	offer TEXT NOT NULL DEFAULT '',
	prices TEXT NOT NULL DEFAULT '[]',
	quantity INTEGER NOT NULL DEFAULT 0,
	duration INTEGER NOT NULL DEFAULT 0,
	amount_msat INTEGER NOT NULL DEFAULT 0,
	paid_msat INTEGER NOT NULL DEFAULT 0,
	delivered INTEGER NOT NULL DEFAULT 0,
	state TEXT NOT NULL DEFAULT 'open' CHECK (state IN ('open', 'done', 'failed')),
	receipt_id TEXT NOT NULL DEFAULT '',
	created_at INTEGER NOT NULL,
	updated_at INTEGER NOT NULL
);
CREATE INDEX sessions_counterparty ON sessions(counterparty, role, resource, state);

-- Money moved, in sats. kind: earn (provider received), change (provider
-- returned change), spend (buyer paid), refund (buyer got change back or
-- reclaimed an unredeemed token). fee: mint fees paid on the step.
CREATE TABLE ledger (
	id INTEGER PRIMARY KEY,
	session TEXT NOT NULL,
	kind TEXT NOT NULL CHECK (kind IN ('earn', 'change', 'spend', 'refund')),
	counterparty TEXT NOT NULL,
	resource TEXT NOT NULL,
	sats INTEGER NOT NULL CHECK (sats >= 0),
	fee INTEGER NOT NULL DEFAULT 0,
	op_id INTEGER NOT NULL DEFAULT 0,
	created_at INTEGER NOT NULL
);
CREATE INDEX ledger_session ON ledger(session);
CREATE INDEX ledger_kind ON ledger(kind, created_at);

-- Files this agent stored (keys are not here: they live in the SafeBox).
CREATE TABLE files (
	root TEXT PRIMARY KEY,
	name TEXT NOT NULL,
	size INTEGER NOT NULL,
	providers TEXT NOT NULL,
	created_at INTEGER NOT NULL
);

-- Providers as measured by this buyer.
CREATE TABLE providers (
	pubkey TEXT PRIMARY KEY,
	latency_ms INTEGER NOT NULL DEFAULT 0,
	ok INTEGER NOT NULL DEFAULT 0,
	failed INTEGER NOT NULL DEFAULT 0,
	updated_at INTEGER NOT NULL
);

-- Outgoing payments counted against the local budget, per UTC day.
-- state: reserved (payment in progress) or paid.
CREATE TABLE budget (
	id INTEGER PRIMARY KEY,
	day TEXT NOT NULL,
	counterparty TEXT NOT NULL,
	sats INTEGER NOT NULL,
	state TEXT NOT NULL CHECK (state IN ('reserved', 'paid'))
);
CREATE INDEX budget_day ON budget(day, counterparty);
