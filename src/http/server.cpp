#include "http/server.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>
#include <algorithm>
#include <array>
#include <atomic>
#include <boost/asio.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <charconv>
#include <condition_variable>
#include <cstdio>
#include <ctime>
#include <deque>
#include <mutex>
#include <set>
#include <thread>
#include <utility>

#include "core/crypto.h"
#include "core/log.h"

namespace rend::http {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;
using tcp = asio::ip::tcp;
using asio::awaitable;
using asio::use_awaitable;

namespace {

constexpr size_t kChunk = 64 * 1024;
constexpr int kNotSentLowat = 256 * 1024;  // see accept_loop
// A reused request keeps at most this much body storage between requests (see session).
constexpr size_t kKeptBodyCapacity = 64 * 1024;
constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";

// A request the client framed wrongly (as opposed to a dropped connection or a
// timeout): it gets a 400 before the connection is closed.
bool is_protocol_error(const beast::error_code& ec) {
  return ec.category() == bhttp::make_error_code(bhttp::error::end_of_stream).category() &&
         ec != bhttp::error::end_of_stream && ec != bhttp::error::partial_message;
}

using Clock = std::chrono::steady_clock;

// A connection's socket with one deadline instead of Beast's tcp_stream, which arms
// and cancels a timer around every read and write (a timer-queue insert and removal,
// a mutex and a clock read per operation: a few percent of a small hit's CPU). Here
// each read or write stores when it must be done by (a plain store, read from the
// coarse monotonic clock), and one sweeper timer per I/O thread (Impl::sweep, every
// kSweepEvery) closes the sockets whose pending operation is past its deadline, which
// fails that operation as Beast's timeout did. So every timeout (idle, header, read
// and write) fires up to kSweepEvery late, never early: the granularity of this
// server's deadlines. The deadline is cleared after each operation, so that time spent
// in a handler or parked on a source is bounded by their own rules, not by the last
// read's deadline. Only the connection's own I/O thread touches it.
constexpr auto kSweepEvery = std::chrono::milliseconds(250);

// CLOCK_MONOTONIC at the kernel tick's resolution (no TSC read): the clock of
// steady_clock, a few milliseconds behind it at most, which deadlines swept every
// 250 ms can afford.
Clock::time_point coarse_now() {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
  return Clock::time_point(std::chrono::duration_cast<Clock::duration>(std::chrono::seconds(ts.tv_sec) +
                                                                       std::chrono::nanoseconds(ts.tv_nsec)));
}

struct Conn {
  Conn(tcp::socket s, size_t lane) : sock(std::move(s)), lane(lane) {}
  Conn(const Conn&) = delete;
  Conn& operator=(const Conn&) = delete;

  // The AsyncReadStream / AsyncWriteStream that Beast's and Asio's composed
  // operations use.
  using executor_type = tcp::socket::executor_type;
  executor_type get_executor() { return sock.get_executor(); }
  template <class Buffers, class Token>
  auto async_read_some(const Buffers& b, Token&& t) {
    return sock.async_read_some(b, std::forward<Token>(t));
  }
  template <class Buffers, class Token>
  auto async_write_some(const Buffers& b, Token&& t) {
    return sock.async_write_some(b, std::forward<Token>(t));
  }
  tcp::socket& socket() { return sock; }

  void expires_after(Clock::duration d) { deadline = coarse_now() + d; }
  void expires_at(Clock::time_point t) { deadline = t; }
  void expires_never() { deadline = Clock::time_point::max(); }
  void close() {
    beast::error_code ec;
    sock.close(ec);
  }

  tcp::socket sock;
  const size_t lane;  // index of the I/O context (and sweeper) it runs on
  Clock::time_point deadline = Clock::time_point::max();
};

// Progress of one request body, for its read deadlines.
struct BodyPace {
  Clock::time_point start = Clock::now();
  uint64_t got = 0;
};

// The next body read's deadline: read_timeout from now, and no later than the moment
// at which the bytes received so far fall below the minimum average rate.
Clock::time_point body_deadline(const ServerOptions& o, const BodyPace& p) {
  auto d = Clock::now() + o.read_timeout;
  if (o.min_body_bytes_per_sec > 0) {
    auto earned = std::chrono::microseconds(p.got * 1000000 / o.min_body_bytes_per_sec);
    d = std::min(d, p.start + o.body_rate_grace + earned);
  }
  return d;
}

// Where handler threads wait for their body reads: one mutex and condition variable
// for the whole server, so that stop() can wake every waiting reader at once.
struct BodyWait {
  std::mutex mu;
  std::condition_variable cv;
  bool io_closed = false;  // the I/O threads are gone: a read posted now never runs
};

// The body reader of a streamed request (uploads). While the handler runs, the
// connection's coroutine is suspended and no operation is pending on the socket, so
// the reader has the socket, its buffer and its parser to itself.
//
// A Content-Length body (what upload clients send) is read by the handler thread
// itself, straight from the socket into the caller's buffer: recv(MSG_DONTWAIT), and
// poll(2) until the read's deadline when nothing is there. No hop to the I/O thread
// per read (the hop cost a futex wake and two context switches per 64 KiB: two
// thirds of a loopback upload's time), no copy through the connection's buffer. It
// reads a duplicate of the socket's descriptor: stop() closes connections on their
// I/O threads, and a descriptor number closed under a blocked poll(2) is neither
// woken nor safe to read again (it may be reused); stop() shuts the socket down
// first, which wakes the duplicate's poll and ends its reads.
//
// A chunked body goes through the parser (it strips the framing) on the I/O thread:
// one hop per read, which reads until the caller's buffer is full.
//
// Either way a read returns once the caller's buffer is full or the body has ended;
// every socket wait has its own deadline (read_timeout from now, capped by the
// minimum average rate). A read that fails after some bytes arrived returns them;
// the next read throws.
class StreamBodyReader final : public BodyReader {
 public:
  StreamBodyReader(Conn& stream, beast::flat_buffer& buf, bhttp::request_parser<bhttp::buffer_body>& parser,
                   const ServerOptions& opts, BodyWait& wait)
      : stream_(stream), buf_(buf), parser_(parser), opts_(opts), wait_(wait) {
    if (!parser_.chunked() && parser_.content_length()) {
      direct_ = true;
      remaining_ = *parser_.content_length();
      // Here, on the I/O thread, which is where stop() closes the socket: the handler
      // thread never touches the socket object.
      fd_ = ::fcntl(stream_.socket().native_handle(), F_DUPFD_CLOEXEC, 0);
      if (fd_ < 0) dup_error_ = {errno, boost::system::system_category()};
    }
  }
  ~StreamBodyReader() override {
    if (fd_ >= 0) ::close(fd_);
  }
  StreamBodyReader(const StreamBodyReader&) = delete;
  StreamBodyReader& operator=(const StreamBodyReader&) = delete;

  size_t read(char* out, size_t n) override {
    if (n == 0 || done()) return 0;
    // The previous read delivered the bytes that had arrived before it failed.
    if (failed_) throw std::runtime_error("request body read failed: " + error_.message());
    {
      std::lock_guard lk(wait_.mu);
      if (wait_.io_closed) throw std::runtime_error("request body read failed: server stopped");
    }
    if (!started_) {
      started_ = true;
      pace_.start = Clock::now();
    }
    const bool send_continue = std::exchange(continue_pending_, false);
    Filled f = direct_ ? read_direct(out, n, send_continue) : read_on_io_thread(out, n, send_continue);
    pace_.got += f.got;
    if (f.ec) {
      error_ = f.ec;
      failed_ = true;
      if (f.got == 0) throw std::runtime_error("request body read failed: " + f.ec.message());
    }
    return f.got;
  }
  // The whole body has been read (the connection may then carry another request).
  bool done() const { return direct_ ? remaining_ == 0 : parser_.is_done(); }
  // The first read error, for the response the server sends instead of the handler's.
  const beast::error_code& error() const { return error_; }
  // The client waits for 100 Continue: it goes out with the first read, so a handler
  // that answers without reading (not found, conflict, too large) never invites the
  // body.
  void expect_continue() { continue_pending_ = true; }

