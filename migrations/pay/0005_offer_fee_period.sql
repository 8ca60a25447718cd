-- Publication fees per offer address (kind:pubkey:d) and period, not per
-- republish: a fee entry records the address it paid for and until when;
-- a republish of that address before then is not charged again.
ALTER TABLE fee_ledger ADD COLUMN address TEXT NOT NULL DEFAULT '';
ALTER TABLE fee_ledger ADD COLUMN paid_until INTEGER NOT NULL DEFAULT 0;
CREATE INDEX fee_ledger_address ON fee_ledger(address, paid_until);
ALTER TABLE fee_receipts ADD COLUMN address TEXT NOT NULL DEFAULT '';
