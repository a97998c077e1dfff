-- One PUT at a time reads an upload's body: the claim holder and until when it
-- holds (renewed while the body streams; an expired claim, e.g. of a crashed API
-- process, may be taken by the next PUT).
ALTER TABLE uploads ADD COLUMN receive_claim TEXT;
ALTER TABLE uploads ADD COLUMN receive_until_ms INTEGER;
