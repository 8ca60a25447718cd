-- The credit moved to the payment journal (pay.db, migrations/pay 0008) so
-- that a payment and the credit it buys are one transaction. The rows are
-- kept here under a new name until state.Open has copied them over, then
-- dropped.
ALTER TABLE credit RENAME TO moved_credit;
