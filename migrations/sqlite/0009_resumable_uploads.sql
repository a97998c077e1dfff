-- Resumable (tus) uploads: the protocol, the expiry, the object store's multipart
-- handle and how far the upload has got (parts and the buffered tail, JSON arrays of
-- [size, ref]), the direct-upload origin, and two end states. SQLite cannot change a
-- CHECK constraint in place, so the table is rebuilt (the documented procedure;
-- migrate() turns foreign keys off around it).
CREATE TABLE uploads_new (
  id               TEXT PRIMARY KEY,
  asset_id         TEXT NOT NULL REFERENCES assets (id),
  expected_bytes   INTEGER,
  status           TEXT NOT NULL CHECK (status IN ('pending', 'complete', 'expired', 'terminated')),
  created_at_ms    INTEGER NOT NULL,
  completed_at_ms  INTEGER,
  receive_claim    TEXT,
  receive_until_ms INTEGER,
  protocol         TEXT NOT NULL DEFAULT 'put' CHECK (protocol IN ('put', 'tus')),
  expires_at_ms    INTEGER,
  multipart_handle TEXT NOT NULL DEFAULT '',
  upload_offset    INTEGER NOT NULL DEFAULT 0,
  parts            TEXT NOT NULL DEFAULT '[]',
  tail             TEXT NOT NULL DEFAULT '[]',
  direct_origin    TEXT NOT NULL DEFAULT '',
  ended_at_ms      INTEGER
);
INSERT INTO uploads_new (id, asset_id, expected_bytes, status, created_at_ms, completed_at_ms, receive_claim,
                         receive_until_ms)
  SELECT id, asset_id, expected_bytes, status, created_at_ms, completed_at_ms, receive_claim, receive_until_ms
  FROM uploads;
DROP TABLE uploads;
ALTER TABLE uploads_new RENAME TO uploads;
CREATE INDEX uploads_asset ON uploads (asset_id);
-- The sweeper's scan: pending uploads by expiry.
CREATE INDEX uploads_expiry ON uploads (expires_at_ms) WHERE status = 'pending' AND expires_at_ms IS NOT NULL;
