-- Imports from a URL: where the worker fetches the source (NULL for uploads).
ALTER TABLE assets ADD COLUMN input_url TEXT;
