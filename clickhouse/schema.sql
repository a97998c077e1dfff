-- ClickHouse schema for playback analytics (SPEC §7). Embedded into the binary at
-- build time and applied statement by statement by ensure_schema() on every start,
-- so every statement must be idempotent (IF NOT EXISTS) and additive.
--
-- Compatibility: must run on ClickHouse 18.16 (Debian's clickhouse-server) as well as
-- current releases. So: DateTime (not DateTime64), the explicit
-- ENGINE ... PARTITION BY ... ORDER BY form, no codecs, TTLs or LowCardinality.
--
-- The database name `rend` is the default; ensure_schema() substitutes the configured
-- one for the name in CREATE DATABASE and for every `rend.` qualifier, so keep
-- tables qualified as rend.<table>. `clickhouse-client --multiquery < schema.sql`
-- applies the file by hand.

CREATE DATABASE IF NOT EXISTS rend;

-- One row per viewer response at an edge. Events never carry an IP, cookie, token or
-- signed URL.
--
-- Idempotency: edges replay a batch when they did not see the first attempt's answer,
-- so the same event_id may be inserted more than once. ReplacingMergeTree collapses
-- rows with the same sort key (a replay has the same asset_id, ts and event_id) but
-- only when parts merge, which happens at an unspecified later time. Queries therefore
-- deduplicate by event_id themselves; the engine just keeps the table from growing.
CREATE TABLE IF NOT EXISTS rend.playback_events
(
    event_id      String,
    batch_id      String,
    -- ts (whole seconds) is for partitioning and the sort key; ts_ms is the exact
    -- time that range queries compare with ([from_ms, to_ms) is in milliseconds).
    ts            DateTime,
    ts_ms         Int64,
    edge_id       String,
    region        String,
    asset_id      String,
    artifact      String,
    kind          String,
    tier          String,
    session_id    String,
    status        Int32,
    bytes         Int64,
    cache         String,
    ttfb_ms       Int64,
    duration_ms   Int64,
    media_seconds Float64
)
ENGINE = ReplacingMergeTree()
PARTITION BY toYYYYMM(ts)
ORDER BY (asset_id, ts, event_id);
