-- Billing windows range over when the analytics store FIRST stored an event, not
-- when the edge served it (docs/billing-usage.md): edges spool telemetry and replay
-- it minutes or hours later, and such an event must be billed in a window that is
-- still open. The store sets ingested_at_ms on insert; INSERT OR IGNORE of a
-- replayed event_id keeps the stored row, so the column is the first ingestion.
--
-- Rows stored before this migration have no ingest time; their event time stands in
-- for it (they were ingested at about then, and no billing window has used them yet).

ALTER TABLE playback_events ADD COLUMN ingested_at_ms INTEGER NOT NULL DEFAULT 0;
UPDATE playback_events SET ingested_at_ms = ts_ms;

-- Billing reads "billable events first ingested in [from, to)".
CREATE INDEX playback_events_ingested ON playback_events (ingested_at_ms);
