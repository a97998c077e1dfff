#include "store/postgres/billing_state.h"

#include <stdexcept>

#include "core/log.h"
#include "store/postgres/pg.h"

namespace rend::store::postgres {

namespace {

// One sync loop and a status reader: two connections are plenty.
constexpr size_t kPoolSize = 2;

class PostgresBillingStateStore final : public BillingStateStore {
 public:
  PostgresBillingStateStore(std::string url, Target target) : pool_(std::move(url), std::move(target), kPoolSize) {}

  bool healthy() override {
    // A health probe reports, it never throws.
    try {
      return pool_.run([](Connection& c) { return c.exec("SELECT count(*) FROM rend.billing_leases").rows() == 1; });
    } catch (const std::exception& e) {
      core::log::warn("postgres_unhealthy", {{"error", std::string_view(e.what())}});
      return false;
    }
  }

  bool try_acquire_lease(const std::string& name, const std::string& holder, int64_t ttl_ms, int64_t now_ms) override {
    return pool_.run([&](Connection& c) {
      // One statement: the row is taken only when free, expired, or already ours. A
      // row locked by a commit_cursor in progress makes this wait for that commit.
      return c.exec(
                  "INSERT INTO rend.billing_leases AS l (name, holder, expires_at_ms) VALUES ($1, $2, $3)"
                  " ON CONFLICT (name) DO UPDATE SET holder = EXCLUDED.holder, expires_at_ms = EXCLUDED.expires_at_ms"
                  " WHERE l.holder = EXCLUDED.holder OR l.expires_at_ms <= $4",
                  Params().add(name).add(holder).add(now_ms + ttl_ms).add(now_ms))
                 .affected() > 0;
    });
  }

  bool renew_lease(const std::string& name, const std::string& holder, int64_t ttl_ms, int64_t now_ms) override {
    return pool_.run([&](Connection& c) {
      return c.exec(
                  "UPDATE rend.billing_leases SET expires_at_ms = $3"
                  " WHERE name = $1 AND holder = $2 AND expires_at_ms > $4",
                  Params().add(name).add(holder).add(now_ms + ttl_ms).add(now_ms))
                 .affected() > 0;
    });
  }

  void release_lease(const std::string& name, const std::string& holder) override {
    pool_.run([&](Connection& c) {
      c.exec("DELETE FROM rend.billing_leases WHERE name = $1 AND holder = $2", Params().add(name).add(holder));
    });
  }

  std::optional<std::string> lease_holder(const std::string& name, int64_t now_ms) override {
    return pool_.run([&](Connection& c) -> std::optional<std::string> {
      auto r = c.exec("SELECT holder FROM rend.billing_leases WHERE name = $1 AND expires_at_ms > $2",
                      Params().add(name).add(now_ms));
      if (r.rows() == 0) return std::nullopt;
      return r.text(0, 0);
    });
  }

  std::optional<int64_t> get_cursor(const std::string& stream) override {
    return pool_.run([&](Connection& c) { return read_cursor(c, stream, false); });
  }

  bool commit_cursor(const std::string& stream, const LeaseRef& lease, std::optional<int64_t> expected_old,
                     int64_t new_end_ms, const std::vector<WindowRecord>& records, int64_t now_ms) override {
    if (expected_old && new_end_ms < *expected_old)
      throw std::invalid_argument("billing cursor of " + stream + " cannot move backwards");
    return pool_.run([&](Connection& c) {
      Transaction tx(c);
      // FOR UPDATE on the lease row: a takeover (try_acquire_lease) waits until this
      // commit ends, so the holder checked here still holds the lease at COMMIT.
      auto held = c.exec(
          "SELECT 1 FROM rend.billing_leases WHERE name = $1 AND holder = $2 AND expires_at_ms > $3"
          " FOR UPDATE",
          Params().add(lease.name).add(lease.holder).add(now_ms));
      if (held.rows() == 0) return false;
      if (read_cursor(c, stream, true) != expected_old) return false;
      c.exec(
          "INSERT INTO rend.billing_streams (stream, cursor_ms, committed_at_ms) VALUES ($1, $2, $3)"
          " ON CONFLICT (stream) DO UPDATE SET cursor_ms = EXCLUDED.cursor_ms,"
          " committed_at_ms = EXCLUDED.committed_at_ms, last_error = NULL, last_error_ms = NULL, retries = 0",
          Params().add(stream).add(new_end_ms).add(now_ms));
      const int64_t start = expected_old.value_or(new_end_ms);
      for (const auto& r : records)
        c.exec(
            "INSERT INTO rend.billing_windows (stream, start_ms, end_ms, account_id, feature_id, value,"
            " idempotency_key, committed_at_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            Params()
                .add(stream)
                .add(start)
                .add(new_end_ms)
                .add(r.account_id)
                .add(r.feature_id)
                .add(r.value)
                .add(r.idempotency_key)
                .add(now_ms));
      tx.commit();
      return true;
    });
  }

