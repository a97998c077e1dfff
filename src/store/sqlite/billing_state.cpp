#include "store/sqlite/billing_state.h"

#include <mutex>
#include <stdexcept>

#include "store/metadata.h"
#include "store/sqlite/db.h"

namespace rend::store::sqlite {

namespace {

constexpr std::string_view kStreamColumns =
    "stream, cursor_ms, committed_at_ms, last_attempt_ms, last_error, last_error_ms, retries";

class SqliteBillingStateStore final : public BillingStateStore {
 public:
  explicit SqliteBillingStateStore(const std::string& path) : db_(path) {}

  bool healthy() override {
    std::lock_guard lock(mu_);
    try {
      return Stmt(db_, "SELECT count(*) FROM billing_leases").step();
    } catch (const StoreError&) {
      return false;
    }
  }

  bool try_acquire_lease(const std::string& name, const std::string& holder, int64_t ttl_ms, int64_t now_ms) override {
    std::lock_guard lock(mu_);
    // One statement: the row is taken only when free, expired, or already ours.
    return execute(db_,
                   "INSERT INTO billing_leases (name, holder, expires_at_ms) VALUES (?1, ?2, ?3)"
                   " ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at_ms = excluded.expires_at_ms"
                   " WHERE billing_leases.holder = excluded.holder OR billing_leases.expires_at_ms <= ?4",
                   name, holder, now_ms + ttl_ms, now_ms) > 0;
  }

  bool renew_lease(const std::string& name, const std::string& holder, int64_t ttl_ms, int64_t now_ms) override {
    std::lock_guard lock(mu_);
    return execute(db_,
                   "UPDATE billing_leases SET expires_at_ms = ?3"
                   " WHERE name = ?1 AND holder = ?2 AND expires_at_ms > ?4",
                   name, holder, now_ms + ttl_ms, now_ms) > 0;
  }

  void release_lease(const std::string& name, const std::string& holder) override {
    std::lock_guard lock(mu_);
    execute(db_, "DELETE FROM billing_leases WHERE name = ?1 AND holder = ?2", name, holder);
  }

  std::optional<std::string> lease_holder(const std::string& name, int64_t now_ms) override {
    std::lock_guard lock(mu_);
    Stmt s(db_, "SELECT holder FROM billing_leases WHERE name = ?1 AND expires_at_ms > ?2");
    s.bind_all(name, now_ms);
    if (!s.step()) return std::nullopt;
    return s.text(0);
  }

  std::optional<int64_t> get_cursor(const std::string& stream) override {
    std::lock_guard lock(mu_);
    return read_cursor(stream);
  }

  bool commit_cursor(const std::string& stream, const LeaseRef& lease, std::optional<int64_t> expected_old,
                     int64_t new_end_ms, const std::vector<WindowRecord>& records, int64_t now_ms) override {
    if (expected_old && new_end_ms < *expected_old)
      throw std::invalid_argument("billing cursor of " + stream + " cannot move backwards");
    std::lock_guard lock(mu_);
    // BEGIN IMMEDIATE holds the file's write lock from the lease check to COMMIT, so a
    // takeover by another process cannot slip in between.
    WriteTx tx(db_);
    {
      Stmt s(db_, "SELECT 1 FROM billing_leases WHERE name = ?1 AND holder = ?2 AND expires_at_ms > ?3");
      s.bind_all(lease.name, lease.holder, now_ms);
      if (!s.step()) return false;
    }
    if (read_cursor(stream) != expected_old) return false;
    execute(db_,
            "INSERT INTO billing_streams (stream, cursor_ms, committed_at_ms) VALUES (?1, ?2, ?3)"
            " ON CONFLICT (stream) DO UPDATE SET cursor_ms = excluded.cursor_ms,"
            " committed_at_ms = excluded.committed_at_ms, last_error = NULL, last_error_ms = NULL, retries = 0",
            stream, new_end_ms, now_ms);
    const int64_t start = expected_old.value_or(new_end_ms);
    for (const auto& r : records)
      execute(db_,
              "INSERT INTO billing_windows (stream, start_ms, end_ms, account_id, feature_id, value,"
              " idempotency_key, committed_at_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
              stream, start, new_end_ms, r.account_id, r.feature_id, r.value, r.idempotency_key, now_ms);
    tx.commit();
    return true;
  }

  std::vector<WindowRow> list_windows(const std::string& stream, int64_t from_ms, int64_t to_ms) override {
    std::lock_guard lock(mu_);
    Stmt s(db_,
           "SELECT start_ms, end_ms, account_id, feature_id, value, idempotency_key, committed_at_ms"
           " FROM billing_windows WHERE stream = ?1 AND start_ms < ?3 AND end_ms > ?2"
           " ORDER BY start_ms, account_id, feature_id");
    s.bind_all(stream, from_ms, to_ms);
    std::vector<WindowRow> out;
    while (s.step())
      out.push_back({stream, s.int64(0), s.int64(1), {s.text(2), s.text(3), s.real(4), s.text(5)}, s.int64(6)});
    return out;
  }

  void record_attempt(const std::string& stream, int64_t now_ms, const std::optional<std::string>& error,
                      bool retry) override {
    std::lock_guard lock(mu_);
    if (!error) {
      execute(db_,
              "INSERT INTO billing_streams (stream, last_attempt_ms) VALUES (?1, ?2)"
              " ON CONFLICT (stream) DO UPDATE SET last_attempt_ms = excluded.last_attempt_ms",
              stream, now_ms);
      return;
    }
    execute(db_,
            "INSERT INTO billing_streams (stream, last_attempt_ms, last_error, last_error_ms, retries)"
            " VALUES (?1, ?2, ?3, ?2, ?4)"
            " ON CONFLICT (stream) DO UPDATE SET last_attempt_ms = excluded.last_attempt_ms,"
            " last_error = excluded.last_error, last_error_ms = excluded.last_error_ms,"
            " retries = billing_streams.retries + excluded.retries",
            stream, now_ms, *error, retry ? 1 : 0);
  }

  std::vector<StreamStatus> list_streams() override {
    std::lock_guard lock(mu_);
    Stmt s(db_, "SELECT " + std::string(kStreamColumns) + " FROM billing_streams ORDER BY stream");
    std::vector<StreamStatus> out;
    while (s.step())
      out.push_back(
          {s.text(0), s.opt_int64(1), s.opt_int64(2), s.opt_int64(3), s.opt_text(4), s.opt_int64(5), s.int64(6)});
    return out;
  }

 private:
  // Caller holds mu_.
  std::optional<int64_t> read_cursor(const std::string& stream) {
    Stmt s(db_, "SELECT cursor_ms FROM billing_streams WHERE stream = ?1");
    s.bind(1, stream);
    if (!s.step()) return std::nullopt;
    return s.opt_int64(0);
  }

  std::mutex mu_;
  Db db_;
};

}  // namespace

std::unique_ptr<BillingStateStore> open_sqlite_billing_state_store(const std::string& path) {
  return std::make_unique<SqliteBillingStateStore>(path);
}

}  // namespace rend::store::sqlite