 private:
  struct Filled {
    beast::error_code ec;
    size_t got = 0;
  };

  // Waits until fd_ is ready for `events` or `deadline` passes (then ec = timeout).
  beast::error_code wait_ready(short events, Clock::time_point deadline) {
    for (;;) {
      auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - Clock::now()).count();
      if (left <= 0) return beast::error::timeout;
      pollfd p{fd_, events, 0};
      int r = ::poll(&p, 1, int(std::min<int64_t>(left, 60'000)));
      if (r > 0) return {};
      if (r < 0 && errno != EINTR) return {errno, boost::system::system_category()};
    }
  }

  // On the handler thread (see the class comment).
  Filled read_direct(char* out, size_t n, bool send_continue) {
    Filled f;
    if (fd_ < 0) {
      f.ec = dup_error_;
      return f;
    }
    if (send_continue) {
      std::string_view left = kContinue;
      const auto deadline = Clock::now() + opts_.read_timeout;
      while (!left.empty()) {
        ssize_t w = ::send(fd_, left.data(), left.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
        if (w > 0) {
          left.remove_prefix(size_t(w));
        } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
          if ((f.ec = wait_ready(POLLOUT, deadline))) return f;
        } else if (errno != EINTR) {
          f.ec = {errno, boost::system::system_category()};
          return f;
        }
      }
    }
    const size_t want = size_t(std::min<uint64_t>(n, remaining_));
    if (buf_.size() > 0) {  // body bytes read together with the head
      f.got = asio::buffer_copy(asio::buffer(out, want), buf_.data());
      buf_.consume(f.got);
    }
    while (f.got < want) {
      ssize_t r = ::recv(fd_, out + f.got, want - f.got, MSG_DONTWAIT);
      if (r > 0) {
        f.got += size_t(r);
        continue;
      }
      if (r == 0) {  // what the parser reports for a body cut short (no 400)
        f.ec = bhttp::error::partial_message;
        break;
      }
      if (errno == EINTR) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) {
        f.ec = {errno, boost::system::system_category()};
        break;
      }
      BodyPace now = pace_;
      now.got += f.got;
      if ((f.ec = wait_ready(POLLIN, body_deadline(opts_, now)))) break;
    }
    remaining_ -= f.got;
    return f;
  }

  // A hop to the connection's I/O thread; the handler thread waits on wait_.cv.
  Filled read_on_io_thread(char* out, size_t n, bool send_continue) {
    {
      std::lock_guard lk(wait_.mu);
      ready_ = false;
    }
    asio::co_spawn(stream_.get_executor(), fill(out, n, send_continue), [this](std::exception_ptr e, Filled f) {
      if (e) f.ec = asio::error::fault;  // fill() does not throw; never leave the handler waiting
      {
        std::lock_guard lk(wait_.mu);
        filled_ = f;
        ready_ = true;
      }
      wait_.cv.notify_all();
    });
    std::unique_lock lk(wait_.mu);
    wait_.cv.wait(lk, [&] { return ready_ || wait_.io_closed; });
    // Stopped with the read still queued: the stopped context destroys it unrun.
    if (!ready_) throw std::runtime_error("request body read failed: server stopped");
    return filled_;
  }

  // Runs on the connection's I/O thread.
  awaitable<Filled> fill(char* out, size_t n, bool send_continue) {
    Filled f;
    if (send_continue) {
      stream_.expires_after(opts_.read_timeout);
      co_await asio::async_write(stream_, asio::buffer(kContinue), asio::redirect_error(use_awaitable, f.ec));
      stream_.expires_never();
      if (f.ec) co_return f;
    }
    BodyPace pace = pace_;
    while (f.got < n && !parser_.is_done()) {
      parser_.get().body().data = out + f.got;
      parser_.get().body().size = n - f.got;
      stream_.expires_at(body_deadline(opts_, pace));
      co_await bhttp::async_read_some(stream_, buf_, parser_, asio::redirect_error(use_awaitable, f.ec));
      stream_.expires_never();
      if (f.ec == bhttp::error::need_buffer) f.ec = {};
      const size_t k = (n - f.got) - parser_.get().body().size;  // 0 when only framing was consumed
      f.got += k;
      pace.got += k;
      if (f.ec) break;
    }
    co_return f;
  }

  bool started_ = false;
  bool continue_pending_ = false;
  bool failed_ = false;
  bool direct_ = false;
  uint64_t remaining_ = 0;  // direct_: body bytes still to read
  int fd_ = -1;             // direct_: the socket's duplicate
  beast::error_code dup_error_;
  beast::error_code error_;
  Conn& stream_;
  beast::flat_buffer& buf_;
  bhttp::request_parser<bhttp::buffer_body>& parser_;
  const ServerOptions& opts_;
  BodyWait& wait_;
  BodyPace pace_;
  // Guarded by wait_.mu: the last hop's result.
  bool ready_ = false;
  Filled filled_;
};

// The Date field's value now (RFC 9110 section 5.6.7, IMF-fixdate), formatted once a
// second per thread: an origin server with a clock must send Date (section 6.6.1), and
// caches in front of it (a CDN before the edge) reckon an object's age from it. By hand
// rather than strftime, whose day and month names follow the locale.
std::string_view http_date_now() {
  static constexpr char kDays[7][4] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  static constexpr char kMonths[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                          "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  thread_local time_t cached = -1;
  thread_local char buf[32];
  timespec ts{};
  ::clock_gettime(CLOCK_REALTIME_COARSE, &ts);
  if (ts.tv_sec != cached) {
    cached = ts.tv_sec;
    tm g{};
    ::gmtime_r(&ts.tv_sec, &g);
    std::snprintf(buf, sizeof buf, "%s, %02d %s %04d %02d:%02d:%02d GMT", kDays[g.tm_wday % 7], g.tm_mday,
                  kMonths[g.tm_mon % 12], g.tm_year + 1900, g.tm_hour, g.tm_min, g.tm_sec);
  }
  return {buf, 29};  // "Sun, 06 Nov 1994 08:49:37 GMT"
}

// Status line and header fields (RFC 9112 sections 4-6), written by hand: Beast's
// serializer costs more than the response itself for small bodies, and one buffer
// means one write. A Date field is added unless the handler set one.
void serialize_head_into(std::string& out, const Response& res, unsigned version, bool keep_alive,
                         std::optional<uint64_t> content_length, bool chunked = false) {
  out.clear();
  out.reserve(256);
  out.append(version == 10 ? "HTTP/1.0 " : "HTTP/1.1 ");
  char num[24];
  auto put_number = [&](uint64_t v) {
    auto r = std::to_chars(num, num + sizeof num, v);
    out.append(num, size_t(r.ptr - num));
  };
  put_number(uint64_t(res.status));
  out.push_back(' ');
  auto reason = bhttp::obsolete_reason(static_cast<bhttp::status>(res.status));
  out.append(reason.data(), reason.size());
  out.append("\r\n");
  bool dated = false;
  for (const auto& h : res.headers.items()) {
    if (iequals(h.name, "content-length") || iequals(h.name, "connection") || iequals(h.name, "transfer-encoding"))
      continue;  // framing is ours
    dated = dated || iequals(h.name, "date");
    out.append(h.name).append(": ").append(h.value).append("\r\n");
  }
  if (!dated) out.append("Date: ").append(http_date_now()).append("\r\n");
  if (content_length) {
    out.append("Content-Length: ");
    put_number(*content_length);
    out.append("\r\n");
  }
  if (chunked) out.append("Transfer-Encoding: chunked\r\n");
  if (version == 10 && keep_alive) out.append("Connection: keep-alive\r\n");
  if (version != 10 && !keep_alive) out.append("Connection: close\r\n");
  out.append("\r\n");
}

// Framing the parser accepts but we refuse, because a proxy in front of us may
// frame the same bytes differently (request smuggling, RFC 9112 section 6.3 and
// 11.2): any Transfer-Encoding but exactly one "chunked" (Beast takes "gzip,
// chunked" as chunked and "chunked, gzip" as no body), Transfer-Encoding in HTTP/1.0
// or with Content-Length, Content-Length more than once (even with equal values),
// and a Host field missing (HTTP/1.1) or repeated. Returns the reason, or nullptr.
const char* framing_error(const bhttp::request_parser<bhttp::buffer_body>& parser) {
  const auto& h = parser.get();
  int hosts = 0, lengths = 0, codings = 0;
  std::string_view coding, length;
  for (const auto& f : h) {
    switch (f.name()) {
      case bhttp::field::host: ++hosts; break;
      case bhttp::field::content_length:
        ++lengths;
        length = f.value();
        break;
      case bhttp::field::transfer_encoding:
        ++codings;
        coding = f.value();
        break;
      default: break;
    }
  }
  if (codings > 0) {
    if (codings > 1 || !iequals(coding, "chunked")) return "unsupported Transfer-Encoding (only \"chunked\")";
    if (h.version() < 11) return "Transfer-Encoding in an HTTP/1.0 request";
    if (lengths > 0) return "both Transfer-Encoding and Content-Length";
  }
  if (lengths > 1 || length.find(',') != std::string_view::npos) return "more than one Content-Length";
  if (hosts > 1) return "more than one Host";
  if (hosts == 0 && h.version() >= 11) return "missing Host";
  return nullptr;
}

// obs-fold (a field line continued on the next line, RFC 9112 section 5.2): Beast
// joins the lines, which another parser may not, so it is refused. In a valid head
// no line starts with SP or HTAB.
bool has_obs_fold(std::string_view head) {
  return head.find("\n ") != std::string_view::npos || head.find("\n\t") != std::string_view::npos;
}

}  // namespace

// Wakes a connection's coroutine parked on an AsyncBodySource or a DeferredResponse,
// from whichever thread the source calls back on: the callback posts a cancel of the
// coroutine's timer to the connection's own executor (timers are not thread-safe).
struct Wake {
  std::mutex mu;
  asio::steady_timer* timer = nullptr;  // while parked; null once the coroutine stopped waiting
  bool fired = false;
};

// Per I/O context: wakes of coroutines parked for a body source's bytes (an edge fill's
// viewers), run one per pass of the context's queue rather than all at once. Every
// ~100 ms a storm's fills land their slices together and wake hundreds of viewers, each
// with tens of KB to send; posted straight to the context, a request read meanwhile (a
// HIT) would be handled only after all of those sends. One per pass lets the reactor
// run, and the requests it reads be handled, between any two of them; response heads
// (deferred answers) are not queued here.
struct Background {
  std::mutex mu;
  std::deque<std::shared_ptr<Wake>> q;
  bool scheduled = false;  // a drain is posted to the context
  // From any thread, holding w->mu with w->timer set (so the context is alive).
  void push(std::shared_ptr<Wake> w, const asio::any_io_executor& ex) {
    std::lock_guard lk(mu);
    q.push_back(std::move(w));
    if (scheduled) return;
    scheduled = true;
    asio::post(ex, [this, ex] { drain(ex); });
  }
  // On the context's thread: one wake, then the next after everything queued meanwhile.
  void drain(const asio::any_io_executor& ex) {
    std::shared_ptr<Wake> w;
    {
      std::lock_guard lk(mu);
      w = std::move(q.front());
      q.pop_front();
    }
    {
      std::lock_guard lk(w->mu);
      if (w->timer) w->timer->cancel();
    }
    std::lock_guard lk(mu);
    if (q.empty()) {
      scheduled = false;
      return;
    }
    asio::post(ex, [this, ex] { drain(ex); });
  }
};

struct Server::Impl {
  ServerOptions opts;
  std::shared_ptr<const Router> router;
  // Coroutines parked on a source, so stop() can wake them and, once the I/O threads
  // are gone, keep late callbacks from posting to a context being destroyed. Declared
  // before ctxs: a parked coroutine destroyed with its context unregisters itself here.
  std::mutex wakes_mu;
  // One per I/O context (same index as ctxs), declared before ctxs so that a drain still
  // queued on a context being destroyed never outlives its queue.
  std::vector<std::unique_ptr<Background>> backgrounds;
  std::set<std::shared_ptr<Wake>> wakes;
  std::atomic<bool> aborting{false};  // stop() closed the connections: parked bodies give up
  // One io_context per I/O thread, each run by its thread alone, connections dealt
  // out round robin (nginx's worker model): a connection's operations never wake
  // another thread, which a single shared io_context does on every completion.
  std::vector<std::unique_ptr<asio::io_context>> ctxs;
  std::vector<asio::executor_work_guard<asio::io_context::executor_type>> works;
  // One deadline sweeper per I/O context (see Conn); made by start(), gone after stop().
  std::vector<std::unique_ptr<asio::steady_timer>> sweepers;
  size_t next_ctx = 0;
  asio::thread_pool pool;
  std::optional<tcp::acceptor> acceptor;
  std::vector<std::thread> threads;
  std::atomic<int> in_flight{0};
  std::atomic<uint64_t> connections{0}, refused{0}, accept_failures{0};
  std::atomic<int> streaming{0};  // handler threads held by stream_body requests
  int streaming_cap = 1;
  std::atomic<bool> stopping{false};
  BodyWait body_wait;  // handler threads waiting for body reads; io_closed once stop() joined the I/O threads
  bool stopped = false;
  std::mutex mu;
  // Live connections, so stop() can abort requests still running after the grace
  // period (their pending reads then fail and the handlers return).
  std::mutex conns_mu;
  std::set<Conn*> conns;

