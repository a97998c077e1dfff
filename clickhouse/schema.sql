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
-- so the same event_id may be inserted more than once. Queries deduplicate by
-- event_id themselves, whatever the merge state.
--
-- ingested_at_ms: when this table first stored the event (the inserting process's
-- clock, set by every insert). Billing windows range over the FIRST ingestion of each
-- event_id (min over its rows; docs/billing-usage.md). It is the last sort-key column
-- on purpose: ReplacingMergeTree collapses rows with equal sort keys on merge and
-- keeps the LAST inserted one, which would replace the first ingestion by a replay's
-- and bill the event again in a later window. With the ingest time in the key, only
-- rows stored in the same insert collapse, and a replay's row survives beside the
-- first (replays are rare, so the table grows little). Rows stored before the column
-- existed read it as their ts_ms (the DEFAULT).
--
-- Tables created before ingested_at_ms get it from ensure_schema() in code
-- (src/store/clickhouse/analytics_store.cpp): 18.16 has no ADD COLUMN IF NOT EXISTS
-- and refuses to add a column with a default to the sort key in one step.
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
    media_seconds Float64,
    ingested_at_ms Int64 DEFAULT ts_ms
)
ENGINE = ReplacingMergeTree()
PARTITION BY toYYYYMM(ts)
ORDER BY (asset_id, ts, event_id, ingested_at_ms);
