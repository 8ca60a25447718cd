-- A local copy of signed relay events the agent must still have when no
-- relay answers: its own SafeBox entries (NIP-44 encrypted to itself, so
-- nothing here is readable without the key) and the storage offers of the
-- providers holding its files (their endpoints). One row per address
-- (kind:pubkey:d), the newest event kept.
CREATE TABLE event_cache (
	address TEXT PRIMARY KEY,
	kind INTEGER NOT NULL,
	pubkey TEXT NOT NULL,
	created_at INTEGER NOT NULL,
	event TEXT NOT NULL
);
CREATE INDEX event_cache_kind_pubkey ON event_cache(kind, pubkey);
