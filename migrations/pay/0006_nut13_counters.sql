-- NUT-13 deterministic secrets: the next derivation counter of each keyset.
-- A counter is taken in the same transaction that journals the outputs made
-- with it, so no counter is ever used twice; restore (NUT-09) moves it past
-- the last one the mint signed.
CREATE TABLE nut13_counters (
	keyset_id TEXT PRIMARY KEY,
	next INTEGER NOT NULL CHECK (next >= 0)
);
