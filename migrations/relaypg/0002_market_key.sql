-- The relay key that signs the market on this database (issue 15). Every
-- meshrelay process sharing the database publishes matches and trust
-- assertions under it and recognises its own matches by it, so a process
-- with another key is refused at start (the first process to start records
-- its key).
CREATE TABLE market_key (
  singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
  pubkey    text    NOT NULL
);