  Impl(ServerOptions o, std::shared_ptr<const Router> r)
      : opts(std::move(o)), router(std::move(r)), pool(static_cast<size_t>(std::max(1, opts.handler_threads))) {
    for (int i = 0; i < std::max(1, opts.io_threads); ++i) {
      ctxs.push_back(std::make_unique<asio::io_context>(1));
      backgrounds.push_back(std::make_unique<Background>());
      // Asio creates a context's reactor (epoll + eventfd descriptors) with its first
      // socket, and its timer service with its first timer; done now, so that neither
      // can fail (and throw out of the accept loop, or leave a half-registered timer
      // queue behind: UBSan saw one) when descriptors run out later.
      tcp::socket warm(*ctxs.back());
      asio::steady_timer warm_timer(*ctxs.back());
    }
    streaming_cap = opts.max_streaming_bodies > 0 ? opts.max_streaming_bodies : std::max(1, opts.handler_threads / 2);
    acceptor.emplace(*ctxs[0]);
  }

  awaitable<void> accept_loop() {
    for (;;) {
      beast::error_code ec;
      const size_t lane = next_ctx++ % ctxs.size();
      auto& ctx = *ctxs[lane];
      tcp::socket sock = co_await acceptor->async_accept(ctx, asio::redirect_error(use_awaitable, ec));
      if (ec) {
        if (stopping) co_return;
        if (ec == asio::error::operation_aborted) co_return;
        // EMFILE, ENFILE, ENOBUFS...: the connection stays queued and accept(2) would
        // fail again at once, so pause instead of spinning, then keep accepting.
        if (accept_failures.fetch_add(1, std::memory_order_relaxed) % 100 == 0)
          core::log::warn("http_accept_failed", {{"server", opts.name}, {"error", ec.message()}});
        asio::steady_timer pause(*ctxs[0], std::chrono::milliseconds(100));
        co_await pause.async_wait(asio::redirect_error(use_awaitable, ec));
        continue;
      }
      if (connections.load(std::memory_order_relaxed) >= opts.max_connections) {
        refused.fetch_add(1, std::memory_order_relaxed);
        sock.close(ec);
        continue;
      }
      connections.fetch_add(1, std::memory_order_relaxed);
      sock.set_option(tcp::no_delay(true), ec);
      // At most kNotSentLowat bytes wait unsent in the socket (TCP_NOTSENT_LOWAT): a
      // large body's sendfile then stops there (EAGAIN) and is resumed by this server
      // on EPOLLOUT, instead of parking a whole object in an autotuned send buffer that
      // the receiver's ACKs must push out (on loopback, in the client's own context:
      // measured, a 2.8 MB segment at -c64 went from ~0.85x to ~2x req/s of the same
      // binary without it). Only unsent bytes count, so bytes in flight (the
      // bandwidth-delay product) are not capped as SO_SNDBUF would. 256 KiB: on a quiet
      // machine (2.8 MB segment against tuned nginx, two alternating pairs of 2 runs)
      // 256 KiB served 1.51-1.55x / 1.66-1.73x nginx's req/s at -c64 / -c256 with p99
      // 1.01-1.24x / 1.41-1.61x, 512 KiB 1.11-1.35x / 0.91-1.19x with p99 1.21-1.49x /
      // 1.39-1.42x: larger turns did not shorten the tail and cost throughput.
      const int lowat = kNotSentLowat;
      ::setsockopt(sock.native_handle(), IPPROTO_TCP, TCP_NOTSENT_LOWAT, &lowat, sizeof lowat);
      asio::co_spawn(ctx, session(std::move(sock), lane), asio::detached);
    }
  }

