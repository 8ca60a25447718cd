-- The open bid a provider session confirms (kind 8468 proposals): the
-- provider confirms at most one live session per bid, and the live
-- sessions' quantities are what its offers hold, across restarts.
ALTER TABLE sessions ADD COLUMN bid TEXT NOT NULL DEFAULT '';
CREATE INDEX sessions_bid ON sessions(bid) WHERE bid != '';
CREATE INDEX sessions_offer ON sessions(offer, state) WHERE bid != '';
