-- The ledger and the budget moved to the payment journal (pay.db,
-- migrations/pay/0004). Their rows are kept here under new names until
-- state.Open has copied them over (idempotently, by id), then dropped.
-- offline_earnings is replaced by the receive op's state in the journal.
ALTER TABLE ledger RENAME TO moved_ledger;
ALTER TABLE budget RENAME TO moved_budget;
ALTER TABLE offline_earnings RENAME TO moved_offline_earnings;
