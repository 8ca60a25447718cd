-- agentd's money ledger and spending budget live in the payment journal, so
-- a ledger line is committed in the same transaction as the journal op it
-- describes (issue 12): a crash between a payment and its record can no
-- longer lose or invent one. A line counts as its op says (journal.Op
-- state): an earning counts once its receive op is done (or queued, accepted
-- offline), a refund once its reclaim or receive op is done, a spend unless
-- its send op failed. A wallet without agentd (the relay's) leaves them empty.

-- Money moved, in sats. kind: earn (provider received), change (provider
-- returned change), spend (buyer paid), refund (buyer got change back or
-- reclaimed an unredeemed token). fee: mint fees paid on the step. offline:
-- an earning accepted while its mint could not be reached (if the mint then
-- refuses the swap, the earning is lost).
CREATE TABLE ledger (
	id INTEGER PRIMARY KEY,
	session TEXT NOT NULL,
	kind TEXT NOT NULL CHECK (kind IN ('earn', 'change', 'spend', 'refund')),
	counterparty TEXT NOT NULL,
	resource TEXT NOT NULL,
	sats INTEGER NOT NULL CHECK (sats >= 0),
	fee INTEGER NOT NULL DEFAULT 0,
	op_id INTEGER NOT NULL DEFAULT 0,
	offline INTEGER NOT NULL DEFAULT 0,
	created_at INTEGER NOT NULL
);
CREATE INDEX ledger_session ON ledger(session);
CREATE INDEX ledger_kind ON ledger(kind, created_at);
CREATE INDEX ledger_op ON ledger(op_id);

-- Outgoing payments counted against the local budget, per UTC day.
-- state: reserved (payment in progress), paid, or released (a negative line
-- giving back the sats of a reclaimed token; it counts once its reclaim op,
-- op_id, is done).
CREATE TABLE budget (
	id INTEGER PRIMARY KEY,
	day TEXT NOT NULL,
	counterparty TEXT NOT NULL,
	sats INTEGER NOT NULL,
	state TEXT NOT NULL CHECK (state IN ('reserved', 'paid', 'released')),
	op_id INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX budget_day ON budget(day, counterparty);