  // Closes the connections of I/O context `lane` whose pending read or write is past
  // its deadline (their operation then fails, as at a Beast timeout), then sweeps
  // again kSweepEvery later. Runs on that context's thread, which alone writes the
  // deadlines of its connections.
  void arm_sweeper(size_t lane) {
    auto& t = *sweepers[lane];
    t.expires_after(kSweepEvery);
    t.async_wait([this, lane](const beast::error_code& ec) {
      if (ec) return;
      sweep(lane);
      arm_sweeper(lane);
    });
  }
  void sweep(size_t lane) {
    const auto now = coarse_now();
    std::lock_guard lk(conns_mu);
    for (Conn* c : conns) {
      if (c->lane != lane || c->deadline > now) continue;
      c->expires_never();
      beast::error_code ec;
      c->sock.close(ec);
    }
  }

  // Request ids: a per-process random prefix (9 random bytes, base64url) and a
  // process-wide counter: unique within the process, not guessable across processes,
  // and no random-number call on the hot path. Written into the reused request's
  // string (no allocation once it has grown).
  static void assign_request_id(std::string& out) {
    static const std::string prefix = core::random_token(9) + "-";
    static std::atomic<uint64_t> seq{0};
    char num[24];
    auto r = std::to_chars(num, num + sizeof num, seq.fetch_add(1, std::memory_order_relaxed));
    out.assign(prefix);
    out.append(num, size_t(r.ptr - num));
  }

  // Fills the connection's reused request from the parsed head: every field is
  // assigned (or reset), so nothing of the previous request survives, and the
  // strings keep their storage (no allocation per request on a kept-alive connection).
  static void fill_request(Request& req, const bhttp::request_parser<bhttp::buffer_body>& parser,
                           std::string_view remote_addr) {
    const auto& h = parser.get();
    auto method = h.method_string();
    req.method.assign(method.data(), method.size());
    auto target = h.target();
    req.target.assign(target.data(), target.size());
    const std::string_view t = req.target;
    const auto q = t.find('?');
    req.path.assign(t.substr(0, q));
    if (q != std::string_view::npos) req.query.assign(t.substr(q + 1));
    else req.query.clear();
    req.headers.reset();
    for (const auto& f : h) {
      auto n = f.name_string();
      auto v = f.value();
      req.headers.append({n.data(), n.size()}, {v.data(), v.size()});
    }
    req.body.clear();
    req.body_stream = nullptr;
    req.content_length = parser.content_length() ? std::optional<uint64_t>(*parser.content_length()) : std::nullopt;
    req.chunked = parser.chunked();
    req.params.reset();
    req.remote_addr.assign(remote_addr);
    auto rid = req.headers.get("x-request-id");
    if (rid && !rid->empty() && rid->size() <= 128) req.request_id.assign(*rid);
    else assign_request_id(req.request_id);
    req.may_block = true;
    req.received = std::chrono::steady_clock::now();
  }

  // Runs route code (a handler or a pre-body check): an exception escaping it is logged
  // as `event` and answered with a generic 500 that closes the connection.
  template <class F>
  auto guarded(const char* event, const Request& req, F&& f) -> decltype(f()) {
    try {
      return f();
    } catch (const std::exception& e) {
      core::log::error(event, {{"server", opts.name}, {"method", req.method}, {"path", req.path}, {"error", e.what()}});
      auto r = Response::error(500, "internal", "internal error");
      r.close = true;
      return r;
    }
  }

  awaitable<Response> run_handler(const Handler& handler, Request& req, bool inline_handler) {
    auto call = [&]() -> Response { return guarded("http_handler_exception", req, [&] { return handler(req); }); };
    if (inline_handler) {
      req.may_block = false;
      Response r = call();
      if (!r.rerun_blocking) co_return r;
    }
    req.may_block = true;
    co_return co_await asio::co_spawn(
        pool, [&]() -> awaitable<Response> { co_return call(); }, use_awaitable);
  }

  // The route's pre-body check, where its handler would run; an exception is a 500.
  awaitable<std::optional<Response>> run_before_body(const RouteOptions& ro, Request& req) {
    auto call = [&]() -> std::optional<Response> {
      return guarded("http_before_body_exception", req, [&] { return ro.before_body(req); });
    };
    if (ro.inline_handler) {
      req.may_block = false;
      co_return call();
    }
    req.may_block = true;
    co_return co_await asio::co_spawn(
        pool, [&]() -> awaitable<std::optional<Response>> { co_return call(); }, use_awaitable);
  }

  // Parks the coroutine until `arm`, given a callback, has it called (true) or until
  // read_timeout passes or the server aborts (false). No thread waits meanwhile.
  // `bg` (the Background queue of this coroutine's own context): the wake waits its turn
  // there (a body source's bytes); without it the wake runs as soon as the context gets
  // to it (a deferred answer).
  template <class Arm>
  awaitable<bool> park(Arm arm, Background* bg = nullptr) {
    asio::steady_timer timer(co_await asio::this_coro::executor);
    auto w = std::make_shared<Wake>();
    w->timer = &timer;
    struct Unregister {  // on every way out, the coroutine's destruction included
      Impl& I;
      std::shared_ptr<Wake> w;
      ~Unregister() {
        {
          std::lock_guard lk(w->mu);
          w->timer = nullptr;
        }
        std::lock_guard lk(I.wakes_mu);
        I.wakes.erase(w);
      }
    } unregister{*this, w};
    {
      std::lock_guard lk(wakes_mu);
      if (aborting) co_return false;
      wakes.insert(w);
    }
    arm([w, bg] {
      std::lock_guard lk(w->mu);
      if (w->fired || !w->timer) return;
      w->fired = true;
      if (bg) return bg->push(w, w->timer->get_executor());
      asio::post(w->timer->get_executor(), [w] {
        std::lock_guard lk2(w->mu);
        if (w->timer) w->timer->cancel();
      });
    });
    if (!bg) {
      std::lock_guard lk(w->mu);
      if (w->fired) co_return true;  // ready at once (its posted cancel finds no timer)
    }
    // A background wake that fired at once still waits for its turn (the drain cancels
    // the timer below).
    // The callback's cancel is posted to this coroutine's own single-threaded context,
    // so it cannot run before the wait below has started.
    timer.expires_after(opts.read_timeout);
    beast::error_code ec;
    co_await timer.async_wait(asio::redirect_error(use_awaitable, ec));
    co_return ec == asio::error::operation_aborted && !aborting;
  }

