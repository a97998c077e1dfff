#pragma once
// The usage sync's durable state (issue 12, docs/billing-autumn-v1.md "Usage sync"):
// one lease so a single process sends usage at a time, one cursor per stream (the
// end of the last window sent and committed), the ledger of what each committed
// window billed (the reconciliation record, and the totals `GET /v1/usage` shows in
// local mode), and the last attempt/error per stream for `rend billing status`.
//
// Backends: SQLite (the metadata file) and Postgres (schema `rend`). The tables come
// from the metadata migrations (sqlite 0008, postgres 0005): run the metadata store's
// migrate() first; this store never migrates.
//
// Every method is thread-safe and may be called from several processes on one
// database; each read-modify-write is one transaction. Times are unix ms from the
// caller's clock (the lease compares them, so all processes need roughly agreeing
// clocks; the TTL is the margin).
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace rend::store {

// The lease a cursor commit is checked against: its name and the caller's holder id.
struct LeaseRef {
  std::string name;
  std::string holder;
};

// One (account, feature) line of a committed window: what was billed and under which
// idempotency key (empty in local mode, where nothing is sent).
struct WindowRecord {
  std::string account_id;
  std::string feature_id;
  double value = 0;  // delivered: fractional minutes in the window; storage: absolute minutes
  std::string idempotency_key;
};

struct WindowRow {
  std::string stream;
  int64_t start_ms = 0;
  int64_t end_ms = 0;
  WindowRecord record;
  int64_t committed_at_ms = 0;
};

struct StreamStatus {
  std::string stream;
  std::optional<int64_t> cursor_ms;        // end of the last committed window
  std::optional<int64_t> committed_at_ms;  // when it was committed
  std::optional<int64_t> last_attempt_ms;  // the last time a window of this stream was tried
  std::optional<std::string> last_error;   // the last attempt's error; none after a success
  std::optional<int64_t> last_error_ms;
  int64_t retries = 0;  // retryable failures since the last committed window
};

class BillingStateStore {
 public:
  virtual ~BillingStateStore() = default;

  virtual bool healthy() = 0;

  // Takes lease `name` for `holder` until now_ms + ttl_ms when it is free, expired,
  // or already held by `holder` (then it is renewed). False while another holder's
  // lease is unexpired.
  virtual bool try_acquire_lease(const std::string& name, const std::string& holder, int64_t ttl_ms,
                                 int64_t now_ms) = 0;
  // Extends the lease only if `holder` still holds it unexpired; false otherwise (it
  // expired, or another process took it over): the caller must stop sending.
  virtual bool renew_lease(const std::string& name, const std::string& holder, int64_t ttl_ms, int64_t now_ms) = 0;
  // Gives the lease up if `holder` holds it (a clean shutdown lets the next process
  // start at once instead of waiting out the TTL).
  virtual void release_lease(const std::string& name, const std::string& holder) = 0;
  // The current holder, or none when free or expired (status display).
  virtual std::optional<std::string> lease_holder(const std::string& name, int64_t now_ms) = 0;

  virtual std::optional<int64_t> get_cursor(const std::string& stream) = 0;
  // Compare-and-set of the stream's cursor from `expected_old` (none: the stream has
  // no cursor yet) to `new_end_ms`, in one transaction with inserting `records` as
  // the window [start, new_end) (start = expected_old, or new_end for a first cursor
  // without records). Applied only when `lease` is held unexpired at now_ms and the
  // cursor still equals expected_old; returns false (nothing changed) otherwise, so a
  // process that lost its lease, or raced another, can never move a cursor.
  // Also clears the stream's last error and retry count.
  virtual bool commit_cursor(const std::string& stream, const LeaseRef& lease, std::optional<int64_t> expected_old,
                             int64_t new_end_ms, const std::vector<WindowRecord>& records, int64_t now_ms) = 0;

  // Committed window lines of `stream` whose window overlaps [from_ms, to_ms), in
  // window order then account, feature.
  virtual std::vector<WindowRow> list_windows(const std::string& stream, int64_t from_ms, int64_t to_ms) = 0;

  // Records an attempt at the stream's next window: error none = it is progressing;
  // an error is kept (never a secret: callers pass AutumnClient's redacted text) and,
  // when `retry`, counted as a retry.
  virtual void record_attempt(const std::string& stream, int64_t now_ms, const std::optional<std::string>& error,
                              bool retry) = 0;
  // Every stream that has a cursor or an attempt, by name.
  virtual std::vector<StreamStatus> list_streams() = 0;
};

}  // namespace rend::store
