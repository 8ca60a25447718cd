-- NUT-18 payment requests this wallet issued (payee side), so a payment can
-- be matched to its request and a single-use request paid only once.
CREATE TABLE payment_requests (
	id TEXT PRIMARY KEY,
	amount INTEGER NOT NULL,
	unit TEXT NOT NULL,
	single_use INTEGER NOT NULL,
	lock_pubkey TEXT NOT NULL DEFAULT '',
	encoded TEXT NOT NULL,
	created_at INTEGER NOT NULL
);

-- Receipts of a request: which receive op paid it (written with the op).
CREATE TABLE payment_request_receipts (
	op_id INTEGER PRIMARY KEY,
	request_id TEXT NOT NULL REFERENCES payment_requests(id)
);
CREATE INDEX payment_request_receipts_request ON payment_request_receipts(request_id);

-- Tab deposits: the receive op of each deposit, written in the same
-- transaction as the op, so a deposit counts once the op is done however the
-- process stopped. A tab's deposited sum is derived from these ops.
CREATE TABLE tab_deposits (
	op_id INTEGER PRIMARY KEY,
	tab_id TEXT NOT NULL REFERENCES tabs(id)
);
CREATE INDEX tab_deposits_tab ON tab_deposits(tab_id);
-- Units granted and not used by a closed stream stay on the tab.
ALTER TABLE tabs ADD COLUMN carry_units INTEGER NOT NULL DEFAULT 0;
-- What the seller charges per step (units and sats), fixed at opening.
ALTER TABLE tabs ADD COLUMN step_units INTEGER NOT NULL DEFAULT 0;
ALTER TABLE tabs ADD COLUMN step_sats INTEGER NOT NULL DEFAULT 0;
CREATE INDEX tabs_counterparty_state ON tabs(counterparty, state);

-- Fee receipts: a token redeemed for a fee or a top-up, written in the same
-- transaction as the wallet's receive op, so the payer is credited (and the
-- fee charged) once the op is done even if the relay stopped in between.
-- state: pending (op not final), done (credited), failed (op failed).
CREATE TABLE fee_receipts (
	op_id INTEGER PRIMARY KEY,
	pubkey TEXT NOT NULL,
	event_id TEXT NOT NULL DEFAULT '',
	event_kind INTEGER NOT NULL DEFAULT 0,
	reason TEXT NOT NULL DEFAULT '',
	fee INTEGER NOT NULL DEFAULT 0,
	state TEXT NOT NULL CHECK (state IN ('pending', 'done', 'failed')),
	created_at INTEGER NOT NULL
);
CREATE INDEX fee_receipts_state ON fee_receipts(state);
CREATE INDEX fee_receipts_event ON fee_receipts(event_id);

-- NIP-47 wallet service: authorized client keys and the invoices it made.
CREATE TABLE nwc_connections (
	service TEXT NOT NULL,
	client TEXT NOT NULL,
	created_at INTEGER NOT NULL,
	PRIMARY KEY (service, client)
);
CREATE TABLE nwc_invoices (
	payment_hash TEXT PRIMARY KEY,
	service TEXT NOT NULL,
	op_id INTEGER NOT NULL,
	invoice TEXT NOT NULL,
	description TEXT NOT NULL DEFAULT '',
	amount_msat INTEGER NOT NULL,
	created_at INTEGER NOT NULL,
	expires_at INTEGER NOT NULL
);
