-- Resumable (tus) uploads: the protocol, the expiry, the object store's multipart
-- handle and how far the upload has got (parts and the buffered tail, JSON arrays of
-- [size, ref]), the direct-upload origin, and two end states.
ALTER TABLE rend.uploads DROP CONSTRAINT uploads_status_check;
ALTER TABLE rend.uploads ADD CONSTRAINT uploads_status_check
  CHECK (status IN ('pending', 'complete', 'expired', 'terminated'));
ALTER TABLE rend.uploads ADD COLUMN protocol TEXT NOT NULL DEFAULT 'put' CHECK (protocol IN ('put', 'tus'));
ALTER TABLE rend.uploads ADD COLUMN expires_at_ms BIGINT;
ALTER TABLE rend.uploads ADD COLUMN multipart_handle TEXT NOT NULL DEFAULT '';
ALTER TABLE rend.uploads ADD COLUMN upload_offset BIGINT NOT NULL DEFAULT 0;
ALTER TABLE rend.uploads ADD COLUMN parts TEXT NOT NULL DEFAULT '[]';
ALTER TABLE rend.uploads ADD COLUMN tail TEXT NOT NULL DEFAULT '[]';
ALTER TABLE rend.uploads ADD COLUMN direct_origin TEXT NOT NULL DEFAULT '';
ALTER TABLE rend.uploads ADD COLUMN ended_at_ms BIGINT;
-- The sweeper's scan: pending uploads by expiry.
CREATE INDEX uploads_expiry ON rend.uploads (expires_at_ms) WHERE status = 'pending' AND expires_at_ms IS NOT NULL;
