-- Accounts own API keys and assets (issue 12): revoking or rotating a key must not
-- lose a customer's videos, and billing needs a customer.
--
-- Every existing key moves into an account of its own, and every asset into the
-- account of the key that uploaded it (owner_key_id, kept as "uploaded by"). An
-- asset whose key row is gone (pruned by an operator) still gets an account: no
-- asset is ever left without one.
--
-- The migrated account's id is derived from the key id ("key_X" -> "acc_X"), so a
-- key and the assets it uploaded land in the same account without a lookup table,
-- and running the same data through the Postgres migration gives the same ids.
--
-- SQLite cannot add a NOT NULL foreign-key column to a table with rows, so
-- api_keys and assets are rebuilt (https://sqlite.org/lang_altertable.html, "other
-- kinds of table schema changes"); the runner turns foreign keys off around
-- migrations and checks them all before committing.
-- Not additive: account_id is required from here on, so a binary from before
-- accounts cannot insert keys or assets into this schema. Upgrade every process
-- (and use the new `rend keys`) together with this migration.

CREATE TABLE accounts (
  id            TEXT PRIMARY KEY,
  name          TEXT NOT NULL,
  created_at_ms INTEGER NOT NULL
);

INSERT INTO accounts (id, name, created_at_ms)
  SELECT 'acc_' || (CASE WHEN substr(id, 1, 4) = 'key_' THEN substr(id, 5) ELSE id END),
         CASE WHEN name <> '' THEN name ELSE id END, created_at_ms
  FROM api_keys;

-- Assets of keys that no longer exist: one account per missing key, named after it.
INSERT OR IGNORE INTO accounts (id, name, created_at_ms)
  SELECT 'acc_' || (CASE WHEN substr(owner_key_id, 1, 4) = 'key_' THEN substr(owner_key_id, 5) ELSE owner_key_id END),
         owner_key_id, min(created_at_ms)
  FROM assets WHERE owner_key_id NOT IN (SELECT id FROM api_keys)
  GROUP BY owner_key_id;

CREATE TABLE api_keys_new (
  id            TEXT PRIMARY KEY,
  account_id    TEXT NOT NULL REFERENCES accounts (id),
  name          TEXT NOT NULL,
  -- Lookups go by hash (the secret is never stored), so it must be unique.
  secret_hash   TEXT NOT NULL UNIQUE,
  scopes        TEXT NOT NULL DEFAULT '[]',  -- JSON array of strings
  created_at_ms INTEGER NOT NULL,
  revoked_at_ms INTEGER
);
INSERT INTO api_keys_new (id, account_id, name, secret_hash, scopes, created_at_ms, revoked_at_ms)
  SELECT id, 'acc_' || (CASE WHEN substr(id, 1, 4) = 'key_' THEN substr(id, 5) ELSE id END),
         name, secret_hash, scopes, created_at_ms, revoked_at_ms
  FROM api_keys;
DROP TABLE api_keys;
ALTER TABLE api_keys_new RENAME TO api_keys;
CREATE INDEX api_keys_account ON api_keys (account_id, created_at_ms, id);

CREATE TABLE assets_new (
  id               TEXT PRIMARY KEY,
  status           TEXT NOT NULL CHECK (status IN
                     ('waiting_upload', 'queued', 'processing', 'playable', 'hls_ready', 'failed', 'deleted')),
  visibility       TEXT NOT NULL CHECK (visibility IN ('public', 'private')),
  -- The owner. Any key of the account sees and manages the asset.
  account_id       TEXT NOT NULL REFERENCES accounts (id),
  -- The key that uploaded it ("uploaded by"). Not a foreign key: revoked keys may
  -- be pruned by an operator while their assets (and billing history) must stay.
  owner_key_id     TEXT NOT NULL,
  duration_s       REAL,
  width            INTEGER,
  height           INTEGER,
  tiers            TEXT NOT NULL DEFAULT '[]',  -- JSON array of {name, width, height, bandwidth}
  billing_tier     TEXT NOT NULL DEFAULT '',
  error_code       TEXT,
  error_message    TEXT,
  created_at_ms    INTEGER NOT NULL,
  uploaded_at_ms   INTEGER,
  processing_at_ms INTEGER,
  playable_at_ms   INTEGER,
  hls_ready_at_ms  INTEGER,
  failed_at_ms     INTEGER,
  deleted_at_ms    INTEGER,
  expected_bytes   INTEGER,
  source_bytes     INTEGER,
  progress         REAL  -- transcode progress shown while processing (0..1)
);
INSERT INTO assets_new (id, status, visibility, account_id, owner_key_id, duration_s, width, height, tiers,
                        billing_tier, error_code, error_message, created_at_ms, uploaded_at_ms, processing_at_ms,
                        playable_at_ms, hls_ready_at_ms, failed_at_ms, deleted_at_ms, expected_bytes, source_bytes,
                        progress)
  SELECT id, status, visibility,
         'acc_' || (CASE WHEN substr(owner_key_id, 1, 4) = 'key_' THEN substr(owner_key_id, 5) ELSE owner_key_id END),
         owner_key_id, duration_s, width, height, tiers, billing_tier, error_code, error_message, created_at_ms,
         uploaded_at_ms, processing_at_ms, playable_at_ms, hls_ready_at_ms, failed_at_ms, deleted_at_ms,
         expected_bytes, source_bytes, progress
  FROM assets;
-- uploads and jobs reference assets by name, so they point at the new table once renamed.
DROP TABLE assets;
ALTER TABLE assets_new RENAME TO assets;
-- Serves list_assets' keyset pagination (newest first per account) without a sort.
CREATE INDEX assets_account_created ON assets (account_id, created_at_ms DESC, id DESC);
