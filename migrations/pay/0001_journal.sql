-- Payment journal of one wallet (an agent's or the relay's): every payment
-- step is written here before it is acted on, so a crash at any step resumes
-- to delivery or to refund.

-- Mint keysets seen, kept so DLEQ proofs can be checked while the mint is down.
CREATE TABLE keysets (
	id TEXT PRIMARY KEY,
	mint TEXT NOT NULL,
	unit TEXT NOT NULL,
	active INTEGER NOT NULL,
	input_fee_ppk INTEGER NOT NULL DEFAULT 0,
	keys TEXT NOT NULL,
	fetched_at INTEGER NOT NULL
);
CREATE INDEX keysets_mint ON keysets(mint);

-- Ecash proofs held by this wallet. state: unspent, reserved (an open
-- operation is spending them), spent.
CREATE TABLE proofs (
	secret TEXT PRIMARY KEY,
	y TEXT NOT NULL UNIQUE,
	mint TEXT NOT NULL,
	keyset_id TEXT NOT NULL,
	amount INTEGER NOT NULL CHECK (amount > 0),
	c TEXT NOT NULL,
	dleq TEXT NOT NULL DEFAULT '',
	state TEXT NOT NULL CHECK (state IN ('unspent', 'reserved', 'spent')),
	op_id INTEGER,
	created_at INTEGER NOT NULL
);
CREATE INDEX proofs_mint_state ON proofs(mint, state);

-- Operations: one row per payment step sequence. data holds what is needed to
-- finish or undo it (inputs, blinded outputs with their secrets, the token).
CREATE TABLE ops (
	id INTEGER PRIMARY KEY,
	kind TEXT NOT NULL,
	state TEXT NOT NULL,
	mint TEXT NOT NULL,
	amount INTEGER NOT NULL,
	counterparty TEXT NOT NULL DEFAULT '',
	data TEXT NOT NULL,
	error TEXT NOT NULL DEFAULT '',
	created_at INTEGER NOT NULL,
	updated_at INTEGER NOT NULL
);
CREATE INDEX ops_state ON ops(state);

-- Y = hash_to_curve(secret) of every incoming proof ever accepted, so a replayed
-- token is refused locally even when the mint cannot be reached.
CREATE TABLE seen_proofs (
	y TEXT PRIMARY KEY,
	op_id INTEGER NOT NULL
);

-- Budgets: spending authorizations signed by an owner key for this agent key.
CREATE TABLE budget_auths (
	id TEXT PRIMARY KEY,
	owner TEXT NOT NULL,
	agent TEXT NOT NULL,
	per_day INTEGER NOT NULL,
	per_counterparty INTEGER NOT NULL,
	expires_at INTEGER NOT NULL,
	event TEXT NOT NULL,
	revoked_at INTEGER
);
CREATE TABLE budget_spends (
	id INTEGER PRIMARY KEY,
	auth_id TEXT NOT NULL REFERENCES budget_auths(id),
	counterparty TEXT NOT NULL,
	amount INTEGER NOT NULL,
	day INTEGER NOT NULL,
	state TEXT NOT NULL CHECK (state IN ('reserved', 'spent', 'released')),
	created_at INTEGER NOT NULL
);
CREATE INDEX budget_spends_day ON budget_spends(auth_id, day);

-- Relay operator fees: prepaid balances per pubkey and the ledger of fees earned.
CREATE TABLE fee_balances (
	pubkey TEXT PRIMARY KEY,
	sats INTEGER NOT NULL CHECK (sats >= 0),
	updated_at INTEGER NOT NULL
);
CREATE TABLE fee_ledger (
	id INTEGER PRIMARY KEY,
	event_id TEXT NOT NULL,
	pubkey TEXT NOT NULL,
	kind INTEGER NOT NULL,
	reason TEXT NOT NULL,
	amount INTEGER NOT NULL,
	source TEXT NOT NULL,
	day TEXT NOT NULL,
	refunded INTEGER NOT NULL DEFAULT 0,
	created_at INTEGER NOT NULL,
	UNIQUE (event_id, reason)
);
CREATE INDEX fee_ledger_day ON fee_ledger(day);

-- Pay-as-you-go tabs a seller keeps per buyer: deposits in, debits per step,
-- the rest returned as change.
CREATE TABLE tabs (
	id TEXT PRIMARY KEY,
	counterparty TEXT NOT NULL,
	mint TEXT NOT NULL,
	deposited INTEGER NOT NULL DEFAULT 0,
	debited INTEGER NOT NULL DEFAULT 0,
	state TEXT NOT NULL CHECK (state IN ('open', 'closing', 'closed')),
	change_op INTEGER,
	created_at INTEGER NOT NULL,
	updated_at INTEGER NOT NULL
);
