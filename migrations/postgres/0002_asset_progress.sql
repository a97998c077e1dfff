-- Transcode progress shown to users while an asset is processing (0..1).
ALTER TABLE rend.assets ADD COLUMN progress DOUBLE PRECISION;
