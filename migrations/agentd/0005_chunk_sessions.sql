-- The storage session that put each chunk and the chunk's size, so a
-- provider's receipt can name the objects the session stored (its x tags)
-- and what it holds for it. Chunks put before this migration belong to no
-- session ('') and count 0 bytes.
ALTER TABLE chunks ADD COLUMN session TEXT NOT NULL DEFAULT '';
ALTER TABLE chunks ADD COLUMN size INTEGER NOT NULL DEFAULT 0;
CREATE INDEX chunks_session ON chunks(session);