  std::vector<WindowRow> list_windows(const std::string& stream, int64_t from_ms, int64_t to_ms) override {
    return pool_.run([&](Connection& c) {
      auto r = c.exec(
          "SELECT start_ms, end_ms, account_id, feature_id, value, idempotency_key, committed_at_ms"
          " FROM rend.billing_windows WHERE stream = $1 AND start_ms < $3 AND end_ms > $2"
          " ORDER BY start_ms, account_id, feature_id",
          Params().add(stream).add(from_ms).add(to_ms));
      std::vector<WindowRow> out;
      for (int i = 0; i < r.rows(); ++i)
        out.push_back({stream,
                       r.int64(i, 0),
                       r.int64(i, 1),
                       {r.text(i, 2), r.text(i, 3), r.real(i, 4), r.text(i, 5)},
                       r.int64(i, 6)});
      return out;
    });
  }

  void record_attempt(const std::string& stream, int64_t now_ms, const std::optional<std::string>& error,
                      bool retry) override {
    pool_.run([&](Connection& c) {
      if (!error) {
        c.exec(
            "INSERT INTO rend.billing_streams (stream, last_attempt_ms) VALUES ($1, $2)"
            " ON CONFLICT (stream) DO UPDATE SET last_attempt_ms = EXCLUDED.last_attempt_ms",
            Params().add(stream).add(now_ms));
        return;
      }
      c.exec(
          "INSERT INTO rend.billing_streams AS s (stream, last_attempt_ms, last_error, last_error_ms, retries)"
          " VALUES ($1, $2, $3, $2, $4)"
          " ON CONFLICT (stream) DO UPDATE SET last_attempt_ms = EXCLUDED.last_attempt_ms,"
          " last_error = EXCLUDED.last_error, last_error_ms = EXCLUDED.last_error_ms,"
          " retries = s.retries + EXCLUDED.retries",
          Params().add(stream).add(now_ms).add(*error).add(retry ? 1 : 0));
    });
  }

  std::vector<StreamStatus> list_streams() override {
    return pool_.run([&](Connection& c) {
      auto r = c.exec(
          "SELECT stream, cursor_ms, committed_at_ms, last_attempt_ms, last_error, last_error_ms, retries"
          " FROM rend.billing_streams ORDER BY stream");
      std::vector<StreamStatus> out;
      for (int i = 0; i < r.rows(); ++i)
        out.push_back({r.text(i, 0), r.opt_int64(i, 1), r.opt_int64(i, 2), r.opt_int64(i, 3), r.opt_text(i, 4),
                       r.opt_int64(i, 5), r.int64(i, 6)});
      return out;
    });
  }

 private:
  static std::optional<int64_t> read_cursor(Connection& c, const std::string& stream, bool for_update) {
    auto r = c.exec(std::string("SELECT cursor_ms FROM rend.billing_streams WHERE stream = $1") +
                        (for_update ? " FOR UPDATE" : ""),
                    Params().add(stream));
    if (r.rows() == 0) return std::nullopt;
    return r.opt_int64(0, 0);
  }

  Pool pool_;
};

}  // namespace

std::unique_ptr<BillingStateStore> open_postgres_billing_state_store(const std::string& database_url) {
  if (!database_url.starts_with("postgres://") && !database_url.starts_with("postgresql://"))
    throw std::invalid_argument("DATABASE_URL: expected postgres://USER:PASSWORD@HOST:PORT/DBNAME");
  Target target = parse_target(database_url);
  return std::make_unique<PostgresBillingStateStore>(database_url, std::move(target));
}

}  // namespace rend::store::postgres
