#include "store/postgres/pg.h"

#include <libpq-fe.h>
#include <poll.h>

#include <cctype>
#include <charconv>
#include <cstring>
#include <stdexcept>

namespace rend::store::postgres {

namespace {

// libpq's own messages may quote connection parameters; whatever it says, the
// password must not reach a log line or an HTTP 500 body.
std::string scrub(std::string msg, const Target& t) {
  if (!t.password.empty())
    for (size_t at; (at = msg.find(t.password)) != std::string::npos;) msg.replace(at, t.password.size(), "***");
  // libpq ends messages with '\n' and indents hints with "\n\t"; one line logs better.
  for (char& c : msg)
    if (c == '\n' || c == '\t') c = ' ';
  while (!msg.empty() && msg.back() == ' ') msg.pop_back();
  return msg;
}

}  // namespace

std::string Target::describe() const { return host + ":" + port + "/" + dbname; }

Target parse_target(const std::string& url) {
  char* err = nullptr;
  PQconninfoOption* opts = PQconninfoParse(url.c_str(), &err);
  if (!opts) {
    // err can quote the malformed part, which may be the password.
    PQfreemem(err);
    throw std::invalid_argument("DATABASE_URL is not a valid postgres URL");
  }
  Target t;
  std::string user, hostaddr;
  for (auto* o = opts; o->keyword; ++o) {
    if (!o->val) continue;
    std::string_view k = o->keyword;
    if (k == "host") t.host = o->val;
    else if (k == "hostaddr") hostaddr = o->val;
    else if (k == "port") t.port = o->val;
    else if (k == "dbname") t.dbname = o->val;
    else if (k == "user") user = o->val;
    else if (k == "password") t.password = o->val;
  }
  PQconninfoFree(opts);
  // libpq's own defaults, so the description says where it will really connect.
  if (t.host.empty()) t.host = hostaddr.empty() ? "localhost" : hostaddr;
  if (t.port.empty()) t.port = "5432";
  if (t.dbname.empty()) t.dbname = user.empty() ? "(default)" : user;
  return t;
}

// ---- Params

Params& Params::add(std::string_view v) {
  values_.emplace_back(std::string(v));
  return *this;
}

Params& Params::prepend(std::string_view v) {
  values_.emplace(values_.begin(), std::string(v));
  return *this;
}

Params& Params::add(int64_t v) {
  values_.emplace_back(std::to_string(v));
  return *this;
}

Params& Params::add(double v) {
  char buf[64];
  // Shortest text that reads back as the same double.
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  values_.emplace_back(std::string(buf, end));
  return *this;
}

Params& Params::add(bool v) {
  values_.emplace_back(v ? "true" : "false");
  return *this;
}

Params& Params::add(std::nullopt_t) {
  values_.emplace_back(std::nullopt);
  return *this;
}

const char* const* Params::data() const {
  ptrs_.clear();
  for (const auto& v : values_) ptrs_.push_back(v ? v->c_str() : nullptr);
  return ptrs_.data();
}

// ---- Result

Result::~Result() {
  if (r_) PQclear(r_);
}

int Result::rows() const { return PQntuples(r_); }

int64_t Result::affected() const {
  const char* n = PQcmdTuples(r_);
  int64_t v = 0;
  std::from_chars(n, n + std::strlen(n), v);
  return v;
}

bool Result::is_null(int row, int col) const { return PQgetisnull(r_, row, col); }

std::string Result::text(int row, int col) const {
  return std::string(PQgetvalue(r_, row, col), size_t(PQgetlength(r_, row, col)));
}

namespace {
// A column's text value as a number (libpq returns every value as text).
template <class T>
T column_number(pg_result* r, int row, int col, const char* what) {
  const char* p = PQgetvalue(r, row, col);
  T v{};
  auto [end, ec] = std::from_chars(p, p + PQgetlength(r, row, col), v);
  if (ec != std::errc()) throw StoreError("postgres: column " + std::to_string(col) + " is not " + what);
  return v;
}
}  // namespace

int64_t Result::int64(int row, int col) const { return column_number<int64_t>(r_, row, col, "an integer"); }

double Result::real(int row, int col) const { return column_number<double>(r_, row, col, "a number"); }

std::optional<std::string> Result::opt_text(int row, int col) const {
  return is_null(row, col) ? std::nullopt : std::optional(text(row, col));
}
std::optional<int64_t> Result::opt_int64(int row, int col) const {
  return is_null(row, col) ? std::nullopt : std::optional(int64(row, col));
}
std::optional<double> Result::opt_real(int row, int col) const {
  return is_null(row, col) ? std::nullopt : std::optional(real(row, col));
}

// ---- Connection

Connection::Connection(const std::string& url, const Target& target) : target_(target) {
  // Defaults first: with expand_dbname the URL is expanded in place of "dbname" and
  // overrides what came before it, so a connect_timeout in the URL still wins. The
  // timeout keeps a vanished host from hanging healthy() (and a /readyz probe).
  const char* keywords[] = {"connect_timeout", "application_name", "dbname", nullptr};
  const char* values[] = {"5", "rend", url.c_str(), nullptr};
  conn_ = PQconnectdbParams(keywords, values, /*expand_dbname=*/1);
  if (!conn_) throw PgError("postgres " + target_.describe() + ": out of memory", "", true);
  if (PQstatus(conn_) != CONNECTION_OK) {
    std::string why = scrub(PQerrorMessage(conn_), target_);
    PQfinish(conn_);
    conn_ = nullptr;
    throw PgError("postgres " + target_.describe() + ": cannot connect: " + why, "", true);
  }
  // libpq prints server NOTICEs to stderr, outside the structured log; the only ones
  // we cause are expected ("schema \"rend\" already exists, skipping" on every start).
  PQsetNoticeProcessor(
      conn_, [](void*, const char*) {}, nullptr);
}

Connection::~Connection() {
  if (conn_) PQfinish(conn_);
}

namespace {

bool starts_with_keyword(std::string_view sql, std::string_view kw) {
  while (!sql.empty() && (sql.front() == ' ' || sql.front() == '\n' || sql.front() == '\t')) sql.remove_prefix(1);
  if (sql.size() < kw.size()) return false;
  for (size_t i = 0; i < kw.size(); ++i)
    if (std::toupper(static_cast<unsigned char>(sql[i])) != kw[i]) return false;
  return sql.size() == kw.size() || !std::isalnum(static_cast<unsigned char>(sql[kw.size()]));
}

}  // namespace

Result Connection::check(pg_result* r, std::string_view what, std::string_view sql, int before) {
  const auto st = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
  if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) return Result(r);
  Result owned(r);  // freed on the way out
  std::string sqlstate, msg;
  if (r) {
    if (const char* s = PQresultErrorField(r, PG_DIAG_SQLSTATE)) sqlstate = s;
    // The primary message only: DETAIL quotes row values (e.g. "Key (secret_hash)=(...)").
    if (const char* m = PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY)) msg = m;
  }
  if (msg.empty()) msg = PQerrorMessage(conn_);  // client-side failure, e.g. connection lost
  const bool lost = PQstatus(conn_) != CONNECTION_OK || sqlstate.starts_with("08") || sqlstate.starts_with("57P");
  if (lost && loss_ == Loss::none) {
    lost_at_ = sent_;
    if (starts_with_keyword(sql, "COMMIT") || starts_with_keyword(sql, "END")) loss_ = Loss::maybe_committed;
    else if (before == PQTRANS_INTRANS || before == PQTRANS_INERROR || starts_with_keyword(sql, "BEGIN") ||
             starts_with_keyword(sql, "ROLLBACK"))
      loss_ = Loss::rolled_back;
    else loss_ = Loss::autocommit;
  }
  std::string text = "postgres " + target_.describe() + ": " + std::string(what) + ": " + scrub(msg, target_);
  if (!sqlstate.empty()) text += " (SQLSTATE " + sqlstate + ")";
  throw PgError(text, sqlstate, lost);
}

