#pragma once
// HTTP/1.1 server on Boost.Beast coroutines (pimpl: Asio/Beast stay in server.cpp).
//
// Threading: `io_threads` run the sockets; handlers run on a separate pool of
// `handler_threads` (they may block on SQLite, disk or libcurl) unless their route is
// inline_handler. One coroutine per connection with a keep-alive loop; every read and
// write has a deadline (swept every 250 ms, see read_timeout); header size is bounded;
// buffered bodies are bounded per route.
// Errors: an exception escaping a handler becomes a 500 with a generic message (the
// detail is logged); EOF and peer resets end the connection quietly.
//
// Limits on untrusted input (each answered, then the connection is closed):
// - head (request line + fields) over max_header_bytes: 431.
// - the per-connection read buffer holds at most max_header_bytes + 64 KiB, which
//   bounds a chunk-size line with its extensions and the trailer section: 400.
// - framing another parser could read differently (request smuggling): any
//   Transfer-Encoding but exactly one "chunked", Transfer-Encoding in HTTP/1.0 or
//   together with Content-Length, Content-Length repeated (even with equal values),
//   Host missing (HTTP/1.1) or repeated, obs-fold, bare LF, control characters,
//   malformed chunks: 400.
// - a route's before_body check runs before any body byte is read; 100 Continue is
//   sent only after it, the route's size check (413) and, for streamed bodies, with
//   the handler's first read; never to HTTP/1.0 or for a request without a body.
// - slow clients: header_timeout for the whole head, min_body_bytes_per_sec for
//   bodies, max_streaming_bodies handler threads for uploads, max_connections.
// - accept(2) failures (EMFILE...) pause the acceptor 100 ms instead of spinning.
// - each connection keeps at most 256 KiB unsent in its socket (TCP_NOTSENT_LOWAT), so
//   a large body is pushed out by the server as the client reads (see accept_loop).
// Per connection, one Request is reused for every request (its storage is kept), and
// a buffered answer is written with one direct sendmsg when the socket takes it all.
// - stop() returns within shutdown_grace + about 2 s, unless a handler is blocked
//   outside the server (its next body read then fails at once).
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "http/router.h"

namespace rend::http {

struct ServerOptions {
  std::string name = "http";  // for logs
  std::string host = "127.0.0.1";
  uint16_t port = 0;  // 0 = any free port (tests)
  int io_threads = 2;
  int handler_threads = 16;
  // Each body read and response write waits at most this long (per operation).
  // This, idle_timeout and header_timeout are enforced by one sweep per I/O thread every
  // 250 ms (no timer per operation): a connection is cut up to 250 ms late, never early.
  std::chrono::seconds read_timeout{30};
  // A kept-alive connection may wait this long for its next request's first byte.
  std::chrono::seconds idle_timeout{75};
  // From its first byte, a request head must be complete within this (total, not per
  // read: a client sending a byte a second is cut off). Then the connection is closed.
  std::chrono::seconds header_timeout{10};
  std::chrono::seconds shutdown_grace{10};
  uint32_t max_header_bytes = 16 * 1024;
  // Request bodies: after body_rate_grace from the body's start, the body must have
  // averaged at least min_body_bytes_per_sec (0 = off), so a client that dribbles
  // bytes just inside read_timeout is cut off (the connection is closed; the deadline sweep closes
  // the socket on a timeout, so no 408 can be sent). REND_HTTP_MIN_BODY_BYTES_PER_SEC.
  uint64_t min_body_bytes_per_sec = 1024;
  std::chrono::milliseconds body_rate_grace{10000};
  // stream_body requests (uploads) hold a handler thread for every read of their
  // body; at most this many at once (0 = half of handler_threads, at least 1), so that
  // slow uploads cannot stall every other route. Beyond it: 503 with Retry-After,
  // before the body is read.
  int max_streaming_bodies = 0;
  // Open connections; a connection beyond it is closed as soon as it is accepted and
  // counted in Stats::refused_connections. REND_HTTP_MAX_CONNECTIONS.
  uint64_t max_connections = 10000;
  // Runs on every response before it is written (CORS, identity headers).
  std::function<void(const Request&, Response&)> decorate;
  // Runs on the I/O thread after a response has been fully written or has failed
  // (telemetry, metrics); must not block.
  struct Completion {
    const Request& request;
    const Response& response;                          // status and headers (the body may have been moved out)
    uint64_t body_bytes;                               // body bytes written
    bool complete;                                     // the whole response reached the socket
    std::chrono::steady_clock::time_point first_byte;  // response head handed to the socket
    std::chrono::steady_clock::time_point finished;
  };
  std::function<void(const Completion&)> on_complete;
};

class Server {
 public:
  Server(ServerOptions opts, std::shared_ptr<const Router> router);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds and starts serving; returns the bound port. Throws on bind failure with
  // a message naming the address.
  uint16_t start();
  // Stops accepting, lets in-flight requests finish (up to shutdown_grace), then
  // closes everything. Idempotent.
  void stop();

  struct Stats {
    uint64_t open_connections = 0;
    uint64_t refused_connections = 0;  // over max_connections
    uint64_t accept_failures = 0;      // accept(2) errors such as EMFILE (each retried after a pause)
  };
  Stats stats() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace rend::http