  // try_read, parking on would-block (its wakes in `bg`, the connection's context's queue).
  awaitable<size_t> read_async(AsyncBodySource& src, char* buf, size_t n, Background& bg) {
    for (;;) {
      auto r = src.try_read(buf, n);
      switch (r.status) {
        case AsyncBodySource::ReadStatus::data: co_return r.bytes;
        case AsyncBodySource::ReadStatus::eof: co_return 0;
        case AsyncBodySource::ReadStatus::error: throw std::runtime_error(r.error);
        case AsyncBodySource::ReadStatus::would_block: break;
      }
      bool woke = co_await park([&src](std::function<void()> cb) { src.notify_when_readable(std::move(cb)); }, &bg);
      if (!woke) throw std::runtime_error(aborting ? "server stopped" : "body source timed out");
    }
  }

  // A deferred answer, awaited without a thread; read_timeout bounds the wait (504).
  awaitable<Response> settle(const Request& req, std::shared_ptr<DeferredResponse> d) {
    for (;;) {
      std::optional<Response> r;
      try {
        r = d->try_take();
      } catch (const std::exception& e) {
        core::log::error("http_handler_exception",
                         {{"server", opts.name}, {"method", req.method}, {"path", req.path}, {"error", e.what()}});
        auto err = Response::error(500, "internal", "internal error");
        err.close = true;
        co_return err;
      }
      if (r) {
        if (!r->deferred) co_return std::move(*r);
        d = std::move(r->deferred);  // answered with another deferred: wait for that one
        continue;
      }
      bool woke = co_await park([&d](std::function<void()> cb) { d->notify_when_ready(std::move(cb)); });
      if (!woke) {
        auto err = Response::error(504, "upstream_timeout", "no answer from upstream in time");
        err.close = true;
        co_return err;
      }
    }
  }

  awaitable<size_t> read_source(BodySource& src, char* buf, size_t n, Background& bg) {
    // One virtual call per body read would do as well; a cast per read costs about as
    // much and keeps BodySource unchanged.
    if (auto* as = dynamic_cast<AsyncBodySource*>(&src)) co_return co_await read_async(*as, buf, n, bg);
    if (!src.may_block()) co_return src.read(buf, n);
    co_return co_await asio::co_spawn(
        pool, [&]() -> awaitable<size_t> { co_return src.read(buf, n); }, use_awaitable);
  }

  // Sends the response head, then a file range with sendfile(2), on the non-blocking
  // socket, waiting for writability (bounded by the read timeout) whenever the socket
  // buffer is full. The head goes with MSG_MORE, so that (as nginx's tcp_nopush) it
  // leaves in the same segment as the first file bytes instead of a small packet of
  // its own that wakes the client for a few hundred bytes.
  awaitable<uint64_t> send_file(Conn& stream, std::string_view head, const BodySource::FileRange& fr, bool& ok) {
    ok = false;
    if (!make_non_blocking(stream)) co_return 0;
    if (!co_await send_bytes(stream, head, fr.length > 0 ? MSG_MORE : 0)) co_return 0;
    const uint64_t sent = co_await sendfile_range(stream, fr.fd, fr.offset, fr.length, [](uint64_t) {});
    ok = sent == fr.length;
    co_return sent;
  }

  // Asio already made the descriptor non-blocking for its own reads; the getter costs
  // no system call, the setter an ioctl on every response.
  static bool make_non_blocking(Conn& stream) {
    beast::error_code ec;
    if (!stream.socket().native_non_blocking()) stream.socket().native_non_blocking(true, ec);
    return !ec;
  }

  // Waits until the socket is writable again, at most read_timeout (per wait, as every
  // other write of the server; the sweeper closes the socket past it).
  awaitable<bool> wait_writable(Conn& stream) {
    stream.expires_after(opts.read_timeout);
    beast::error_code ec;
    co_await stream.socket().async_wait(tcp::socket::wait_write, asio::redirect_error(use_awaitable, ec));
    stream.expires_never();
    co_return !ec;
  }

  // All of `data` with send(2) on the non-blocking socket (`flags`: MSG_MORE when more
  // follows at once); false if the socket failed or timed out.
  awaitable<bool> send_bytes(Conn& stream, std::string_view data, int flags) {
    while (!data.empty()) {
      ssize_t n = ::send(stream.socket().native_handle(), data.data(), data.size(), MSG_NOSIGNAL | flags);
      if (n > 0) {
        data.remove_prefix(size_t(n));
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n == 0 || errno != EAGAIN || !co_await wait_writable(stream)) co_return false;
    }
    co_return true;
  }

  // `len` bytes of `fd` from `off` with sendfile(2) on the non-blocking socket, waiting
  // for writability whenever the socket takes no more; `on_sent(n)` after every call
  // that sent n bytes. Returns the bytes sent: fewer than `len` if the socket failed or
  // timed out, or the file was shorter.
  template <class OnSent>
  awaitable<uint64_t> sendfile_range(Conn& stream, int fd, uint64_t offset, uint64_t len, OnSent on_sent) {
    off_t off = static_cast<off_t>(offset);
    uint64_t left = len, sent = 0;
    while (left > 0) {
      ssize_t n = ::sendfile(stream.socket().native_handle(), fd, &off, std::min<uint64_t>(left, 1u << 30));
      if (n > 0) {
        left -= uint64_t(n);
        sent += uint64_t(n);
        on_sent(uint64_t(n));
        continue;
      }
      if (n == 0) break;  // file shorter than announced
      if (errno == EINTR) continue;
      if (errno != EAGAIN || !co_await wait_writable(stream)) break;
    }
    co_return sent;
  }

  // try_peek_file, parking on would-block: how many bytes may be sent from `span` (0:
  // the end), or nullopt when the source names no file (then try_read). Throws on the
  // source's error, as read_async.
  awaitable<std::optional<size_t>> peek_file_async(AsyncBodySource& src, AsyncBodySource::FileSpan& span, size_t n,
                                                   Background& bg) {
    for (;;) {
      auto r = src.try_peek_file(span, n);
      if (!r) co_return std::nullopt;
      switch (r->status) {
        case AsyncBodySource::ReadStatus::data: co_return r->bytes;
        case AsyncBodySource::ReadStatus::eof: co_return size_t{0};
        case AsyncBodySource::ReadStatus::error: throw std::runtime_error(r->error);
        case AsyncBodySource::ReadStatus::would_block: break;
      }
      bool woke = co_await park([&src](std::function<void()> cb) { src.notify_when_readable(std::move(cb)); }, &bg);
      if (!woke) throw std::runtime_error(aborting ? "server stopped" : "body source timed out");
    }
  }

  struct Written {
    uint64_t bytes = 0;
    bool complete = false;
    std::chrono::steady_clock::time_point first_byte;
  };

  // Writes `res`; returns bytes of body written, whether it completed, and when the
  // head went out.
  // A buffered response (or a HEAD answer) part-written by buffered_write_now.
  struct BufferedWrite {
    std::string_view body;  // the body bytes to send (empty for HEAD)
    uint64_t len = 0;       // the body's length (what Content-Length says)
    size_t done = 0;        // bytes of head + body the socket took
    bool failed = false;    // the socket refused (reset, closed): the response failed
    bool complete(const std::string& head) const { return done == head.size() + body.size(); }
  };

