-- Units a buyer paid a provider for and did not use yet (kept across
-- restarts so no paid unit is lost), and the storage-proof round each
-- stored file has reached (a used challenge is never asked again).
CREATE TABLE credit (
	buyer TEXT NOT NULL,
	resource TEXT NOT NULL,
	units INTEGER NOT NULL CHECK (units >= 0),
	PRIMARY KEY (buyer, resource)
);
ALTER TABLE files ADD COLUMN audit_round INTEGER NOT NULL DEFAULT 0;
