-- The put journal: a buyer's puts not finished yet, so that an interrupted
-- put resumes (chunks already stored are neither sent nor paid again) or
-- is aborted (its chunks deleted). A put is written before its first chunk
-- is sent and deleted once its key is in the SafeBox.
--
-- path, size and mtime (Unix nanoseconds) identify the file: a put of the
-- same file resumes. file_key is the file's secret key (hex), kept here
-- only until the put ends (agentd.db is private to its owner); providers
-- are the pubkeys in manifest order (JSON).
CREATE TABLE puts (
	id INTEGER PRIMARY KEY,
	path TEXT NOT NULL,
	name TEXT NOT NULL,
	size INTEGER NOT NULL,
	mtime INTEGER NOT NULL,
	file_key TEXT NOT NULL,
	chunk_size INTEGER NOT NULL,
	data_shards INTEGER NOT NULL,
	parity_shards INTEGER NOT NULL,
	providers TEXT NOT NULL,
	created_at INTEGER NOT NULL,
	updated_at INTEGER NOT NULL
);
CREATE INDEX puts_path ON puts(path);

-- One row per stripe a put began sending: its shards' CIDs (32 bytes each,
-- shard j on provider (stripe + j) mod n, zero for a virtual shard) and
-- whether every shard was acknowledged. One row per stripe: the journal
-- grows linearly with the file (about 100 bytes per stripe).
CREATE TABLE put_stripes (
	put INTEGER NOT NULL,
	stripe INTEGER NOT NULL,
	cids BLOB NOT NULL,
	stored INTEGER NOT NULL DEFAULT 0,
	PRIMARY KEY (put, stripe)
);
