-- Transcode progress shown to users while an asset is processing (0..1).
ALTER TABLE assets ADD COLUMN progress REAL;
