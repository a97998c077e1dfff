-- The edge registry: one row per edge, refreshed by its heartbeats.
CREATE TABLE edge_nodes (
  edge_id           TEXT PRIMARY KEY,
  region            TEXT NOT NULL DEFAULT '',
  base_url          TEXT NOT NULL,
  version           TEXT NOT NULL DEFAULT '',
  registered_at     INTEGER NOT NULL,  -- unix ms
  last_heartbeat_at INTEGER NOT NULL,  -- unix ms
  cache_bytes       INTEGER NOT NULL DEFAULT 0,
  cache_objects     INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX edge_nodes_heartbeat ON edge_nodes (last_heartbeat_at);
