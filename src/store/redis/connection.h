#pragma once
// A small RAII layer over a synchronous hiredis connection (libhiredis 0.14).
#include <chrono>
#include <initializer_list>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>

#include <hiredis/hiredis.h>

#include "store/redis/url.h"

namespace rend::store::redis {

// Any failure talking to Redis. Messages name the server and the command, never
// the arguments (AUTH's would be the password) or the URL.
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct ReplyDeleter {
  void operator()(redisReply* r) const {
    if (r) freeReplyObject(r);
  }
};
using Reply = std::unique_ptr<redisReply, ReplyDeleter>;

std::string_view reply_str(const redisReply& r);

class Connection {
 public:
  struct Options {
    std::chrono::milliseconds connect_timeout{2000};
    std::chrono::milliseconds command_timeout{2000};
    // CLIENT SETNAME, best effort: lets operators (and tests) tell connections apart.
    std::string client_name;
  };

  // Connects, then AUTH and SELECT as the URL asks. Throws Error.
  static Connection open(const RedisUrl& url, const Options& opts);

  Connection(Connection&& o) noexcept : ctx_(std::exchange(o.ctx_, nullptr)), server_(std::move(o.server_)) {}
  Connection& operator=(Connection&& o) noexcept;
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;
  ~Connection();

  // Sends one command and reads its reply. Throws Error for an error reply (the
  // connection stays usable) and for a transport failure (broken() is then true:
  // hiredis cannot resynchronise a stream after a timeout or a reset).
  Reply command(std::initializer_list<std::string_view> args);

  // For a subscribed connection, driven by poll() on fd(): send() writes a command
  // without waiting for its reply; read_some() reads what the socket has (call when
  // readable); next_reply() returns a complete buffered reply or null.
  void send(std::initializer_list<std::string_view> args);
  void read_some();
  Reply next_reply();

  void set_timeout(std::chrono::milliseconds t);
  int fd() const { return ctx_->fd; }
  bool broken() const { return ctx_->err != 0; }
  // The server closed or reset the connection (restarted, CLIENT KILL, idle
  // timeout), as opposed to a timeout: a fresh connection will likely work.
  bool closed_by_peer() const { return closed_by_peer_; }
  const std::string& server() const { return server_; }

 private:
  Connection(redisContext* ctx, std::string server) : ctx_(ctx), server_(std::move(server)) {}
  [[noreturn]] void transport_failure(std::string_view what);

  redisContext* ctx_ = nullptr;
  std::string server_;
  bool closed_by_peer_ = false;
};

}  // namespace rend::store::redis
