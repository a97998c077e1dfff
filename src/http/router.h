#pragma once
// Method + path-pattern routing. Patterns are '/'-separated: literal segments,
// "{name}" for one segment and "{name*}" (last only) for the raw rest of the path.
// Params are raw (not percent-decoded): handlers validate them.
#include <condition_variable>
#include <functional>
#include <mutex>
#include <stdexcept>

#include "http/message.h"

namespace rend::http {

// A response body whose bytes arrive over time from elsewhere (an edge fill streaming
// from its origin). The server polls it with try_read() on the connection's I/O
// thread and, while nothing is there, parks the connection's coroutine until the
// source calls back: a viewer waiting for bytes holds no handler thread.
class AsyncBodySource : public BodySource {
 public:
  enum class ReadStatus { data, would_block, eof, error };
  struct ReadResult {
    ReadStatus status = ReadStatus::eof;
    size_t bytes = 0;   // with data: how many were copied (> 0)
    std::string error;  // with error: why (logged; the connection is aborted)
  };
  // Never blocks.
  virtual ReadResult try_read(char* buf, size_t n) = 0;
  // Calls `ready` once, from any thread (at once, on the caller's, if try_read would
  // already make progress), when bytes, the end or an error may have arrived. A call
  // without progress is allowed: the caller tries again and registers again.
  virtual void notify_when_readable(std::function<void()> ready) = 0;

  // Zero-copy variant of try_read, for a source whose bytes lie in a file (an edge
  // fill's temp file): the server then sends them with sendfile(2) instead of copying
  // them through a buffer. With status data, `span` names the file (open for as long
  // as the source lives) and the offset of the next unread byte, and `bytes` how many
  // may be sent from there (at most n); nothing is consumed until consume(k) with
  // k <= bytes. Other statuses as try_read. Sources without a file return nullopt
  // (the default), and the server uses try_read.
  struct FileSpan {
    int fd = -1;
    uint64_t offset = 0;
  };
  virtual std::optional<ReadResult> try_peek_file(FileSpan& span, size_t n) {
    (void)span;
    (void)n;
    return std::nullopt;
  }
  virtual void consume(size_t k) { (void)k; }

  // For callers other than the server (tests, in-process readers): waits on the
  // calling thread.
  size_t read(char* buf, size_t n) override {
    for (;;) {
      auto r = try_read(buf, n);
      if (r.status == ReadStatus::data) return r.bytes;
      if (r.status == ReadStatus::eof) return 0;
      if (r.status == ReadStatus::error) throw std::runtime_error(r.error);
      auto w = std::make_shared<std::pair<std::mutex, std::condition_variable>>();
      auto fired = std::make_shared<bool>(false);
      notify_when_readable([w, fired] {
        std::lock_guard lk(w->first);
        *fired = true;
        w->second.notify_all();
      });
      std::unique_lock lk(w->first);
      w->second.wait(lk, [&] { return *fired; });
    }
  }
  bool may_block() const override { return false; }  // the server never parks a thread on it
};

// A response whose head is not known when the handler returns (an edge miss waiting
// for its origin's answer): set as Response::deferred, the server parks the
// connection's coroutine until the object calls back, then sends what try_take()
// returns (which may itself stream from an AsyncBodySource). Bounded by the server's
// read_timeout (then 504).
class DeferredResponse {
 public:
  virtual ~DeferredResponse() = default;
  // Never blocks: the response once known, else nullopt.
  virtual std::optional<Response> try_take() = 0;
  // As AsyncBodySource::notify_when_readable: `ready` once, from any thread, when
  // try_take() may have an answer.
  virtual void notify_when_ready(std::function<void()> ready) = 0;
};

using Handler = std::function<Response(Request&)>;

struct RouteOptions {
  // Body handed over as a BodyReader instead of being buffered (uploads).
  bool stream_body = false;
  // Handler never blocks (no disk waits beyond page cache, no network): run it on
  // the I/O thread and skip the hop to the handler pool.
  bool inline_handler = false;
  // Limit for buffered bodies; larger gets 413 before the handler runs.
  uint64_t max_body_bytes = 1 << 20;
  // Runs after routing and before any body byte is read or "100 Continue" is sent,
  // so that an unauthenticated client cannot make the server read (or buffer) its
  // body: a response returned here is sent instead of running the handler (and the
  // connection is closed, the body unread). Runs where the handler would (handler
  // pool, or the I/O thread for inline_handler), so it may block on a key lookup.
  std::function<std::optional<Response>(const Request&)> before_body;
};

class Router {
 public:
  void add(std::string method, std::string pattern, Handler handler, RouteOptions opts = {});

  struct Match {
    const Handler* handler = nullptr;
    const RouteOptions* opts = nullptr;  // set with handler; points into the router
    Params params;
    bool method_not_allowed = false;  // path matched, method did not
    std::string allow;                // methods for 405 / OPTIONS (HEAD wherever GET is)
  };
  // HEAD falls back to the GET route (the server drops the body).
  Match match(std::string_view method, std::string_view path) const;
  // The same, with the params written into `params` (reset first; its storage is
  // reused: the server's per-connection request) instead of Match::params.
  Match match(std::string_view method, std::string_view path, Params& params) const;

 private:
  struct Route {
    std::string method;
    std::vector<std::string> segments;
    Handler handler;
    RouteOptions opts;
  };
  static bool match_pattern(const Route& r, std::string_view path, Params& params);
  std::vector<Route> routes_;
};

}  // namespace rend::http