  // Serializes the head into `out` and tries to hand the whole answer to the socket at
  // once, here, without a coroutine: a small answer into a socket buffer that has room
  // (the usual case) then costs one sendmsg and no asynchronous operation or timer.
  // What it does not take goes out with write_buffered_rest (with its timeout). Only
  // called while nothing else is pending on the socket.
  BufferedWrite buffered_write_now(Conn& stream, const Response& res, bool head, bool keep_alive, unsigned version,
                                   std::string& out) {
    BufferedWrite p;
    const bool no_body_status = res.status == 204 || res.status == 304 || res.status < 200;
    const std::string_view body = res.shared_body ? std::string_view(*res.shared_body) : std::string_view(res.body);
    p.len = res.source ? res.source_length.value_or(0) : body.size();
    std::optional<uint64_t> cl;
    if (!no_body_status && !(res.source && !res.source_length)) cl = p.len;
    serialize_head_into(out, res, version, keep_alive, cl);
    p.body = head ? std::string_view{} : body;
    iovec iov[2] = {{const_cast<char*>(out.data()), out.size()}, {const_cast<char*>(p.body.data()), p.body.size()}};
    msghdr m{};
    m.msg_iov = iov;
    m.msg_iovlen = p.body.empty() ? 1 : 2;
    for (;;) {
      ssize_t n = ::sendmsg(stream.socket().native_handle(), &m, MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n >= 0) {
        p.done = size_t(n);
        break;
      }
      if (errno == EINTR) continue;
      p.failed = errno != EAGAIN && errno != EWOULDBLOCK;
      break;
    }
    return p;
  }

  awaitable<std::pair<uint64_t, bool>> write_buffered_rest(Conn& stream, const std::string& out, BufferedWrite p,
                                                           bool head) {
    std::array<asio::const_buffer, 2> bufs{asio::buffer(out), asio::buffer(p.body)};
    if (p.done < out.size()) {
      bufs[0] = asio::buffer(out) + p.done;
    } else {
      bufs[0] = asio::const_buffer();
      bufs[1] = asio::buffer(p.body) + (p.done - out.size());
    }
    beast::error_code ec;
    stream.expires_after(opts.read_timeout);
    co_await asio::async_write(stream, bufs, asio::redirect_error(use_awaitable, ec));
    stream.expires_never();
    co_return std::pair<uint64_t, bool>{ec || head ? 0 : p.len, !ec};
  }

  // head_buf: the connection's reused buffer for the response head (or null: a
  // temporary one).
  awaitable<Written> write_response(Conn& stream, Response& res, bool head, bool keep_alive, unsigned version,
                                    std::string* head_buf = nullptr) {
    Written w;
    w.first_byte = std::chrono::steady_clock::now();
    std::string local;
    auto r = co_await write_response_impl(stream, res, head, keep_alive, version, w.first_byte,
                                          head_buf ? *head_buf : local);
    w.bytes = r.first;
    w.complete = r.second;
    co_return w;
  }

  awaitable<std::pair<uint64_t, bool>> write_response_impl(Conn& stream, Response& res, bool head, bool keep_alive,
                                                           unsigned version,
                                                           std::chrono::steady_clock::time_point& first_byte,
                                                           std::string& out) {
    beast::error_code ec;
    if (!res.source || head) {
      auto p = buffered_write_now(stream, res, head, keep_alive, version, out);
      if (p.failed) co_return std::pair<uint64_t, bool>{0, false};
      if (p.complete(out)) co_return std::pair<uint64_t, bool>{head ? 0 : p.len, true};
      co_return co_await write_buffered_rest(stream, out, p, head);
    }
    // A source: our own head, then the body raw with Content-Length (sendfile for file
    // ranges), or in chunks (RFC 9112 section 7.1) when the length is unknown.
    const bool chunked = !res.source_length;
    serialize_head_into(out, res, version, keep_alive, res.source_length, chunked);
    first_byte = std::chrono::steady_clock::now();
    if (auto fr = res.source->file_range(); !chunked && fr && fr->length == *res.source_length) {
      bool ok = false;
      uint64_t sent = co_await send_file(stream, out, *fr, ok);
      co_return std::pair<uint64_t, bool>{sent, ok};
    }
    stream.expires_after(opts.read_timeout);
    co_await asio::async_write(stream, asio::buffer(out), asio::redirect_error(use_awaitable, ec));
    stream.expires_never();  // the source's reads may park: bounded by their own timeout
    if (ec) co_return std::pair<uint64_t, bool>{0, false};
    std::vector<char> buf;
    uint64_t sent = 0;
    auto* file_source = dynamic_cast<AsyncBodySource*>(res.source.get());
    Background& bg = *backgrounds[stream.lane];
    // A source still being filled (an edge fill) is often answered in a burst: the
    // origin's head wakes every viewer of the object at once, and tens of objects'
    // heads land within milliseconds. Their heads are a few hundred bytes each, their
    // first body turns tens of KB: the body waits its turn in the Background queue, as
    // every later turn does, so the heads of viewers woken meanwhile and requests read
    // meanwhile (HITs) go before these bytes. (Capping every turn at 64 KiB instead
    // changed nothing measurable, 16 KiB turns cost 50 % more CPU and HIT p99:
    // bench/README.md, cold fills.) Plain file responses (HITs) never take this path.
    if (file_source && !co_await park([](std::function<void()> cb) { cb(); }, &bg))
      co_return std::pair<uint64_t, bool>{0, false};
    for (;;) {
      if (file_source) {
        // A source whose bytes lie in a file (an edge fill's temp file): sent from there
        // with sendfile(2), consumed as the socket takes them; no copy through `buf`.
        AsyncBodySource::FileSpan span;
        std::optional<size_t> avail;
        const uint64_t left = chunked ? uint64_t(1) << 30 : *res.source_length - sent;
        try {
          // Asking for one byte past the announced length finds a source that has more.
          avail = co_await peek_file_async(*file_source, span, size_t(std::clamp<uint64_t>(left, 1, 1u << 30)), bg);
        } catch (const std::exception& e) {
          core::log::warn("http_body_source_failed", {{"server", opts.name}, {"error", e.what()}});
          co_return std::pair<uint64_t, bool>{sent, false};
        }
        if (avail) {
          if (*avail == 0) break;
          if (!chunked && sent + *avail > *res.source_length) co_return std::pair<uint64_t, bool>{sent, false};
          if (!make_non_blocking(stream)) co_return std::pair<uint64_t, bool>{sent, false};
          if (chunked) {
            char size_line[32];
            int len = std::snprintf(size_line, sizeof size_line, "%zx\r\n", *avail);
            if (!co_await send_bytes(stream, {size_line, size_t(len)}, MSG_MORE))
              co_return std::pair<uint64_t, bool>{sent, false};
          }
          const uint64_t k = co_await sendfile_range(stream, span.fd, span.offset, *avail,
                                                     [file_source](uint64_t d) { file_source->consume(size_t(d)); });
          sent += k;
          if (k < *avail) co_return std::pair<uint64_t, bool>{sent, false};
          if (chunked && !co_await send_bytes(stream, "\r\n", 0)) co_return std::pair<uint64_t, bool>{sent, false};
          continue;
        }
      }
      if (buf.empty()) buf.resize(kChunk);
      size_t n = 0;
      try {
        n = co_await read_source(*res.source, buf.data(), buf.size(), bg);
      } catch (const std::exception& e) {
        // Abort the connection: the client sees a short body against Content-Length,
        // or never the last chunk, so it cannot mistake the body for complete.
        core::log::warn("http_body_source_failed", {{"server", opts.name}, {"error", e.what()}});
        co_return std::pair<uint64_t, bool>{sent, false};
      }
      if (n == 0) break;
      if (!chunked && sent + n > *res.source_length) co_return std::pair<uint64_t, bool>{sent, false};
      stream.expires_after(opts.read_timeout);
      if (chunked) {
        char size_line[32];
        int len = std::snprintf(size_line, sizeof size_line, "%zx\r\n", n);
        std::array<asio::const_buffer, 3> bufs{asio::buffer(size_line, size_t(len)), asio::buffer(buf.data(), n),
                                               asio::buffer("\r\n", 2)};
        co_await asio::async_write(stream, bufs, asio::redirect_error(use_awaitable, ec));
      } else {
        co_await asio::async_write(stream, asio::buffer(buf.data(), n), asio::redirect_error(use_awaitable, ec));
      }
      stream.expires_never();
      if (ec) co_return std::pair<uint64_t, bool>{sent, false};
      sent += n;
    }
    if (!chunked) co_return std::pair<uint64_t, bool>{sent, sent == *res.source_length};
    stream.expires_after(opts.read_timeout);
    co_await asio::async_write(stream, asio::buffer("0\r\n\r\n", 5), asio::redirect_error(use_awaitable, ec));
    stream.expires_never();
    co_return std::pair<uint64_t, bool>{sent, !ec};
  }

