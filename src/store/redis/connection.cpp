#include "store/redis/connection.h"

#include <sys/time.h>
#include <cerrno>
#include <utility>
#include <vector>

namespace rend::store::redis {
namespace {

timeval to_timeval(std::chrono::milliseconds t) {
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(t.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((t.count() % 1000) * 1000);
  return tv;
}

struct Argv {
  std::vector<const char*> ptrs;
  std::vector<size_t> lens;
  explicit Argv(std::initializer_list<std::string_view> args) {
    ptrs.reserve(args.size());
    lens.reserve(args.size());
    for (auto a : args) {
      ptrs.push_back(a.data());
      lens.push_back(a.size());
    }
  }
};

std::string command_name(std::initializer_list<std::string_view> args) {
  return args.size() ? std::string(*args.begin()) : std::string("(empty)");
}

}  // namespace

std::string_view reply_str(const redisReply& r) { return r.str ? std::string_view(r.str, r.len) : std::string_view{}; }

Connection Connection::open(const RedisUrl& url, const Options& opts) {
  redisContext* raw = redisConnectWithTimeout(url.host.c_str(), url.port, to_timeval(opts.connect_timeout));
  if (!raw) throw Error("redis " + url.server() + ": cannot allocate a connection");
  if (raw->err) {
    std::string msg = "redis " + url.server() + ": connect: " + raw->errstr;
    redisFree(raw);
    throw Error(msg);
  }
  Connection c(raw, url.server());
  c.set_timeout(opts.command_timeout);
  // Notices a peer that vanished without closing (host down, network partition),
  // which a subscriber blocked in read would otherwise wait on forever.
  redisEnableKeepAlive(c.ctx_);

  // command() errors carry the command name and the server's reply (e.g. WRONGPASS
  // ...), never the arguments, so a failed AUTH does not leak the password.
  if (!url.password.empty()) {
    if (url.user.empty()) c.command({"AUTH", url.password});
    else c.command({"AUTH", url.user, url.password});
  }
  if (url.db != 0) c.command({"SELECT", std::to_string(url.db)});
  if (!opts.client_name.empty()) {
    try {
      c.command({"CLIENT", "SETNAME", opts.client_name});
    } catch (const Error&) {
      if (c.broken()) throw;
      // An ACL may forbid CLIENT; the name is a convenience only.
    }
  }
  return c;
}

Connection& Connection::operator=(Connection&& o) noexcept {
  if (this != &o) {
    if (ctx_) redisFree(ctx_);
    ctx_ = std::exchange(o.ctx_, nullptr);
    server_ = std::move(o.server_);
    closed_by_peer_ = o.closed_by_peer_;
  }
  return *this;
}

Connection::~Connection() {
  if (ctx_) redisFree(ctx_);
}

void Connection::transport_failure(std::string_view what) {
  // hiredis leaves errno from the failing read/write in place; a reset or EOF
  // means the server side went away, a timeout (EAGAIN) means it is slow or gone.
  const int err = errno;
  closed_by_peer_ = ctx_->err == REDIS_ERR_EOF ||
                    (ctx_->err == REDIS_ERR_IO && (err == ECONNRESET || err == EPIPE || err == ENOTCONN));
  if (ctx_->err == 0) ctx_->err = REDIS_ERR_OTHER;  // never reuse a stream in an unknown state
  throw Error("redis " + server_ + ": " + std::string(what) + ": " + ctx_->errstr);
}

Reply Connection::command(std::initializer_list<std::string_view> args) {
  if (broken()) throw Error("redis " + server_ + ": connection is broken");
  Argv argv(args);
  errno = 0;
  Reply r(static_cast<redisReply*>(
      redisCommandArgv(ctx_, static_cast<int>(argv.ptrs.size()), argv.ptrs.data(), argv.lens.data())));
  if (!r) transport_failure(command_name(args));
  if (r->type == REDIS_REPLY_ERROR)
    throw Error("redis " + server_ + ": " + command_name(args) + ": " + std::string(reply_str(*r)));
  return r;
}

void Connection::send(std::initializer_list<std::string_view> args) {
  if (broken()) throw Error("redis " + server_ + ": connection is broken");
  Argv argv(args);
  errno = 0;
  if (redisAppendCommandArgv(ctx_, static_cast<int>(argv.ptrs.size()), argv.ptrs.data(), argv.lens.data()) != REDIS_OK)
    transport_failure(command_name(args));
  int done = 0;
  while (!done) {
    if (redisBufferWrite(ctx_, &done) != REDIS_OK) transport_failure(command_name(args));
  }
}

void Connection::read_some() {
  errno = 0;
  if (redisBufferRead(ctx_) != REDIS_OK) transport_failure("read");
}

Reply Connection::next_reply() {
  void* raw = nullptr;
  if (redisGetReplyFromReader(ctx_, &raw) != REDIS_OK) transport_failure("protocol");
  return Reply(static_cast<redisReply*>(raw));
}

void Connection::set_timeout(std::chrono::milliseconds t) { redisSetTimeout(ctx_, to_timeval(t)); }

}  // namespace rend::store::redis
