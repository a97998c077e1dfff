-- Initial schema (the Postgres twin of migrations/sqlite/0001_init.sql). Times are
-- unix milliseconds in BIGINT columns, so every comparison means exactly what it
-- means in SQLite; ids are core::new_id() strings.
--
-- Ids are COLLATE "C": list_assets orders by (created_at_ms, id) and its cursor
-- compares ids, which must be plain byte order as in SQLite whatever the database
-- locale is (and "C" keeps the btree comparisons cheap).
-- The migration runner creates schema `rend` and rend.schema_migrations itself.

CREATE TABLE rend.api_keys (
  id            TEXT COLLATE "C" PRIMARY KEY,
  name          TEXT NOT NULL,
  -- Lookups go by hash (the secret is never stored), so it must be unique.
  secret_hash   TEXT NOT NULL UNIQUE,
  scopes        JSONB NOT NULL DEFAULT '[]',  -- array of strings
  created_at_ms BIGINT NOT NULL,
  revoked_at_ms BIGINT
);

CREATE TABLE rend.assets (
  id               TEXT COLLATE "C" PRIMARY KEY,
  status           TEXT NOT NULL CHECK (status IN
                     ('waiting_upload', 'queued', 'processing', 'playable', 'hls_ready', 'failed', 'deleted')),
  visibility       TEXT NOT NULL CHECK (visibility IN ('public', 'private')),
  -- Not a foreign key: revoked keys may be pruned by an operator while their
  -- assets (and billing history) must stay.
  owner_key_id     TEXT COLLATE "C" NOT NULL,
  duration_s       DOUBLE PRECISION,
  width            INTEGER,
  height           INTEGER,
  tiers            JSONB NOT NULL DEFAULT '[]',  -- array of {name, width, height, bandwidth}
  billing_tier     TEXT NOT NULL DEFAULT '',
  error_code       TEXT,
  error_message    TEXT,
  created_at_ms    BIGINT NOT NULL,
  uploaded_at_ms   BIGINT,
  processing_at_ms BIGINT,
  playable_at_ms   BIGINT,
  hls_ready_at_ms  BIGINT,
  failed_at_ms     BIGINT,
  deleted_at_ms    BIGINT,
  expected_bytes   BIGINT,
  source_bytes     BIGINT
);
-- Serves list_assets' keyset pagination (newest first per owner) without a sort.
CREATE INDEX assets_owner_created ON rend.assets (owner_key_id, created_at_ms DESC, id DESC);

CREATE TABLE rend.uploads (
  id              TEXT COLLATE "C" PRIMARY KEY,
  asset_id        TEXT COLLATE "C" NOT NULL REFERENCES rend.assets (id),
  expected_bytes  BIGINT,
  status          TEXT NOT NULL CHECK (status IN ('pending', 'complete')),
  created_at_ms   BIGINT NOT NULL,
  completed_at_ms BIGINT
);
CREATE INDEX uploads_asset ON rend.uploads (asset_id);

CREATE TABLE rend.jobs (
  id              TEXT COLLATE "C" PRIMARY KEY,
  asset_id        TEXT COLLATE "C" NOT NULL REFERENCES rend.assets (id),
  kind            TEXT NOT NULL,
  status          TEXT NOT NULL CHECK (status IN ('queued', 'claimed', 'done', 'failed')),
  attempts        INTEGER NOT NULL DEFAULT 0,
  locked_by       TEXT,
  locked_until_ms BIGINT,
  error           TEXT,
  created_at_ms   BIGINT NOT NULL,
  finished_at_ms  BIGINT
);
-- claim_job scans claimable jobs oldest first; done/failed rows pile up forever and
-- a partial index keeps them out of that scan.
CREATE INDEX jobs_claimable ON rend.jobs (created_at_ms, id) WHERE status IN ('queued', 'claimed');
CREATE INDEX jobs_asset ON rend.jobs (asset_id);

-- Edge registry: one row per edge node, upserted by its registration and heartbeats.
CREATE TABLE rend.edge_nodes (
  edge_id           TEXT COLLATE "C" PRIMARY KEY,
  region            TEXT NOT NULL DEFAULT '',
  base_url          TEXT NOT NULL,
  version           TEXT NOT NULL DEFAULT '',
  registered_at     BIGINT NOT NULL,  -- unix ms
  last_heartbeat_at BIGINT NOT NULL,  -- unix ms
  cache_bytes       BIGINT NOT NULL DEFAULT 0,
  cache_objects     BIGINT NOT NULL DEFAULT 0,
  stats             JSONB NOT NULL DEFAULT '{}'  -- the last heartbeat's free-form counters
);
CREATE INDEX edge_nodes_heartbeat ON rend.edge_nodes (last_heartbeat_at);
