-- The usage sync's state (src/store/billing_state.h): one lease so a single API
-- process sends usage, a cursor per stream (end of the last committed window), the
-- ledger of what each committed window billed under which idempotency key, and the
-- last attempt/error per stream for `rend billing status`.
CREATE TABLE rend.billing_leases (
  name TEXT PRIMARY KEY,
  holder TEXT NOT NULL,
  expires_at_ms BIGINT NOT NULL
);
CREATE TABLE rend.billing_streams (
  stream TEXT PRIMARY KEY,
  cursor_ms BIGINT,
  committed_at_ms BIGINT,
  last_attempt_ms BIGINT,
  last_error TEXT,
  last_error_ms BIGINT,
  retries INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE rend.billing_windows (
  stream TEXT NOT NULL,
  start_ms BIGINT NOT NULL,
  end_ms BIGINT NOT NULL,
  account_id TEXT NOT NULL,
  feature_id TEXT NOT NULL,
  value DOUBLE PRECISION NOT NULL,
  idempotency_key TEXT NOT NULL,
  committed_at_ms BIGINT NOT NULL,
  PRIMARY KEY (stream, start_ms, account_id, feature_id)
);
CREATE INDEX billing_windows_by_end ON rend.billing_windows (stream, end_ms);
