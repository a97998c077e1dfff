#include "store/sqlite/db.h"

#include <sqlite3.h>

#include "core/log.h"
#include "store/metadata.h"

namespace rend::store::sqlite {

namespace {
constexpr int kBusyTimeoutMs = 5000;
}

Db::Db(const std::string& path) {
  int rc =
      sqlite3_open_v2(path.c_str(), &db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    std::string msg = db_ ? sqlite3_errmsg(db_) : sqlite3_errstr(rc);
    sqlite3_close(db_);
    db_ = nullptr;
    throw StoreError("sqlite: cannot open " + path + ": " + msg);
  }
  sqlite3_extended_result_codes(db_, 1);
  // Before switching to WAL: the switch itself needs a lock another process may hold.
  sqlite3_busy_timeout(db_, kBusyTimeoutMs);
  {
    Stmt mode(*this, "PRAGMA journal_mode=WAL");
    if (!mode.step() || mode.text(0) != "wal") core::log::warn("sqlite_wal_unavailable", {{"path", path}});
  }
  // NORMAL is durable across application crashes in WAL mode; only an OS crash can
  // lose the last transactions, which the job queue tolerates (lock expiry, retries).
  exec("PRAGMA foreign_keys=ON; PRAGMA synchronous=NORMAL;");
}

Db::~Db() { sqlite3_close_v2(db_); }

void Db::exec(std::string_view sql) {
  std::string s(sql);
  if (sqlite3_exec(db_, s.c_str(), nullptr, nullptr, nullptr) != SQLITE_OK) fail("exec");
}

int64_t Db::changes() const { return sqlite3_changes(db_); }

void Db::fail(std::string_view what) const {
  throw StoreError("sqlite: " + std::string(what) + ": " + sqlite3_errmsg(db_));
}

Stmt::Stmt(Db& db, std::string_view sql) : db_(db) {
  if (sqlite3_prepare_v2(db.handle(), sql.data(), int(sql.size()), &stmt_, nullptr) != SQLITE_OK) db.fail("prepare");
}

Stmt::~Stmt() { sqlite3_finalize(stmt_); }

void Stmt::check_bind(int rc) {
  if (rc != SQLITE_OK) db_.fail("bind");
}

Stmt& Stmt::bind(int i, std::string_view v) {
  check_bind(sqlite3_bind_text(stmt_, i, v.data(), int(v.size()), SQLITE_TRANSIENT));
  return *this;
}

Stmt& Stmt::bind(int i, double v) {
  check_bind(sqlite3_bind_double(stmt_, i, v));
  return *this;
}

Stmt& Stmt::bind(int i, std::nullopt_t) {
  check_bind(sqlite3_bind_null(stmt_, i));
  return *this;
}

Stmt& Stmt::bind_int64(int i, int64_t v) {
  check_bind(sqlite3_bind_int64(stmt_, i, v));
  return *this;
}

bool Stmt::step() {
  int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  db_.fail("step");
}

void Stmt::run() {
  while (step()) {
  }
}

void Stmt::reset() {
  sqlite3_reset(stmt_);  // its return code repeats the last step's, already reported
  sqlite3_clear_bindings(stmt_);
}

bool Stmt::is_null(int col) const { return sqlite3_column_type(stmt_, col) == SQLITE_NULL; }
int64_t Stmt::int64(int col) const { return sqlite3_column_int64(stmt_, col); }
double Stmt::real(int col) const { return sqlite3_column_double(stmt_, col); }

std::string Stmt::text(int col) const {
  auto p = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, col));
  return p ? std::string(p, size_t(sqlite3_column_bytes(stmt_, col))) : std::string();
}

std::optional<int64_t> Stmt::opt_int64(int col) const {
  return is_null(col) ? std::nullopt : std::optional(int64(col));
}
std::optional<double> Stmt::opt_real(int col) const { return is_null(col) ? std::nullopt : std::optional(real(col)); }
std::optional<std::string> Stmt::opt_text(int col) const {
  return is_null(col) ? std::nullopt : std::optional(text(col));
}

WriteTx::WriteTx(Db& db) : db_(db) { db_.exec("BEGIN IMMEDIATE"); }

WriteTx::~WriteTx() {
  if (!done_) sqlite3_exec(db_.handle(), "ROLLBACK", nullptr, nullptr, nullptr);
}

void WriteTx::commit() {
  db_.exec("COMMIT");
  done_ = true;
}

}  // namespace rend::store::sqlite
