-- Webhooks (issue 16, docs/webhooks.md): the Postgres twin of
-- migrations/sqlite/0010_webhooks.sql. The secret is stored in clear because the
-- dispatcher signs with it (shown once at creation, never listed or logged).
CREATE TABLE rend.webhooks (
  id                       TEXT COLLATE "C" PRIMARY KEY,
  account_id               TEXT COLLATE "C" NOT NULL REFERENCES rend.accounts (id),
  url                      TEXT NOT NULL,
  events                   TEXT NOT NULL,  -- ",asset.created,asset.ready," (commas around each type)
  secret                   TEXT NOT NULL,
  previous_secret          TEXT,
  previous_secret_until_ms BIGINT NOT NULL DEFAULT 0,
  created_at_ms            BIGINT NOT NULL
);
CREATE INDEX webhooks_account ON rend.webhooks (account_id, created_at_ms);

-- The outbox: one row per event, written in the transaction of the status change.
CREATE TABLE rend.webhook_events (
  id            TEXT COLLATE "C" PRIMARY KEY,
  account_id    TEXT COLLATE "C" NOT NULL,
  asset_id      TEXT COLLATE "C" NOT NULL,
  type          TEXT NOT NULL,
  created_at_ms BIGINT NOT NULL
);

-- One row per (event, webhook), written in the same transaction. seq orders
-- claims (oldest first) even within one millisecond.
CREATE TABLE rend.webhook_deliveries (
  seq                 BIGSERIAL PRIMARY KEY,
  id                  TEXT COLLATE "C" NOT NULL UNIQUE,
  webhook_id          TEXT COLLATE "C" NOT NULL REFERENCES rend.webhooks (id) ON DELETE CASCADE,
  event_id            TEXT COLLATE "C" NOT NULL REFERENCES rend.webhook_events (id),
  event_type          TEXT NOT NULL,
  account_id          TEXT COLLATE "C" NOT NULL,
  asset_id            TEXT COLLATE "C" NOT NULL,
  event_created_at_ms BIGINT NOT NULL,
  status              TEXT NOT NULL CHECK (status IN ('pending', 'delivered', 'failed')),
  attempts            INTEGER NOT NULL DEFAULT 0,
  last_status_code    BIGINT,
  last_latency_ms     BIGINT,
  last_error          TEXT,
  last_attempt_at_ms  BIGINT,
  next_attempt_at_ms  BIGINT NOT NULL,
  claimed_by          TEXT,
  claim_until_ms      BIGINT,
  UNIQUE (event_id, webhook_id)
);
CREATE INDEX webhook_deliveries_due ON rend.webhook_deliveries (next_attempt_at_ms, seq) WHERE status = 'pending';
CREATE INDEX webhook_deliveries_webhook ON rend.webhook_deliveries (webhook_id, seq);
