-- Events, one row each; the raw column is the event's JSON as received and verified.
CREATE TABLE events (
  seq        INTEGER PRIMARY KEY,
  id         BLOB    NOT NULL UNIQUE,
  pubkey     BLOB    NOT NULL,
  created_at INTEGER NOT NULL,
  kind       INTEGER NOT NULL,
  expires_at INTEGER,
  raw        BLOB    NOT NULL
);
CREATE INDEX events_created     ON events (created_at DESC, id);
CREATE INDEX events_kind        ON events (kind, created_at DESC, id);
CREATE INDEX events_pubkey_kind ON events (pubkey, kind, created_at DESC, id);
CREATE INDEX events_expires     ON events (expires_at) WHERE expires_at IS NOT NULL;

-- Single-letter tags, exact (name, value) matches only.
CREATE TABLE tags (
  name       TEXT    NOT NULL,
  value      TEXT    NOT NULL,
  created_at INTEGER NOT NULL,
  event_seq  INTEGER NOT NULL REFERENCES events (seq) ON DELETE CASCADE,
  PRIMARY KEY (name, value, created_at, event_seq)
) WITHOUT ROWID;
CREATE INDEX tags_event ON tags (event_seq);
