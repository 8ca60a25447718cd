-- A provider's unused credit per buyer, resource and market session (issue
-- 14) moved from agentd.db (migrations/agentd 0014) to the payment journal,
-- as lines: a payment's units are written in the transaction of the receive
-- op that redeemed it (metering.Gate.Redeem), so a crash between the
-- redemption and its credit can no longer lose the buyer's paid-ahead sats;
-- a stream's usage is a negative line with no op (op_id 0); a refund at the
-- session's close is a negative line in the transaction of its send op. A
-- line counts as its op says: a receive's once its op is done (or queued,
-- accepted offline), a send's unless its op failed, one with no op always
-- (state.DB.Credit). session '' is a walk-in's credit.
CREATE TABLE credit_lines (
	id INTEGER PRIMARY KEY,
	buyer TEXT NOT NULL,
	resource TEXT NOT NULL,
	session TEXT NOT NULL DEFAULT '',
	units INTEGER NOT NULL,
	op_id INTEGER NOT NULL DEFAULT 0,
	created_at INTEGER NOT NULL
);
CREATE INDEX credit_lines_key ON credit_lines(buyer, resource, session);
CREATE INDEX credit_lines_op ON credit_lines(op_id);