  // http::async_read_header, except that the raw head is checked for obs-fold before
  // the parser consumes it (Beast unfolds it invisibly). Sets ec to
  // bhttp::error::bad_value for a folded head.
  awaitable<void> read_head(Conn& stream, beast::flat_buffer& buf, bhttp::request_parser<bhttp::buffer_body>& parser,
                            beast::error_code& ec) {
    // Idle until the head's first bytes, then header_timeout for all of it. The
    // second deadline is set only when the first read did not bring the whole head,
    // so a typical request costs one timer update, as before.
    bool timed = buf.size() > 0;
    stream.expires_after(timed ? opts.header_timeout : opts.idle_timeout);
    for (;;) {
      if (buf.size() > 0) {
        auto data = buf.data();
        size_t used = parser.put(data, ec);
        if (!ec && parser.is_header_done()) {
          if (has_obs_fold({static_cast<const char*>(data.data()), used})) ec = bhttp::error::bad_value;
          buf.consume(used);
          co_return;
        }
        buf.consume(used);
        if (ec != bhttp::error::need_more) co_return;
        ec = {};
        if (!timed) {
          timed = true;
          stream.expires_after(opts.header_timeout);
        }
      }
      size_t room = buf.max_size() - buf.size();
      if (room == 0) {  // unreachable while the buffer exceeds the header limit; kept as a guard
        ec = bhttp::error::buffer_overflow;
        co_return;
      }
      size_t n = co_await stream.async_read_some(buf.prepare(std::min<size_t>(room, kChunk)),
                                                 asio::redirect_error(use_awaitable, ec));
      buf.commit(n);
      if (ec == asio::error::eof) {
        ec = parser.got_some() ? bhttp::error::partial_message : bhttp::error::end_of_stream;
        co_return;
      }
      if (ec) co_return;
    }
  }

  awaitable<void> session(tcp::socket sock, size_t lane) {
    beast::error_code ec;
    auto remote = sock.remote_endpoint(ec);
    Conn stream(std::move(sock), lane);
    // Bounded: Beast limits the head (header_limit) but not a chunk-size line, chunk
    // extensions or trailers, which must fit in this buffer; beyond it the read fails
    // with buffer_overflow (400, close). Head limit plus one read's worth of body.
    beast::flat_buffer buf(opts.max_header_bytes + kChunk);
    // Reused by every request of this connection (their storage survives, so a
    // kept-alive connection allocates nothing per request once warmed up).
    Request req;
    std::string head_buf;
    const std::string remote_addr = remote.address().to_string();
    {
      std::lock_guard lk(conns_mu);
      conns.insert(&stream);
    }
    for (;;) {
      bhttp::request_parser<bhttp::buffer_body> parser;
      parser.header_limit(opts.max_header_bytes);
      parser.body_limit(boost::none);  // enforced per route below
      co_await read_head(stream, buf, parser, ec);
      stream.expires_never();
      if (ec) {
        if (ec == bhttp::error::header_limit) {
          auto r = Response::error(431, "header_too_large", "request header too large");
          co_await write_response(stream, r, false, false, 11);
        } else if (is_protocol_error(ec)) {
          auto r = Response::error(400, "bad_request", "malformed HTTP request");
          co_await write_response(stream, r, false, false, 11);
        }
        break;
      }
      if (const char* why = framing_error(parser)) {
        auto r = Response::error(400, "bad_request", std::string("malformed HTTP request: ") + why);
        co_await write_response(stream, r, false, false, 11);
        break;
      }
      in_flight++;
      fill_request(req, parser, remote_addr);
      bool keep = co_await handle_one(stream, buf, parser, req, head_buf);
      in_flight--;
      // A large body (an upload part, an 8 MiB telemetry batch) must not stay reserved
      // by an idle kept-alive connection: beyond kKeptBodyCapacity its storage goes.
      if (req.body.capacity() > kKeptBodyCapacity) std::string().swap(req.body);
      if (!keep || stopping) break;
    }
    {
      std::lock_guard lk(conns_mu);
      conns.erase(&stream);
    }
    stream.socket().shutdown(tcp::socket::shutdown_send, ec);
    stream.close();
    connections.fetch_sub(1, std::memory_order_relaxed);
  }

