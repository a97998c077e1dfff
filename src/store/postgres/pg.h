#pragma once
// A small RAII layer over libpq: a connection, a result, text parameters, a
// transaction guard and a fixed-size connection pool.
//
// Why not libpqxx: Debian ships 6.4, which predates C++20 (deprecated std::iterator
// use, no std::span/string_view-friendly API) and would be one more ABI to track for
// the dozen libpq calls we need.
//
// Every error leaves here as StoreError carrying only what is safe to log: the
// target as host:port/dbname, the SQLSTATE and the server's primary message. Never
// the URL, the password, or a DETAIL line (which quotes row values, e.g. a key hash).
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "store/metadata.h"

struct pg_conn;
struct pg_result;

namespace rend::store::postgres {

// A Postgres failure. `sqlstate` is empty for client-side failures (connection lost,
// server unreachable); `connection_lost` tells the pool the connection is unusable.
struct PgError : StoreError {
  PgError(const std::string& what, std::string sqlstate, bool connection_lost)
      : StoreError(what), sqlstate(std::move(sqlstate)), connection_lost(connection_lost) {}
  std::string sqlstate;
  bool connection_lost;
};

// Where a URL points, safe to log: parsed by libpq itself so URIs, key=value strings
// and percent-encoding are all understood the same way as when connecting.
struct Target {
  std::string host, port, dbname;
  std::string password;          // only to scrub it from libpq's messages; never printed
  std::string describe() const;  // "host:port/dbname"
};
// Throws std::invalid_argument (without echoing the URL) when libpq cannot parse it.
Target parse_target(const std::string& url);

// Query parameters, sent in text format (Postgres casts them to the column types).
class Params {
 public:
  Params& add(std::string_view v);
  Params& add(const char* v) { return add(std::string_view(v)); }
  Params& add(const std::string& v) { return add(std::string_view(v)); }
  Params& add(int64_t v);
  Params& add(int v) { return add(int64_t(v)); }
  Params& add(double v);
  Params& add(bool v);
  Params& add(std::nullopt_t);
  // Puts a value in front, as $1, renumbering the others (for helpers that own $1).
  Params& prepend(std::string_view v);
  template <class T>
  Params& add(const std::optional<T>& v) {
    return v ? add(*v) : add(std::nullopt);
  }

  int size() const { return int(values_.size()); }
  const char* const* data() const;

 private:
  std::vector<std::optional<std::string>> values_;
  mutable std::vector<const char*> ptrs_;
};

class Result {
 public:
  explicit Result(pg_result* r) : r_(r) {}
  Result(Result&& o) noexcept : r_(o.r_) { o.r_ = nullptr; }
  Result& operator=(Result&&) = delete;
  ~Result();

  int rows() const;
  // Rows touched by INSERT/UPDATE/DELETE.
  int64_t affected() const;
  bool is_null(int row, int col) const;
  std::string text(int row, int col) const;
  int64_t int64(int row, int col) const;
  double real(int row, int col) const;
  std::optional<std::string> opt_text(int row, int col) const;
  std::optional<int64_t> opt_int64(int row, int col) const;
  std::optional<double> opt_real(int row, int col) const;

  // One row, read by column alone (the shape store/codec.h's asset_from_row takes).
  struct RowView {
    const Result& r;
    int row;
    std::string text(int col) const { return r.text(row, col); }
    int64_t int64(int col) const { return r.int64(row, col); }
    std::optional<std::string> opt_text(int col) const { return r.opt_text(row, col); }
    std::optional<int64_t> opt_int64(int col) const { return r.opt_int64(row, col); }
    std::optional<double> opt_real(int col) const { return r.opt_real(row, col); }
  };
  RowView row(int row) const { return {*this, row}; }

 private:
  pg_result* r_;
};

class Connection {
 public:
  // Connects (blocking, bounded by connect_timeout, 5 s unless the URL says).
  Connection(const std::string& url, const Target& target);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // One statement with $1.. parameters.
  Result exec(std::string_view sql, const Params& params = {});
  // A parameterless script of several statements (migrations).
  void exec_script(std::string_view sql);