Result Connection::exec(std::string_view sql, const Params& params) {
  ++sent_;
  const int before = PQtransactionStatus(conn_);
  const std::string q(sql);
  return check(PQexecParams(conn_, q.c_str(), params.size(), nullptr, params.data(), nullptr, nullptr, 0),
               "query failed", sql, before);
}

void Connection::exec_script(std::string_view sql) {
  ++sent_;
  const int before = PQtransactionStatus(conn_);
  const std::string q(sql);
  // PQexec (not PQexecParams) is what accepts several statements in one string.
  check(PQexec(conn_, q.c_str()), "script failed", sql, before);
}

bool Connection::usable() {
  if (PQstatus(conn_) != CONNECTION_OK) return false;
  // Nothing is ever in flight on an idle connection, so anything to read means the
  // server is saying goodbye (FATAL: terminating connection ..., then EOF) or sent an
  // unsolicited notice we have no use for. Either way a fresh connection is the safe
  // and cheap answer; libpq would only notice the first case on the next query.
  pollfd p{PQsocket(conn_), POLLIN, 0};
  return p.fd >= 0 && poll(&p, 1, 0) == 0;
}

bool Connection::reusable() const {
  return PQstatus(conn_) == CONNECTION_OK && PQtransactionStatus(conn_) == PQTRANS_IDLE;
}

