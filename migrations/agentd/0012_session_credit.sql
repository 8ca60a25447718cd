-- Unused credit is kept per market session (issue 14): units paid under one
-- session are spent only by streams naming that session, at its prices.
-- session '' is a walk-in's credit (streams naming no session, at the
-- provider's list prices); the per-buyer credit an older agentd kept moves
-- there.
CREATE TABLE credit_session (
	buyer TEXT NOT NULL,
	resource TEXT NOT NULL,
	session TEXT NOT NULL DEFAULT '',
	units INTEGER NOT NULL CHECK (units >= 0),
	PRIMARY KEY (buyer, resource, session)
);
INSERT INTO credit_session (buyer, resource, session, units) SELECT buyer, resource, '', units FROM credit;
DROP TABLE credit;
ALTER TABLE credit_session RENAME TO credit;
