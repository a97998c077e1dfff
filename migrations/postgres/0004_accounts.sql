-- Accounts own API keys and assets (the Postgres twin of
-- migrations/sqlite/0006_accounts.sql, which explains the mapping): every existing
-- key moves into an account of its own ("key_X" -> "acc_X"), every asset into its
-- uploading key's account, and an asset whose key row is gone gets an account too.
-- Not additive (see the SQLite twin): binaries from before accounts cannot insert
-- keys or assets into this schema.

CREATE TABLE rend.accounts (
  id            TEXT COLLATE "C" PRIMARY KEY,
  name          TEXT NOT NULL,
  created_at_ms BIGINT NOT NULL
);

INSERT INTO rend.accounts (id, name, created_at_ms)
  SELECT 'acc_' || (CASE WHEN substr(id, 1, 4) = 'key_' THEN substr(id, 5) ELSE id END),
         CASE WHEN name <> '' THEN name ELSE id END, created_at_ms
  FROM rend.api_keys;

INSERT INTO rend.accounts (id, name, created_at_ms)
  SELECT 'acc_' || (CASE WHEN substr(owner_key_id, 1, 4) = 'key_' THEN substr(owner_key_id, 5) ELSE owner_key_id END),
         owner_key_id, min(created_at_ms)
  FROM rend.assets a WHERE NOT EXISTS (SELECT 1 FROM rend.api_keys k WHERE k.id = a.owner_key_id)
  GROUP BY owner_key_id
  ON CONFLICT (id) DO NOTHING;

ALTER TABLE rend.api_keys ADD COLUMN account_id TEXT COLLATE "C" REFERENCES rend.accounts (id);
UPDATE rend.api_keys SET account_id = 'acc_' || (CASE WHEN substr(id, 1, 4) = 'key_' THEN substr(id, 5) ELSE id END);
ALTER TABLE rend.api_keys ALTER COLUMN account_id SET NOT NULL;
CREATE INDEX api_keys_account ON rend.api_keys (account_id, created_at_ms, id);

-- owner_key_id stays: the key that uploaded the asset ("uploaded by").
ALTER TABLE rend.assets ADD COLUMN account_id TEXT COLLATE "C" REFERENCES rend.accounts (id);
UPDATE rend.assets SET account_id =
  'acc_' || (CASE WHEN substr(owner_key_id, 1, 4) = 'key_' THEN substr(owner_key_id, 5) ELSE owner_key_id END);
ALTER TABLE rend.assets ALTER COLUMN account_id SET NOT NULL;
-- list_assets pages per account now; the per-key index has no reader left.
DROP INDEX rend.assets_owner_created;
CREATE INDEX assets_account_created ON rend.assets (account_id, created_at_ms DESC, id DESC);