// ---- Transaction

Transaction::Transaction(Connection& c) : c_(c) { c_.exec("BEGIN"); }

Transaction::~Transaction() {
  if (done_) return;
  try {
    c_.exec("ROLLBACK");
  } catch (const StoreError&) {
    // The connection is gone or broken; the pool sees that and drops it.
  }
}

void Transaction::commit() {
  // Whatever COMMIT reports, the transaction is over: no ROLLBACK afterwards.
  done_ = true;
  c_.exec("COMMIT");
}

// ---- Pool

Pool::Pool(std::string url, Target target, size_t size)
    : url_(std::move(url)), target_(std::move(target)), size_(size == 0 ? 1 : size) {}

Pool::~Pool() = default;

Pool::Lease Pool::acquire(bool fresh) {
  std::unique_lock lock(mu_);
  std::vector<std::unique_ptr<Connection>> discard;  // closed after the lock is released
  for (;;) {
    if (fresh && !idle_.empty() && open_ >= size_) {
      // Make room for the fresh connection rather than wait for a busy one.
      discard.push_back(std::move(idle_.back()));
      idle_.pop_back();
      --open_;
      continue;
    }
    if (!fresh && !idle_.empty()) {
      auto c = std::move(idle_.back());
      idle_.pop_back();
      if (c->usable()) {
        c->reset_counter();
        return Lease(this, std::move(c), true);
      }
      --open_;  // dropped (closed by c's destructor); its slot is free again
      continue;
    }
    if (open_ < size_) {
      ++open_;
      // Connect without the lock: a slow or unreachable server must not stall
      // callers that could use an idle connection meanwhile.
      lock.unlock();
      try {
        return Lease(this, std::make_unique<Connection>(url_, target_), false);
      } catch (...) {
        lock.lock();
        --open_;
        cv_.notify_one();
        throw;
      }
    }
    cv_.wait(lock);
  }
}

void Pool::drop_idle() {
  std::vector<std::unique_ptr<Connection>> dropped;
  {
    std::lock_guard lock(mu_);
    dropped.swap(idle_);
    open_ -= dropped.size();
  }
  cv_.notify_all();
  // Closed here, outside the lock.
}

bool Pool::retry_is_safe(const Connection& c, bool reused) {
  switch (c.loss()) {
    case Connection::Loss::rolled_back: return true;
    case Connection::Loss::autocommit: return reused && c.lost_at() == 1;
    default: return false;
  }
}

void Pool::give_back(std::unique_ptr<Connection> conn) {
  const bool keep = conn->reusable();
  {
    std::lock_guard lock(mu_);
    if (keep) idle_.push_back(std::move(conn));
    else --open_;
  }
  cv_.notify_one();
  // A dropped connection is closed here, outside the lock.
}

}  // namespace rend::store::postgres