  // Returns whether the connection may be reused.
  awaitable<bool> handle_one(Conn& stream, beast::flat_buffer& buf, bhttp::request_parser<bhttp::buffer_body>& parser,
                             Request& req, std::string& head_buf) {
    beast::error_code ec;
    unsigned version = parser.get().version();
    bool keep_alive = parser.get().keep_alive();
    bool head = req.method == "HEAD";

    auto match = router->match(req.method, req.path, req.params);
    Response res;
    bool body_consumed = parser.is_done();
    if (!match.handler) {
      if (req.method == "OPTIONS") {
        res.status = 204;  // preflight: decorate() adds CORS headers
      } else if (match.method_not_allowed) {
        res = Response::error(405, "method_not_allowed", "method not allowed");
        res.headers.set("Allow", match.allow);
      } else {
        res = Response::error(404, "not_found", "no such route");
      }
    } else {
      const RouteOptions& ro = *match.opts;
      std::optional<StreamBodyReader> reader;
      bool rejected = false;
      // Checks that need no body byte come first: the pre-body hook (authentication),
      // then the declared size. Only then is the client invited to send its body.
      if (ro.before_body) {
        if (auto early = co_await run_before_body(ro, req)) {
          res = std::move(*early);
          rejected = true;
        }
      }
      // Streamed bodies hold a handler thread per read: a bounded share of the pool.
      struct Slot {  // released on every way out, co_return included
        std::atomic<int>* count = nullptr;
        void release() {
          if (count) count->fetch_sub(1);
          count = nullptr;
        }
        ~Slot() { release(); }
      } stream_slot;
      if (!rejected && ro.stream_body && !parser.is_done()) {
        if (streaming.fetch_add(1) >= streaming_cap) {
          streaming.fetch_sub(1);
          res = Response::error(503, "busy", "too many uploads in progress; retry shortly");
          res.headers.set("Retry-After", "1");
          rejected = true;
        } else {
          stream_slot.count = &streaming;
        }
      }
      if (!rejected && !ro.stream_body && !parser.is_done() && parser.content_length() &&
          *parser.content_length() > ro.max_body_bytes) {
        res = Response::error(413, "body_too_large", "request body too large");
        rejected = true;
      }
      // 100 Continue (RFC 9110 section 10.1.1): never to HTTP/1.0, never without a
      // body; for a streamed body, with the handler's first read.
      const bool wants_continue = !rejected && !parser.is_done() && version >= 11 &&
                                  iequals(parser.get()[bhttp::field::expect], "100-continue");
      if (wants_continue && !ro.stream_body) {
        stream.expires_after(opts.read_timeout);
        co_await asio::async_write(stream, asio::buffer(kContinue), asio::redirect_error(use_awaitable, ec));
        stream.expires_never();
        if (ec) co_return false;
      }
      if (!rejected && ro.stream_body) {
        reader.emplace(stream, buf, parser, opts, body_wait);
        if (wants_continue) reader->expect_continue();
        req.body_stream = &*reader;
      } else if (!rejected && !parser.is_done()) {
        std::string& body = req.body;  // empty (fill_request), with the connection's storage
        char tmp[16384];
        BodyPace pace;
        while (!parser.is_done()) {
          parser.get().body().data = tmp;
          parser.get().body().size = sizeof tmp;
          pace.got = body.size();
          stream.expires_at(body_deadline(opts, pace));
          co_await bhttp::async_read_some(stream, buf, parser, asio::redirect_error(use_awaitable, ec));
          stream.expires_never();
          if (ec == bhttp::error::need_buffer) ec = {};
          if (ec) {
            if (is_protocol_error(ec)) {
              auto r = Response::error(400, "bad_request", "malformed request body framing");
              co_await write_response(stream, r, false, false, version);
            }
            co_return false;
          }
          body.append(tmp, sizeof tmp - parser.get().body().size);
          if (body.size() > ro.max_body_bytes) {
            res = Response::error(413, "body_too_large", "request body too large");
            rejected = true;
            break;
          }
        }
      }
      if (!rejected && ro.inline_handler) {
        // On this I/O thread, without a coroutine of its own (run_handler's frame and
        // its awaits cost more than a small hit's handler).
        req.may_block = false;
        res = guarded("http_handler_exception", req, [&] { return (*match.handler)(req); });
        if (res.rerun_blocking) res = co_await run_handler(*match.handler, req, false);
      } else if (!rejected) {
        res = co_await run_handler(*match.handler, req, false);
      }
      if (!rejected && res.deferred) res = co_await settle(req, std::move(res.deferred));
      stream_slot.release();
      if (reader && is_protocol_error(reader->error())) {
        res = Response::error(400, "bad_request", "malformed request body framing");
        res.close = true;
      }
      body_consumed = reader ? reader->done() : parser.is_done();
    }
    // A body we did not read would be parsed as the next request: close instead.
    if (!body_consumed) {
      res.close = true;
    }
    if (res.close || stopping) keep_alive = false;
    if (opts.decorate) opts.decorate(req, res);
    Written w;
    if (!res.source || head) {
      // A buffered answer is written from here, without write_response's coroutines.
      w.first_byte = std::chrono::steady_clock::now();
      auto p = buffered_write_now(stream, res, head, keep_alive, version, head_buf);
      if (!p.failed && p.complete(head_buf)) {
        w.bytes = head ? 0 : p.len;
        w.complete = true;
      } else if (!p.failed) {
        auto r = co_await write_buffered_rest(stream, head_buf, p, head);
        w.bytes = r.first;
        w.complete = r.second;
      }
    } else {
      w = co_await write_response(stream, res, head, keep_alive, version, &head_buf);
    }
    if (opts.on_complete) {
      try {
        opts.on_complete({req, res, w.bytes, w.complete, w.first_byte, std::chrono::steady_clock::now()});
      } catch (const std::exception& e) {
        core::log::warn("http_on_complete_failed", {{"server", opts.name}, {"error", e.what()}});
      }
    }
    co_return w.complete&& keep_alive;
  }
};

Server::Server(ServerOptions opts, std::shared_ptr<const Router> router)
    : impl_(std::make_unique<Impl>(std::move(opts), std::move(router))) {}

Server::~Server() { stop(); }

uint16_t Server::start() {
  auto& I = *impl_;
  beast::error_code ec;
  auto addr = asio::ip::make_address(I.opts.host, ec);
  if (ec) throw std::runtime_error(I.opts.name + ": invalid bind address '" + I.opts.host + "'");
  tcp::endpoint ep{addr, I.opts.port};
  I.acceptor->open(ep.protocol());
  I.acceptor->set_option(asio::socket_base::reuse_address(true));
  I.acceptor->bind(ep, ec);
  if (ec)
    throw std::runtime_error(I.opts.name + ": cannot listen on " + I.opts.host + ":" + std::to_string(I.opts.port) +
                             ": " + ec.message());
  I.acceptor->listen(asio::socket_base::max_listen_connections);
  uint16_t port = I.acceptor->local_endpoint().port();
  for (auto& c : I.ctxs) I.works.push_back(asio::make_work_guard(*c));
  for (size_t lane = 0; lane < I.ctxs.size(); ++lane) {
    I.sweepers.push_back(std::make_unique<asio::steady_timer>(*I.ctxs[lane]));
    I.arm_sweeper(lane);
  }
  asio::co_spawn(*I.ctxs[0], I.accept_loop(), asio::detached);
  for (auto& c : I.ctxs) I.threads.emplace_back([ctx = c.get()] { ctx->run(); });
  return port;
}

Server::Stats Server::stats() const {
  const auto& I = *impl_;
  return {I.connections.load(std::memory_order_relaxed), I.refused.load(std::memory_order_relaxed),
          I.accept_failures.load(std::memory_order_relaxed)};
}

void Server::stop() {
  auto& I = *impl_;
  {
    std::lock_guard lk(I.mu);
    if (I.stopped) return;
    I.stopped = true;
  }
  if (I.threads.empty()) return;
  I.stopping = true;
  asio::post(*I.ctxs[0], [&I] {
    beast::error_code ec;
    I.acceptor->close(ec);
  });
  auto deadline = std::chrono::steady_clock::now() + I.opts.shutdown_grace;
  while (I.in_flight > 0 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  if (I.in_flight > 0) {
    // Coroutines parked on a source or a deferred answer wake up and give up.
    {
      std::lock_guard lk(I.wakes_mu);
      I.aborting = true;
      for (const auto& w : I.wakes) {
        std::lock_guard lk2(w->mu);
        if (!w->timer) continue;
        asio::post(w->timer->get_executor(), [w] {
          std::lock_guard lk3(w->mu);
          if (w->timer) w->timer->cancel();
        });
      }
    }
    // Each socket is closed on its own thread; it may be gone by then (checked).
    {
      std::lock_guard lk(I.conns_mu);
      for (auto* s : I.conns) {
        asio::post(s->get_executor(), [&I, s] {
          std::lock_guard lk2(I.conns_mu);
          if (!I.conns.count(s)) return;
          beast::error_code ec;
          // Shut down before closing: a body reader polling a duplicate of this
          // descriptor on a handler thread is woken only by the shutdown.
          s->socket().shutdown(tcp::socket::shutdown_both, ec);
          s->socket().close(ec);
        });
      }
    }  // released before waiting: every close above takes it on its I/O thread
    auto hard = std::chrono::steady_clock::now() + std::chrono::seconds(2);
    while (I.in_flight > 0 && std::chrono::steady_clock::now() < hard)
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  I.works.clear();
  for (auto& c : I.ctxs) c->stop();
  for (auto& t : I.threads) t.join();
  I.threads.clear();
  I.sweepers.clear();  // their contexts are stopped: nothing runs their handlers any more
  {
    // Sources calling back from now on must not post to a context about to be
    // destroyed (with the coroutines still parked in it).
    std::lock_guard lk(I.wakes_mu);
    I.aborting = true;
    for (const auto& w : I.wakes) {
      std::lock_guard lk2(w->mu);
      w->timer = nullptr;
    }
  }
  // No I/O thread runs any more, so a body read a handler still waits for (or starts,
  // after finishing something slow) would never complete: it fails instead.
  {
    std::lock_guard lk(I.body_wait.mu);
    I.body_wait.io_closed = true;
  }
  I.body_wait.cv.notify_all();
  I.pool.stop();
  I.pool.join();
}

}  // namespace rend::http
