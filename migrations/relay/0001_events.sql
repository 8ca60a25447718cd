-- The relay's event store (package relay/sqlitestore).
--
-- Query order everywhere is created_at DESC, id ASC; every ordered index ends
-- in (created_at DESC, id) so a single-valued lookup walks the index in answer
-- order and stops at the limit without sorting.

-- Events, one row each. raw is the event's JSON as stored; the other columns
-- are what filters and replacement look at. id and pubkey are 32-byte BLOBs
-- (memcmp order equals lowercase-hex order).
CREATE TABLE events (
  seq        INTEGER PRIMARY KEY,
  id         BLOB    NOT NULL,
  pubkey     BLOB    NOT NULL,
  created_at INTEGER NOT NULL,
  kind       INTEGER NOT NULL,
  expires_at INTEGER,          -- NIP-40 expiration, NULL when none
  dtag       TEXT,             -- addressable kinds (30000-39999): first d tag value, '' when none; else NULL
  raw        BLOB    NOT NULL
);
CREATE UNIQUE INDEX events_id   ON events (id);
CREATE INDEX events_created     ON events (created_at DESC, id);
CREATE INDEX events_kind        ON events (kind, created_at DESC, id);
CREATE INDEX events_pubkey      ON events (pubkey, created_at DESC, id);
CREATE INDEX events_pubkey_kind ON events (pubkey, kind, created_at DESC, id);
CREATE INDEX events_addr        ON events (pubkey, kind, dtag) WHERE dtag IS NOT NULL;
CREATE INDEX events_expires     ON events (expires_at) WHERE expires_at IS NOT NULL;

-- Tags whose name is exactly one byte (NIP-01 "#x" filters), exact
-- (name, value) matches. created_at, id and kind are copies from the event so
-- a tag lookup is ordered and kind-filtered without touching events.
CREATE TABLE tags (
  name       TEXT    NOT NULL,
  value      TEXT    NOT NULL,
  created_at INTEGER NOT NULL,
  id         BLOB    NOT NULL,
  kind       INTEGER NOT NULL,
  seq        INTEGER NOT NULL,   -- events.seq
  PRIMARY KEY (name, value, created_at DESC, id)
) WITHOUT ROWID;
CREATE INDEX tags_seq ON tags (seq);
-- NIP-09: a relay asks "is there a kind 5 with #e=<id>" (or #a) for every
-- incoming event; this small index answers without scanning popular values.
CREATE INDEX tags_kind5 ON tags (name, value, created_at DESC, id) WHERE kind = 5;