  // False once the server went away. An idle connection whose server closed it
  // (restart, pg_terminate_backend) is only noticed when its socket turns readable,
  // which is what this checks first.
  bool usable();
  // Fit to go back to the pool: connected and not inside a transaction (a guard that
  // failed to roll back would leave one open).
  bool reusable() const;

  // Statements sent since the last reset_counter() (the pool resets it per lease).
  int statements_sent() const { return sent_; }
  void reset_counter() {
    sent_ = 0;
    loss_ = Loss::none;
    lost_at_ = 0;
  }

  // What the first connection loss since reset_counter() may have left behind on the
  // server. Losing the connection ends the server's session and rolls back any open
  // transaction, so only a statement that could have committed on its own makes the
  // outcome unknown.
  enum class Loss {
    none,
    rolled_back,      // lost inside BEGIN..COMMIT (or on BEGIN itself): nothing was kept
    autocommit,       // lost on a statement outside a transaction: kept if it ran
    maybe_committed,  // lost on COMMIT: the server may or may not have applied it
  };
  Loss loss() const { return loss_; }
  // The statement (1-based, counted like statements_sent()) that found the loss.
  int lost_at() const { return lost_at_; }

 private:
  Result check(pg_result* r, std::string_view what, std::string_view sql, int before);

  pg_conn* conn_ = nullptr;
  const Target& target_;
  int sent_ = 0;
  Loss loss_ = Loss::none;
  int lost_at_ = 0;
};

// BEGIN ... COMMIT; rolls back unless commit() was reached.
class Transaction {
 public:
  explicit Transaction(Connection& c);
  ~Transaction();
  void commit();

 private:
  Connection& c_;
  bool done_ = false;
};

// At most `size` connections, opened on demand and shared by all threads; a caller
// waits when all are busy. A connection that turns out broken is dropped instead of
// being returned, and the next caller opens a fresh one: this is how the store rides
// out a Postgres restart without restarting Rend.
class Pool {
 public:
  Pool(std::string url, Target target, size_t size);
  ~Pool();

  // Runs fn on a connection. When the connection turns out lost (a Postgres restart,
  // a failover, pg_terminate_backend), every idle connection is dropped too (the
  // server ended them all the same way), and fn runs again, once, on a freshly opened
  // connection if that cannot apply anything twice:
  //  - the loss came inside a transaction before COMMIT: the server rolled it back,
  //    so the whole of fn is retried;
  //  - it came on the first statement of a pooled connection outside a transaction:
  //    the server ended the session while it sat idle, so the statement never ran.
  //    The server's goodbye (FATAL, then EOF) arrives asynchronously: the pool's
  //    readability check before handing a connection out cannot see one that is
  //    still on its way.
  // A loss on COMMIT, or on a later statement outside a transaction, is not retried:
  // whether the server applied it is unknown, so the caller sees the PgError
  // (connection_lost set, so the caller may retry what it knows to be idempotent).
  template <class F>
  auto run(F&& fn) -> decltype(fn(std::declval<Connection&>())) {
    for (int attempt = 0;; ++attempt) {
      Lease lease = acquire(/*fresh=*/attempt > 0);
      try {
        return fn(*lease.conn);
      } catch (const PgError& e) {
        if (!e.connection_lost) throw;
        drop_idle();
        if (attempt > 0 || !retry_is_safe(*lease.conn, lease.reused)) throw;
      }
    }
  }

  const Target& target() const { return target_; }

 private:
  struct Lease {
    Pool* pool;
    std::unique_ptr<Connection> conn;
    bool reused;  // came from the idle list rather than being opened for this call
    Lease(Pool* p, std::unique_ptr<Connection> c, bool r) : pool(p), conn(std::move(c)), reused(r) {}
    Lease(Lease&&) = default;
    ~Lease() {
      if (conn) pool->give_back(std::move(conn));
    }
  };
  // fresh: open a new connection rather than reuse an idle one (a retry after a loss).
  Lease acquire(bool fresh = false);
  void give_back(std::unique_ptr<Connection> conn);
  // Closes every idle connection (after a loss, they are most likely dead as well).
  void drop_idle();
  static bool retry_is_safe(const Connection& c, bool reused);

  const std::string url_;
  const Target target_;
  const size_t size_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::unique_ptr<Connection>> idle_;
  size_t open_ = 0;  // idle + leased + being opened
};

}  // namespace rend::store::postgres
