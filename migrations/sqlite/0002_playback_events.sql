-- Playback analytics (SPEC §7): one row per viewer response at an edge.
-- The primary key on event_id is the idempotency guarantee: an edge replaying its
-- spool inserts with INSERT OR IGNORE, so a replayed event is stored once.

CREATE TABLE playback_events (
  event_id      TEXT PRIMARY KEY,
  batch_id      TEXT NOT NULL,
  ts_ms         INTEGER NOT NULL,  -- response start, unix ms
  edge_id       TEXT NOT NULL,
  region        TEXT NOT NULL,
  asset_id      TEXT NOT NULL,
  artifact      TEXT NOT NULL,
  kind          TEXT NOT NULL,     -- master | playlist | segment | poster | other
  tier          TEXT NOT NULL,     -- empty for master/poster
  session_id    TEXT NOT NULL,
  status        INTEGER NOT NULL,
  bytes         INTEGER NOT NULL,
  cache         TEXT NOT NULL,     -- HIT | MISS
  ttfb_ms       INTEGER NOT NULL,
  duration_ms   INTEGER NOT NULL,
  media_seconds REAL NOT NULL
);

-- Summaries are always "one asset (or every edge) over a time range".
CREATE INDEX playback_events_asset_ts ON playback_events (asset_id, ts_ms);
CREATE INDEX playback_events_ts ON playback_events (ts_ms);
