#pragma once
// A thin RAII layer over the SQLite C API. Not thread-safe: the owner serializes
// access (SqliteMetadataStore holds a mutex around every use of a Db).
#include <concepts>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

struct sqlite3;
struct sqlite3_stmt;

namespace rend::store::sqlite {

class Db {
 public:
  // Opens (creating if needed) the database file and configures the connection:
  // WAL, a 5 s busy timeout (other processes share the file) and foreign keys.
  explicit Db(const std::string& path);
  ~Db();
  Db(const Db&) = delete;
  Db& operator=(const Db&) = delete;

  sqlite3* handle() const { return db_; }
  // Runs one or more statements that return no rows of interest.
  void exec(std::string_view sql);
  int64_t changes() const;
  // Throws StoreError with `what` and SQLite's message for the last failure.
  [[noreturn]] void fail(std::string_view what) const;

 private:
  sqlite3* db_ = nullptr;
};

class Stmt {
 public:
  Stmt(Db& db, std::string_view sql);
  ~Stmt();
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;

  // Parameters are 1-based (?1, ?2, ...).
  Stmt& bind(int i, std::string_view v);
  Stmt& bind(int i, const char* v) { return bind(i, std::string_view(v)); }
  Stmt& bind(int i, const std::string& v) { return bind(i, std::string_view(v)); }
  Stmt& bind(int i, double v);
  Stmt& bind(int i, std::integral auto v) { return bind_int64(i, int64_t(v)); }
  Stmt& bind(int i, std::nullopt_t);
  template <class T>
  Stmt& bind(int i, const std::optional<T>& v) {
    return v ? bind(i, *v) : bind(i, std::nullopt);
  }

  // Binds args to ?1, ?2, ... in order.
  template <class... A>
  Stmt& bind_all(const A&... args) {
    int i = 0;
    (bind(++i, args), ...);
    return *this;
  }

  // True when a row is available; false when the statement is done.
  bool step();
  // Steps a statement that returns no rows.
  void run();
  // Makes a stepped statement runnable again, its parameters unbound: one prepare for
  // many executions.
  void reset();

  bool is_null(int col) const;
  int64_t int64(int col) const;
  double real(int col) const;
  std::string text(int col) const;
  std::optional<int64_t> opt_int64(int col) const;
  std::optional<double> opt_real(int col) const;
  std::optional<std::string> opt_text(int col) const;

 private:
  Stmt& bind_int64(int i, int64_t v);
  void check_bind(int rc);

  Db& db_;
  sqlite3_stmt* stmt_ = nullptr;
};

// Runs one statement that returns no rows, with args bound to ?1, ?2, ... in order;
// returns how many rows it changed.
template <class... A>
int64_t execute(Db& db, std::string_view sql, const A&... args) {
  Stmt(db, sql).bind_all(args...).run();
  return db.changes();
}

// BEGIN IMMEDIATE: takes the write lock up front, so two processes never both read a
// row and then race to update it (and a busy writer is waited for, not an error).
// Rolls back unless commit() was called.
class WriteTx {
 public:
  explicit WriteTx(Db& db);
  ~WriteTx();
  WriteTx(const WriteTx&) = delete;
  WriteTx& operator=(const WriteTx&) = delete;
  void commit();

 private:
  Db& db_;
  bool done_ = false;
};

}  // namespace rend::store::sqlite
