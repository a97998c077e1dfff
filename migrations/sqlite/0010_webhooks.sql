-- Webhooks (issue 16, docs/webhooks.md). A webhook belongs to an account; its
-- secret is stored in clear because the dispatcher signs with it (it is shown
-- once at creation and never listed or logged).
CREATE TABLE webhooks (
  id                       TEXT PRIMARY KEY,
  account_id               TEXT NOT NULL REFERENCES accounts (id),
  url                      TEXT NOT NULL,
  events                   TEXT NOT NULL,  -- ",asset.created,asset.ready," (commas around each type)
  secret                   TEXT NOT NULL,
  previous_secret          TEXT,
  previous_secret_until_ms INTEGER NOT NULL DEFAULT 0,
  created_at_ms            INTEGER NOT NULL
);
CREATE INDEX webhooks_account ON webhooks (account_id, created_at_ms);

-- The outbox: one row per event, written in the transaction of the status change.
CREATE TABLE webhook_events (
  id            TEXT PRIMARY KEY,
  account_id    TEXT NOT NULL,
  asset_id      TEXT NOT NULL,
  type          TEXT NOT NULL,
  created_at_ms INTEGER NOT NULL
);

-- One row per (event, webhook), written in the same transaction. seq orders
-- claims (oldest first) even within one millisecond.
CREATE TABLE webhook_deliveries (
  seq                 INTEGER PRIMARY KEY AUTOINCREMENT,
  id                  TEXT NOT NULL UNIQUE,
  webhook_id          TEXT NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
  event_id            TEXT NOT NULL REFERENCES webhook_events (id),
  event_type          TEXT NOT NULL,
  account_id          TEXT NOT NULL,
  asset_id            TEXT NOT NULL,
  event_created_at_ms INTEGER NOT NULL,
  status              TEXT NOT NULL CHECK (status IN ('pending', 'delivered', 'failed')),
  attempts            INTEGER NOT NULL DEFAULT 0,
  last_status_code    INTEGER,
  last_latency_ms     INTEGER,
  last_error          TEXT,
  last_attempt_at_ms  INTEGER,
  next_attempt_at_ms  INTEGER NOT NULL,
  claimed_by          TEXT,
  claim_until_ms      INTEGER,
  UNIQUE (event_id, webhook_id)
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at_ms, seq) WHERE status = 'pending';
CREATE INDEX webhook_deliveries_webhook ON webhook_deliveries (webhook_id, seq);
