-- What the customer calls an asset and the file it was uploaded from (issue 13);
-- NULL when not given, as for every asset from before.
ALTER TABLE assets ADD COLUMN name TEXT;
ALTER TABLE assets ADD COLUMN source_filename TEXT;
