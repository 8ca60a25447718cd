-- The pay-as-you-go tabs (market/pay/tab) were never wired into agentd and
-- were removed; agentd pays providers through the per-provider credit kept
-- in agentd.db. No release wrote to these tables.
DROP INDEX IF EXISTS tab_deposits_tab;
DROP TABLE IF EXISTS tab_deposits;
DROP INDEX IF EXISTS tabs_counterparty_state;
DROP TABLE IF EXISTS tabs;
