-- The relay's event store on PostgreSQL (package relay/pgstore): the same
-- tables and query shapes as relay/0001_events.sql for SQLite.
--
-- Query order everywhere is created_at DESC, id ASC; every ordered index ends
-- in (created_at DESC, id) so a single-valued lookup walks the index in answer
-- order and stops at the limit without sorting. id, pubkey, tag names and
-- values are bytea: compared byte for byte (no collation, any bytes).

CREATE TABLE events (
  seq        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  id         bytea   NOT NULL,
  pubkey     bytea   NOT NULL,
  created_at bigint  NOT NULL,
  kind       integer NOT NULL,
  expires_at bigint,           -- NIP-40 expiration, NULL when none
  dtag       bytea,            -- addressable kinds (30000-39999): first d tag value, '' when none; else NULL
  raw        bytea   NOT NULL  -- the event's JSON as stored
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
  name       bytea   NOT NULL,
  value      bytea   NOT NULL,
  created_at bigint  NOT NULL,
  id         bytea   NOT NULL,
  kind       integer NOT NULL,
  seq        bigint  NOT NULL REFERENCES events (seq) ON DELETE CASCADE
);
CREATE UNIQUE INDEX tags_key ON tags (name, value, created_at DESC, id);
CREATE INDEX tags_seq ON tags (seq);
-- NIP-09: a relay asks "is there a kind 5 with #e=<id>" (or #a) for every
-- incoming event; this small index answers without scanning popular values.
CREATE INDEX tags_kind5 ON tags (name, value, created_at DESC, id) WHERE kind = 5;
