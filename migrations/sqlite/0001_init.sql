-- Initial schema. Times are unix milliseconds; ids are core::new_id() strings.

CREATE TABLE api_keys (
  id            TEXT PRIMARY KEY,
  name          TEXT NOT NULL,
  -- Lookups go by hash (the secret is never stored), so it must be unique.
  secret_hash   TEXT NOT NULL UNIQUE,
  scopes        TEXT NOT NULL DEFAULT '[]',  -- JSON array of strings
  created_at_ms INTEGER NOT NULL,
  revoked_at_ms INTEGER
);

CREATE TABLE assets (
  id               TEXT PRIMARY KEY,
  status           TEXT NOT NULL CHECK (status IN
                     ('waiting_upload', 'queued', 'processing', 'playable', 'hls_ready', 'failed', 'deleted')),
  visibility       TEXT NOT NULL CHECK (visibility IN ('public', 'private')),
  -- Not a foreign key: revoked keys may be pruned by an operator while their
  -- assets (and billing history) must stay.
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
  source_bytes     INTEGER
);
-- Serves list_assets' keyset pagination (newest first per owner) without a sort.
CREATE INDEX assets_owner_created ON assets (owner_key_id, created_at_ms DESC, id DESC);

CREATE TABLE uploads (
  id              TEXT PRIMARY KEY,
  asset_id        TEXT NOT NULL REFERENCES assets (id),
  expected_bytes  INTEGER,
  status          TEXT NOT NULL CHECK (status IN ('pending', 'complete')),
  created_at_ms   INTEGER NOT NULL,
  completed_at_ms INTEGER
);

CREATE TABLE jobs (
  id              TEXT PRIMARY KEY,
  asset_id        TEXT NOT NULL REFERENCES assets (id),
  kind            TEXT NOT NULL,
  status          TEXT NOT NULL CHECK (status IN ('queued', 'claimed', 'done', 'failed')),
  attempts        INTEGER NOT NULL DEFAULT 0,
  locked_by       TEXT,
  locked_until_ms INTEGER,
  error           TEXT,
  created_at_ms   INTEGER NOT NULL,
  finished_at_ms  INTEGER
);
-- claim_job scans claimable jobs oldest first; done/failed rows pile up and must not be scanned.
CREATE INDEX jobs_claimable ON jobs (status, created_at_ms, id);
CREATE INDEX jobs_asset ON jobs (asset_id);
CREATE INDEX uploads_asset ON uploads (asset_id);
