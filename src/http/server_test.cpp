#include "http/server.h"

#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <future>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include "http/client.h"

using namespace rend::http;

namespace {

class CountingSource : public BodySource {
 public:
  explicit CountingSource(size_t total, bool blocking) : left_(total), blocking_(blocking) {}
  size_t read(char* buf, size_t n) override {
    size_t k = std::min(n, left_);
    std::memset(buf, 'x', k);
    left_ -= k;
    return k;
  }
  bool may_block() const override { return blocking_; }

 private:
  size_t left_;
  bool blocking_;
};

class FailingSource : public BodySource {
 public:
  size_t read(char* buf, size_t n) override {
    if (calls_++ > 0) throw std::runtime_error("origin died");
    std::memset(buf, 'y', std::min<size_t>(n, 100));
    return std::min<size_t>(n, 100);
  }

 private:
  int calls_ = 0;
};

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

// What a flood may send before the server must have given up on it, and how much
// it sends at most: a server that reads without bound takes it all.
constexpr size_t kFloodBound = 8u << 20;
constexpr size_t kFloodMax = 64u << 20;

// A raw TCP client, for requests no well-behaved client library would send.
struct Raw {
  int fd = -1;
  explicit Raw(uint16_t port) {
    fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
      ::close(fd);
      fd = -1;
    }
    timeval tv{2, 0};  // a server that neither reads nor answers must not hang the test
    if (fd >= 0) ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  }
  ~Raw() {
    if (fd >= 0) ::close(fd);
  }
  Raw(const Raw&) = delete;
  bool send(std::string_view s) {
    while (!s.empty()) {
      ssize_t n = ::send(fd, s.data(), s.size(), MSG_NOSIGNAL);
      if (n <= 0) return false;
      s.remove_prefix(size_t(n));
    }
    return true;
  }
  bool readable(std::chrono::milliseconds wait) {
    pollfd p{fd, POLLIN, 0};
    return ::poll(&p, 1, int(wait.count())) > 0;
  }
  // Everything until the server closes or `wait` passes; `closed` tells which.
  std::string read_all(std::chrono::milliseconds wait = 3000ms, bool* closed = nullptr) {
    std::string out;
    auto deadline = Clock::now() + wait;
    if (closed) *closed = false;
    for (;;) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
      if (left <= 0ms || !readable(left)) return out;
      char buf[65536];
      ssize_t n = ::recv(fd, buf, sizeof buf, 0);
      if (n <= 0) {
        if (closed) *closed = true;
        return out;
      }
      out.append(buf, size_t(n));
    }
  }
  // Reads until `needle` has arrived (or close / timeout).
  std::string read_until(std::string_view needle, std::chrono::milliseconds wait = 3000ms) {
    std::string out;
    auto deadline = Clock::now() + wait;
    while (out.find(needle) == std::string::npos) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
      if (left <= 0ms || !readable(left)) break;
      char buf[65536];
      ssize_t n = ::recv(fd, buf, sizeof buf, 0);
      if (n <= 0) break;
      out.append(buf, size_t(n));
    }
    return out;
  }
  // Sends `head`, then `filler` over and over until the server answers or closes;
  // returns the bytes sent (capped at `max`). A small send buffer, so that what the
  // kernels absorb after the server stopped reading stays small next to `max`.
  size_t flood(std::string_view head, std::string_view filler, size_t max = kFloodMax) {
    int sndbuf = 64 * 1024;
    ::setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
    if (!send(head)) return head.size();
    size_t sent = head.size();
    while (sent < max) {
      if (readable(0ms) || !send(filler)) break;
      sent += filler.size();
    }
    return sent;
  }
};

// The status code of a raw response ("HTTP/1.1 400 ..." -> 400), 0 if none.
int status_of(std::string_view raw) {
  if (raw.size() < 12 || raw.substr(0, 5) != "HTTP/") return 0;
  return std::atoi(std::string(raw.substr(9, 3)).c_str());
}

struct ServerFixture : ::testing::Test {
  std::shared_ptr<Router> router = std::make_shared<Router>();
  std::unique_ptr<Server> server;
  std::string base;
  ServerOptions opts;
  uint16_t port = 0;

  void start() {
    opts.port = 0;
    opts.decorate = [](const Request&, Response& r) { r.headers.set("x-test", "1"); };
    server = std::make_unique<Server>(opts, router);
    port = server->start();
    base = "http://127.0.0.1:" + std::to_string(port);
  }
  // One raw request on a fresh connection: the whole answer, and whether the server
  // closed the connection after it.
  std::string exchange(std::string_view request, bool* closed = nullptr) {
    Raw c(port);
    EXPECT_GE(c.fd, 0);
    c.send(request);
    return c.read_all(2000ms, closed);
  }
  // Routes for the framing tests: an echo of the buffered body and a streamed one.
  void add_echo_routes() {
    router->add("POST", "/echo", [](Request& r) { return Response::text(200, "body=" + r.body); });
    router->add("GET", "/ok", [](Request&) { return Response::text(200, "ok"); });
    RouteOptions s;
    s.stream_body = true;
    router->add(
        "PUT", "/up",
        [](Request& r) {
          std::string all;
          char buf[4096];
          while (size_t n = r.body_stream->read(buf, sizeof buf)) all.append(buf, n);
          return Response::text(200, "body=" + all);
        },
        s);
  }
  ClientResponse call(std::string method, std::string path, std::string body = {}) {
    ClientRequest r;
    r.method = std::move(method);
    r.url = base + path;
    r.body = std::move(body);
    return send(r);
  }
};

}  // namespace

TEST_F(ServerFixture, RoutesParamsAndDecorate) {
  router->add("GET", "/hello/{name}", [](Request& r) { return Response::text(200, "hi " + r.params["name"]); });
  start();
  auto r = call("GET", "/hello/bob?x=1");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "hi bob");
  bool has = false;
  for (auto& [k, v] : r.headers) has |= (k == "x-test" && v == "1");
  EXPECT_TRUE(has);
  EXPECT_EQ(call("GET", "/nope").status, 404);
  EXPECT_EQ(call("POST", "/hello/bob").status, 405);
}

// RFC 9110 section 6.6.1: an origin server with a clock sends Date (IMF-fixdate, GMT) in
// its responses, errors included; a handler's own Date is kept, not doubled.
TEST_F(ServerFixture, EveryResponseCarriesTheCurrentDateOnce) {
  router->add("GET", "/ok", [](Request&) { return Response::text(200, "ok"); });
  router->add("GET", "/dated", [](Request&) {
    auto r = Response::text(200, "old");
    r.headers.set("Date", "Sun, 06 Nov 1994 08:49:37 GMT");
    return r;
  });
  start();
  auto date_of = [](const std::string& head) {
    std::vector<std::string> found;
    for (size_t p = head.find("\r\nDate: "); p != std::string::npos; p = head.find("\r\nDate: ", p + 1))
      found.push_back(head.substr(p + 8, head.find("\r\n", p + 2) - (p + 8)));
    return found;
  };
  for (std::string req : {"GET /ok HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                          "GET /missing HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                          "GET /ok HTTP/1.1\r\nConnection: close\r\n\r\n"}) {  // 400: no Host
    const std::string got = exchange(req);
    auto dates = date_of(got.substr(0, got.find("\r\n\r\n")));
    ASSERT_EQ(dates.size(), 1u) << got;
    tm t{};
    const char* end = ::strptime(dates[0].c_str(), "%a, %d %b %Y %H:%M:%S GMT", &t);
    ASSERT_TRUE(end && *end == 0) << dates[0];
    EXPECT_EQ(dates[0].size(), 29u) << dates[0];
    const time_t when = ::timegm(&t);
    EXPECT_LE(std::llabs(static_cast<long long>(when - ::time(nullptr))), 2) << dates[0];
  }
  const std::string dated = exchange("GET /dated HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(date_of(dated.substr(0, dated.find("\r\n\r\n"))),
            std::vector<std::string>{"Sun, 06 Nov 1994 08:49:37 GMT"});
}

TEST_F(ServerFixture, BufferedBodyLimit) {
  RouteOptions o;
  o.max_body_bytes = 10;
  router->add(
      "POST", "/b", [](Request& r) { return Response::text(200, r.body); }, o);
  start();
  EXPECT_EQ(call("POST", "/b", "0123456789").body, "0123456789");
  EXPECT_EQ(call("POST", "/b", "0123456789A").status, 413);
}

TEST_F(ServerFixture, StreamedRequestBody) {
  RouteOptions o;
  o.stream_body = true;
  router->add(
      "PUT", "/up",
      [](Request& r) {
        size_t total = 0;
        char buf[1000];
        while (size_t n = r.body_stream->read(buf, sizeof buf)) total += n;
        return Response::text(200, std::to_string(total));
      },
      o);
  start();
  std::string big(3 * 1024 * 1024 + 7, 'a');
  auto r = call("PUT", "/up", big);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, std::to_string(big.size()));
}

// --- Streamed bodies: each read fills the caller's buffer -----------------------------

// What a streamed-body handler saw: the size of each read, the bytes, and whether a
// read failed (and after how long).
struct ReadLog {
  std::mutex mu;
  std::vector<size_t> sizes;
  std::string bytes;
  bool failed = false;
  Clock::duration failed_after{};
  std::promise<void> done;
};

// A streamed-body route reading with a `buf_size` buffer into `log`.
void add_logging_route(Router& router, const std::string& path, size_t buf_size, ReadLog& log) {
  RouteOptions s;
  s.stream_body = true;
  router.add(
      "PUT", path,
      [&log, buf_size](Request& r) {
        std::vector<char> buf(buf_size);
        auto t0 = Clock::now();
        try {
          while (size_t n = r.body_stream->read(buf.data(), buf.size())) {
            std::lock_guard lk(log.mu);
            log.sizes.push_back(n);
            log.bytes.append(buf.data(), n);
          }
        } catch (const std::exception&) {
          std::lock_guard lk(log.mu);
          log.failed = true;
          log.failed_after = Clock::now() - t0;
        }
        log.done.set_value();
        return Response::text(200, "got=" + std::to_string(log.bytes.size()));
      },
      s);
}

// A read of n bytes returns n once the client has sent them, however the client's
// sends and the kernel cut the stream (one hop to the I/O thread per buffer, not per
// socket read): with a Content-Length body and with a chunked one in small chunks.
TEST_F(ServerFixture, StreamedReadFillsTheCallersBuffer) {
  ReadLog plain, chunked;
  add_logging_route(*router, "/fill", 1u << 20, plain);
  add_logging_route(*router, "/fill-chunked", 64u << 10, chunked);
  start();
  std::string body(3 * (1u << 20) + 7, '\0');
  for (size_t i = 0; i < body.size(); ++i) body[i] = char('a' + i % 23);
  {
    Raw c(port);
    c.send("PUT /fill HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: " + std::to_string(body.size()) +
           "\r\n\r\n");
    for (size_t at = 0; at < body.size(); at += 16384) c.send(std::string_view(body).substr(at, 16384));
    auto r = c.read_all(3000ms);
    EXPECT_EQ(status_of(r), 200) << r;
  }
  ASSERT_EQ(plain.done.get_future().wait_for(3s), std::future_status::ready);
  EXPECT_EQ(plain.bytes, body);
  EXPECT_EQ(plain.sizes, (std::vector<size_t>{1u << 20, 1u << 20, 1u << 20, 7}));
  {
    Raw c(port);
    std::string wire =
        "PUT /fill-chunked HTTP/1.1\r\nHost: x\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n";
    const size_t total = 200000;
    for (size_t at = 0; at < total; at += 1000) wire += "3e8\r\n" + body.substr(at, 1000) + "\r\n";
    wire += "0\r\n\r\n";
    c.send(wire);
    auto r = c.read_all(3000ms);
    EXPECT_EQ(status_of(r), 200) << r;
  }
  ASSERT_EQ(chunked.done.get_future().wait_for(3s), std::future_status::ready);
  EXPECT_EQ(chunked.bytes, body.substr(0, 200000));
  EXPECT_EQ(chunked.sizes, (std::vector<size_t>{65536, 65536, 65536, 200000 - 3 * 65536}));
}

// The bytes that did arrive before a client stalled reach the handler, then the next
// read fails at read_timeout (the timeout counts from the last bytes received, not
// from the start of a read that was filling a large buffer).
TEST_F(ServerFixture, StalledStreamedBodyFailsAtTheReadTimeoutAfterItsBytes) {
  ReadLog log;
  add_logging_route(*router, "/fill", 1u << 20, log);
  opts.read_timeout = 1s;
  opts.min_body_bytes_per_sec = 0;
  start();
  Raw c(port);
  c.send("PUT /fill HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n");
  auto t0 = Clock::now();
  // Steady bytes for longer than read_timeout: none of these reads may time out.
  while (Clock::now() - t0 < 1500ms) {
    c.send(std::string(1000, 'b'));
    std::this_thread::sleep_for(100ms);
  }
  ASSERT_EQ(log.done.get_future().wait_for(4s), std::future_status::ready);
  bool closed = false;
  c.read_all(2000ms, &closed);
  EXPECT_TRUE(closed);
  std::lock_guard lk(log.mu);
  EXPECT_TRUE(log.failed);
  EXPECT_GE(log.bytes.size(), 14000u);
  EXPECT_EQ(log.bytes, std::string(log.bytes.size(), 'b'));
  EXPECT_GT(log.failed_after, 2200ms);  // ~1.5 s of sending + 1 s of silence
  EXPECT_LT(log.failed_after, 4000ms);
}

// A client dribbling its body into a large read buffer is still cut off by the
// minimum rate: the deadline is recomputed for every socket read inside one fill.
TEST_F(ServerFixture, DribbleIntoALargeReadBufferIsCutOffByTheMinimumRate) {
  ReadLog log;
  add_logging_route(*router, "/fill", 1u << 20, log);
  opts.read_timeout = 30s;
  opts.min_body_bytes_per_sec = 1000;
  opts.body_rate_grace = 1s;
  start();
  Raw c(port);
  c.send("PUT /fill HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n");
  auto t0 = Clock::now();
  bool closed = false;
  while (Clock::now() - t0 < 6s) {
    if (!c.send(std::string(10, 'a'))) {
      closed = true;
      break;
    }
    if (c.readable(100ms)) {
      c.read_all(500ms, &closed);
      break;
    }
  }
  EXPECT_TRUE(closed);
  EXPECT_LT(Clock::now() - t0, 3500ms);
  ASSERT_EQ(log.done.get_future().wait_for(2s), std::future_status::ready);
  EXPECT_TRUE(log.failed);
}

// A streamed body read to its end leaves the connection usable: the next request,
// sent in the same packet right after the body, is answered too.
TEST_F(ServerFixture, PipelinedRequestAfterAStreamedBodyIsAnswered) {
  ReadLog log;
  add_logging_route(*router, "/fill", 1u << 20, log);
  router->add("GET", "/ok", [](Request&) { return Response::text(200, "ok"); });
  start();
  Raw c(port);
  c.send(
      "PUT /fill HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello"
      "GET /ok HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  bool closed = false;
  auto r = c.read_all(3000ms, &closed);
  EXPECT_NE(r.find("got=5"), std::string::npos) << r;
  EXPECT_NE(r.find("\r\n\r\nok"), std::string::npos) << r;
  EXPECT_TRUE(closed);
  EXPECT_EQ(log.bytes, "hello");
}

// A handler that stops reading half-way through a streamed body: its answer goes out
// and the connection is closed (the rest of the body would be read as a request).
TEST_F(ServerFixture, PartlyReadStreamedBodyClosesTheConnection) {
  RouteOptions s;
  s.stream_body = true;
  router->add(
      "PUT", "/half",
      [](Request& r) {
        char buf[10];
        size_t n = r.body_stream->read(buf, sizeof buf);
        return Response::text(200, "first=" + std::to_string(n));
      },
      s);
  start();
  Raw c(port);
  c.send("PUT /half HTTP/1.1\r\nHost: x\r\nContent-Length: 20\r\n\r\n0123456789abcdefghij");
  bool closed = false;
  auto r = c.read_all(3000ms, &closed);
  EXPECT_EQ(status_of(r), 200) << r;
  EXPECT_NE(r.find("first=10"), std::string::npos) << r;
  EXPECT_TRUE(closed);
}

TEST_F(ServerFixture, StreamedResponsesAndHead) {
  router->add("GET", "/s/{kind}", [](Request& r) {
    Response res;
    res.source = std::make_unique<CountingSource>(1000000, r.params["kind"] == "blocking");
    if (r.params["kind"] != "chunked") res.source_length = 1000000;
    return res;
  });
  start();
  for (std::string kind : {"fast", "blocking", "chunked"}) {
    auto r = call("GET", "/s/" + kind);
    EXPECT_EQ(r.status, 200) << kind;
    EXPECT_EQ(r.body.size(), 1000000u) << kind;
  }
  auto h = call("HEAD", "/s/fast");
  EXPECT_EQ(h.status, 200);
  EXPECT_TRUE(h.body.empty());
}

TEST_F(ServerFixture, FailedSourceIsNotAComplete200) {
  router->add("GET", "/f", [](Request&) {
    Response res;
    res.source = std::make_unique<FailingSource>();
    res.source_length = 1000;
    return res;
  });
  start();
  auto r = call("GET", "/f");
  // The client must be able to tell: curl reports a transfer error on a short body.
  EXPECT_EQ(r.status, 0);
  EXPECT_FALSE(r.error.empty());
}

TEST_F(ServerFixture, HandlerExceptionIs500) {
  router->add("GET", "/boom", [](Request&) -> Response { throw std::runtime_error("secret detail"); });
  start();
  auto r = call("GET", "/boom");
  EXPECT_EQ(r.status, 500);
  EXPECT_EQ(r.body.find("secret"), std::string::npos);
}

TEST_F(ServerFixture, PreBodyCheckExceptionIs500AndTheHandlerNeverRuns) {
  bool ran = false;
  RouteOptions o;
  o.before_body = [](const Request&) -> std::optional<Response> { throw std::runtime_error("secret detail"); };
  router->add(
      "GET", "/checked",
      [&](Request&) {
        ran = true;
        return Response::json(200, "{}");
      },
      o);
  start();
  auto r = call("GET", "/checked");
  EXPECT_EQ(r.status, 500);
  EXPECT_EQ(r.body.find("secret"), std::string::npos);
  EXPECT_FALSE(ran);
}

// --- Item 1: the per-connection read buffer is bounded -----------------------------

TEST_F(ServerFixture, EndlessChunkExtensionIsCutOff) {
  add_echo_routes();
  start();
  for (std::string path : {"POST /echo", "PUT /up"}) {
    Raw c(port);
    size_t sent =
        c.flood(path + " HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=", std::string(4096, 'a'));
    EXPECT_LT(sent, kFloodBound) << path;
    bool closed = false;
    auto r = c.read_all(2000ms, &closed);
    EXPECT_TRUE(closed) << path;
    if (!r.empty()) {
      EXPECT_EQ(status_of(r), 400) << path << ": " << r;
    }
  }
}

TEST_F(ServerFixture, EndlessChunkSizeLineIsCutOff) {
  add_echo_routes();
  start();
  Raw c(port);
  size_t sent = c.flood("POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n", std::string(4096, '0'));
  EXPECT_LT(sent, kFloodBound);
  bool closed = false;
  auto r = c.read_all(2000ms, &closed);
  EXPECT_TRUE(closed);
  if (!r.empty()) {
    EXPECT_EQ(status_of(r), 400) << r;
  }
}

TEST_F(ServerFixture, EndlessTrailersAreCutOff) {
  add_echo_routes();
  start();
  std::string lines;
  for (int i = 0; i < 256; ++i) lines += "X-Trailer-" + std::to_string(i) + ": value\r\n";
  Raw c(port);
  size_t sent = c.flood("POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n", lines);
  EXPECT_LT(sent, kFloodBound);
  bool closed = false;
  auto r = c.read_all(2000ms, &closed);
  EXPECT_TRUE(closed);
  if (!r.empty()) {
    EXPECT_EQ(status_of(r), 400) << r;
  }
}

TEST_F(ServerFixture, ChunkedBodyWithExtensionAndTrailerStillWorks) {
  add_echo_routes();
  start();
  bool closed = true;
  auto r = exchange(
      "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
      "3;name=val\r\nabc\r\n2\r\nde\r\n0\r\nX-Sum: 1\r\n\r\n"
      "GET /ok HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
      &closed);
  EXPECT_EQ(status_of(r), 200) << r;
  EXPECT_NE(r.find("body=abcde"), std::string::npos) << r;
  EXPECT_NE(r.find("\r\n\r\nok"), std::string::npos) << "pipelined request after the trailer: " << r;
  EXPECT_TRUE(closed);
}

// --- Item 2: framing that could smuggle a request is refused ------------------------

// Each request must get one 400 and a closed connection, never the echo's 200 (nor a
// second response for bytes the server mistook for a pipelined request).
void expect_refused(ServerFixture& f, const std::string& request) {
  bool closed = false;
  auto r = f.exchange(request, &closed);
  EXPECT_EQ(status_of(r), 400) << request << "\n--> " << r;
  EXPECT_TRUE(closed) << request;
  EXPECT_EQ(r.find("HTTP/1.1", 5), std::string::npos) << "second response to " << request << "\n--> " << r;
}

TEST_F(ServerFixture, TransferEncodingOtherThanChunkedIsRefused) {
  add_echo_routes();
  start();
  const std::string body = "3\r\nabc\r\n0\r\n\r\n";
  for (std::string te : {"chunked, gzip", "gzip, chunked", "identity", "gzip", "chunked;q=1", "chunked,"})
    expect_refused(*this, "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: " + te + "\r\n\r\n" + body);
  expect_refused(*this,
                 "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n" +
                     body);
  expect_refused(*this,
                 "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n" +
                     body);
  // Chunked framing in HTTP/1.0 does not exist (RFC 9112 section 6.1).
  expect_refused(*this, "POST /echo HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n" + body);
  // Exactly "chunked" (any case) is fine.
  bool closed = true;
  auto r = exchange("POST /echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\nTransfer-Encoding: Chunked\r\n\r\n" + body,
                    &closed);
  EXPECT_EQ(status_of(r), 200) << r;
}

TEST_F(ServerFixture, TransferEncodingWithContentLengthIsRefused) {
  add_echo_routes();
  start();
  const std::string body = "3\r\nabc\r\n0\r\n\r\n";
  expect_refused(*this,
                 "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 13\r\n\r\n" + body);
  expect_refused(*this,
                 "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 13\r\nTransfer-Encoding: chunked\r\n\r\n" + body);
  expect_refused(*this,
                 "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\nContent-Length: 13\r\n\r\n" + body);
}

TEST_F(ServerFixture, DuplicateContentLengthIsRefused) {
  add_echo_routes();
  start();
  expect_refused(*this, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc");
  expect_refused(*this, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3, 3\r\n\r\nabc");
  expect_refused(*this, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd");
  expect_refused(*this, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: +3\r\n\r\nabc");
  expect_refused(*this, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\nabc");
}

TEST_F(ServerFixture, HostHeaderIsRequiredOnceInHttp11) {
  add_echo_routes();
  start();
  expect_refused(*this, "GET /ok HTTP/1.1\r\n\r\n");
  expect_refused(*this, "GET /ok HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n");
  expect_refused(*this, "GET /ok HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n");
  // HTTP/1.0 predates Host.
  EXPECT_EQ(status_of(exchange("GET /ok HTTP/1.0\r\n\r\n")), 200);
  EXPECT_EQ(status_of(exchange("GET /ok HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")), 200);
}

TEST_F(ServerFixture, ObsFoldBareLfAndBadMethodAreRefused) {
  add_echo_routes();
  start();
  // obs-fold (RFC 9112 section 5.2: a server must reject it or replace it).
  expect_refused(*this, "GET /ok HTTP/1.1\r\nHost: x\r\nX-A: a\r\n b\r\n\r\n");
  // A bare LF as line terminator, in the request line and in a field.
  expect_refused(*this, "GET /ok HTTP/1.1\nHost: x\r\n\r\n");
  expect_refused(*this, "GET /ok HTTP/1.1\r\nHost: x\nX-A: a\r\n\r\n");
  // A method that is not a token, and whitespace before the colon (section 5.1).
  expect_refused(*this, "G(T /ok HTTP/1.1\r\nHost: x\r\n\r\n");
  expect_refused(*this, "GET /ok HTTP/1.1\r\nHost : x\r\n\r\n");
  // A bare LF ending a chunk-size line.
  expect_refused(*this, "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\nabc\r\n0\r\n\r\n");
}

// --- Item 7: what Beast itself refuses (kept honest by a test each) ----------------

TEST_F(ServerFixture, OversizedHeaderIs431AndLongRequestLineIsRefused) {
  add_echo_routes();
  opts.max_header_bytes = 4096;
  start();
  bool closed = false;
  auto r = exchange("GET /ok HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(8000, 'a') + "\r\n\r\n", &closed);
  EXPECT_EQ(status_of(r), 431) << r;
  EXPECT_TRUE(closed);
  r = exchange("GET /" + std::string(8000, 'a') + " HTTP/1.1\r\nHost: x\r\n\r\n", &closed);
  EXPECT_EQ(status_of(r), 431) << r;
  EXPECT_TRUE(closed);
  // Many small fields count against the same limit.
  std::string many;
  for (int i = 0; i < 1000; ++i) many += "X-" + std::to_string(i) + ": 1\r\n";
  r = exchange("GET /ok HTTP/1.1\r\nHost: x\r\n" + many + "\r\n", &closed);
  EXPECT_EQ(status_of(r), 431) << r;
}

TEST_F(ServerFixture, ControlCharactersAndBadVersionsAreRefused) {
  add_echo_routes();
  start();
  using namespace std::string_literals;  // ""s keeps the embedded NULs, with the right length
  expect_refused(*this, "GET /ok HTTP/1.1\r\nHost: x\r\nX-A: a\0b\r\n\r\n"s);
  expect_refused(*this,
                 "GET /ok HTTP/1.1\r\nHost: x\r\nX-A: a\x01"
                 "b\r\n\r\n");
  expect_refused(*this, "GET /o\0k HTTP/1.1\r\nHost: x\r\n\r\n"s);
  expect_refused(*this, "GET /ok HTTP/2.0\r\nHost: x\r\n\r\n");
  expect_refused(*this, "GET /ok HTTP/1.1 \r\nHost: x\r\n\r\n");
  expect_refused(*this, "GET  /ok HTTP/1.1\r\nHost: x\r\n\r\n");
  expect_refused(*this, "GET /ok HTTP/1.1\r\nHost: x\r\nNo-Colon\r\n\r\n");
  expect_refused(*this, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999999\r\n\r\n");
  expect_refused(*this, "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n");
}

// --- Item 3: authentication before the body; 100 Continue only after the checks ----

struct PreBodyFixture : ServerFixture {
  std::atomic<int> handler_calls{0};
  void add_guarded_routes() {
    RouteOptions o;
    o.max_body_bytes = 100;
    o.before_body = [](const Request& r) -> std::optional<Response> {
      if (r.header("authorization") != "Bearer good") return Response::error(401, "unauthorized", "no");
      return std::nullopt;
    };
    router->add(
        "POST", "/guarded",
        [this](Request& r) {
          handler_calls++;
          return Response::text(200, "body=" + r.body);
        },
        o);
    o.stream_body = true;
    router->add(
        "PUT", "/guarded-up",
        [this](Request& r) {
          handler_calls++;
          std::string all;
          char buf[4096];
          while (size_t n = r.body_stream->read(buf, sizeof buf)) all.append(buf, n);
          return Response::text(200, "body=" + all);
        },
        o);
    router->add("POST", "/open", [](Request& r) { return Response::text(200, "body=" + r.body); });
    RouteOptions s;
    s.stream_body = true;
    router->add(
        "PUT", "/refuses-unread", [](Request&) { return Response::error(409, "conflict", "no"); }, s);
  }
};

TEST_F(PreBodyFixture, UnauthenticatedBodyIsRefusedBeforeItIsReadAndWithout100) {
  add_guarded_routes();
  start();
  for (std::string target : {"POST /guarded", "PUT /guarded-up"}) {
    Raw c(port);
    c.send(target + " HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 50\r\n\r\n");
    bool closed = false;
    auto r = c.read_all(2000ms, &closed);
    EXPECT_EQ(status_of(r), 401) << target << ": " << r;
    EXPECT_TRUE(closed) << target;
    EXPECT_EQ(r.find("100 Continue"), std::string::npos) << target << ": " << r;
  }
  // Without Expect, the same: answered without waiting for the body.
  Raw c(port);
  c.send("POST /guarded HTTP/1.1\r\nHost: x\r\nContent-Length: 50\r\n\r\n");
  EXPECT_EQ(status_of(c.read_until("\r\n\r\n", 2000ms)), 401);
  EXPECT_EQ(handler_calls, 0);
}

TEST_F(PreBodyFixture, AuthenticatedRequestGets100ThenItsAnswer) {
  add_guarded_routes();
  start();
  for (std::string target : {"POST /guarded", "PUT /guarded-up"}) {
    Raw c(port);
    c.send(target +
           " HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer good\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n");
    auto first = c.read_until("\r\n\r\n", 2000ms);
    EXPECT_EQ(first, "HTTP/1.1 100 Continue\r\n\r\n") << target;
    c.send("abc");
    auto r = c.read_until("body=abc", 2000ms);
    EXPECT_EQ(status_of(r), 200) << target << ": " << r;
  }
  EXPECT_EQ(handler_calls, 2);
}

TEST_F(PreBodyFixture, OverLimitContentLengthIs413Without100) {
  add_guarded_routes();
  start();
  Raw c(port);
  c.send(
      "POST /guarded HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer good\r\nExpect: 100-continue\r\nContent-Length: 101\r\n\r\n");
  bool closed = false;
  auto r = c.read_all(2000ms, &closed);
  EXPECT_EQ(status_of(r), 413) << r;
  EXPECT_TRUE(closed);
  EXPECT_EQ(handler_calls, 0);
}

TEST_F(PreBodyFixture, No100ForHttp10ForNoBodyOrForUnknownRoutes) {
  add_guarded_routes();
  start();
  {
    Raw c(port);
    c.send("POST /open HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n");
    EXPECT_FALSE(c.readable(300ms)) << "an HTTP/1.0 client got an interim response";
    c.send("abc");
    auto r = c.read_all(2000ms);
    EXPECT_EQ(r.substr(0, 12), "HTTP/1.0 200") << r;
  }
  {
    Raw c(port);
    c.send("POST /open HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 0\r\n\r\n");
    auto r = c.read_until("\r\n\r\n", 2000ms);
    EXPECT_EQ(status_of(r), 200) << r;
  }
  {
    // A streamed-body handler that answers without reading: no invitation either.
    Raw c(port);
    c.send("PUT /refuses-unread HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n");
    auto r = c.read_until("\r\n\r\n", 2000ms);
    EXPECT_EQ(status_of(r), 409) << r;
  }
  {
    Raw c(port);
    c.send("POST /nowhere HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n");
    auto r = c.read_until("\r\n\r\n", 2000ms);
    EXPECT_EQ(status_of(r), 404) << r;
  }
}

// --- Item 4: slow clients, connection and thread caps ------------------------------

// A connection dribbling its head is cut off at header_timeout after its first byte,
// however steadily it sends.
TEST_F(ServerFixture, SlowHeadIsCutOffAtTheHeaderDeadline) {
  add_echo_routes();
  opts.header_timeout = 1s;
  opts.idle_timeout = 30s;
  opts.read_timeout = 30s;
  start();
  Raw c(port);
  auto t0 = Clock::now();
  std::string head = "GET /ok HTTP/1.1\r\nHost: x\r\n";
  bool closed = false;
  for (int i = 0; Clock::now() - t0 < 5s; ++i) {
    if (!c.send(i < int(head.size()) ? head.substr(size_t(i), 1) : "X-Pad: 1\r\n")) break;
    if (c.readable(100ms)) {
      c.read_all(500ms, &closed);
      break;
    }
  }
  EXPECT_TRUE(closed);
  EXPECT_LT(Clock::now() - t0, 2500ms);
}

// An idle keep-alive connection is not held to the header deadline before its next
// request starts.
TEST_F(ServerFixture, IdleKeepAliveIsNotCutByTheHeaderDeadline) {
  add_echo_routes();
  opts.header_timeout = 1s;
  opts.idle_timeout = 30s;
  start();
  Raw c(port);
  c.send("GET /ok HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(status_of(c.read_until("ok", 2000ms)), 200);
  std::this_thread::sleep_for(1500ms);
  c.send("GET /ok HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(status_of(c.read_all(2000ms)), 200);
}

// A body sent below min_body_bytes_per_sec (after the grace period) is cut off, for a
// buffered and for a streamed body, although every single read is well within
// read_timeout.
TEST_F(ServerFixture, DribbledBodyIsCutOffByTheMinimumRate) {
  add_echo_routes();
  opts.read_timeout = 30s;
  opts.min_body_bytes_per_sec = 1000;
  opts.body_rate_grace = 1s;
  start();
  for (std::string target : {"POST /echo", "PUT /up"}) {
    Raw c(port);
    c.send(target + " HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n");
    auto t0 = Clock::now();
    bool closed = false;
    while (Clock::now() - t0 < 6s) {
      if (!c.send(std::string(10, 'a'))) {
        closed = true;
        break;
      }
      if (c.readable(100ms)) {
        c.read_all(500ms, &closed);
        break;
      }
    }
    EXPECT_TRUE(closed) << target;
    EXPECT_LT(Clock::now() - t0, 3500ms) << target;
  }
}

TEST_F(ServerFixture, BodyAtTheMinimumRateIsAccepted) {
  add_echo_routes();
  opts.min_body_bytes_per_sec = 1000;
  opts.body_rate_grace = 1s;
  start();
  Raw c(port);
  c.send("POST /echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 3000\r\n\r\n");
  auto t0 = Clock::now();
  for (int i = 0; i < 15; ++i) {  // 3000 bytes in about 1.5 s: 2000 B/s
    c.send(std::string(200, 'a'));
    std::this_thread::sleep_for(100ms);
  }
  EXPECT_LT(Clock::now() - t0, 2500ms);
  EXPECT_EQ(status_of(c.read_all(2000ms)), 200);
}

// Dribbling uploads hold at most half of the handler pool; the rest still answers.
TEST_F(ServerFixture, SlowUploadsCannotTakeEveryHandlerThread) {
  add_echo_routes();
  router->add("GET", "/pool", [](Request&) { return Response::text(200, "pool"); });
  opts.handler_threads = 4;
  opts.read_timeout = 30s;
  opts.min_body_bytes_per_sec = 0;
  start();
  std::vector<std::unique_ptr<Raw>> uploads;
  int busy = 0;
  for (int i = 0; i < 4; ++i) {
    uploads.push_back(std::make_unique<Raw>(port));
    uploads.back()->send("PUT /up HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\na");
  }
  for (auto& u : uploads) {
    auto r = u->read_until("\r\n\r\n", 300ms);
    if (status_of(r) == 503) {
      ++busy;
      EXPECT_NE(r.find("Retry-After:"), std::string::npos) << r;
    }
  }
  EXPECT_EQ(busy, 2);
  auto t0 = Clock::now();
  Raw c(port);
  c.send("GET /pool HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  auto r = c.read_all(3000ms);
  EXPECT_EQ(status_of(r), 200) << r;
  EXPECT_LT(Clock::now() - t0, 1000ms);
}

TEST_F(ServerFixture, ConnectionsBeyondTheCapAreClosedAndCounted) {
  add_echo_routes();
  opts.max_connections = 3;
  start();
  std::vector<std::unique_ptr<Raw>> held;
  for (int i = 0; i < 3; ++i) {
    held.push_back(std::make_unique<Raw>(port));
    held.back()->send("GET /ok HTTP/1.1\r\nHost: x\r\n\r\n");
    EXPECT_EQ(status_of(held.back()->read_until("ok", 2000ms)), 200);
  }
  {
    Raw extra(port);
    extra.send("GET /ok HTTP/1.1\r\nHost: x\r\n\r\n");
    bool closed = false;
    auto r = extra.read_all(2000ms, &closed);
    EXPECT_TRUE(closed);
    EXPECT_EQ(status_of(r), 0) << r;
  }
  EXPECT_GE(server->stats().refused_connections, 1u);
  held.pop_back();  // one slot frees up
  auto deadline = Clock::now() + 2s;
  int status = 0;
  while (status != 200 && Clock::now() < deadline) {
    Raw again(port);
    again.send("GET /ok HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    status = status_of(again.read_all(1000ms));
    if (status != 200) std::this_thread::sleep_for(20ms);
  }
  EXPECT_EQ(status, 200);
}

double cpu_seconds() {
  rusage u{};
  ::getrusage(RUSAGE_SELF, &u);
  return double(u.ru_utime.tv_sec + u.ru_stime.tv_sec) + double(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

// Out of file descriptors, accept(2) fails at once while the connection stays queued:
// the acceptor must wait before retrying instead of spinning, and serve the
// connection once descriptors are free again.
TEST_F(ServerFixture, AcceptBacksOffWhenOutOfFileDescriptors) {
  add_echo_routes();
  start();
  rlimit old{};
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &old), 0);
  rlimit low = old;
  low.rlim_cur = std::min<rlim_t>(old.rlim_cur, 1024);
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &low), 0);
  std::vector<int> fillers;
  for (int fd; (fd = ::open("/dev/null", O_RDONLY)) >= 0;) fillers.push_back(fd);
  ASSERT_FALSE(fillers.empty());
  ::close(fillers.back());
  fillers.pop_back();
  Raw c(port);  // takes the last descriptor: the server cannot accept this connection
  bool connected = c.fd >= 0;
  if (connected) c.send("GET /ok HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  double cpu0 = cpu_seconds();
  std::this_thread::sleep_for(1s);
  double cpu = cpu_seconds() - cpu0;
  for (int fd : fillers) ::close(fd);
  ::setrlimit(RLIMIT_NOFILE, &old);
  ASSERT_TRUE(connected);
  EXPECT_LT(cpu, 0.3) << "CPU seconds spent in one second while accept(2) failed";
  EXPECT_EQ(status_of(c.read_all(2000ms)), 200);
}

// --- Item 5: stop() is bounded by shutdown_grace plus a small margin -----------------

// Runs stop() on its own thread and reports how long it took (or that it hung).
std::chrono::milliseconds timed_stop(Server& s, std::chrono::milliseconds limit) {
  auto t0 = Clock::now();
  auto done = std::make_shared<std::promise<void>>();
  auto fut = done->get_future();
  std::thread([&s, done] {
    s.stop();
    done->set_value();
  }).detach();
  if (fut.wait_for(limit) != std::future_status::ready) {
    ADD_FAILURE() << "stop() still running after " << limit.count() << " ms";
    std::fflush(nullptr);
    std::_Exit(1);  // the stuck thread would hang the process at exit
  }
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0);
}

TEST_F(ServerFixture, StopIsBoundedWhileAnUploadWaitsForItsBody) {
  add_echo_routes();
  opts.shutdown_grace = 1s;
  opts.read_timeout = 60s;
  opts.min_body_bytes_per_sec = 0;
  start();
  Raw c(port);
  c.send("PUT /up HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\nsome");
  std::this_thread::sleep_for(200ms);  // the handler is now blocked in read()
  EXPECT_LT(timed_stop(*server, 10s), 2500ms);
}

TEST_F(ServerFixture, StopIsBoundedWhileAResponseWriteIsBlocked) {
  router->add("GET", "/big", [](Request&) { return Response::text(200, std::string(64u << 20, 'z')); });
  opts.shutdown_grace = 1s;
  opts.read_timeout = 60s;
  start();
  Raw c(port);
  int small = 4096;
  ::setsockopt(c.fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
  c.send("GET /big HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_TRUE(c.readable(2000ms));  // the response has started; the client reads no more
  EXPECT_LT(timed_stop(*server, 10s), 2500ms);
}

// A handler busy elsewhere (say, a slow object-store write) when the connections are
// closed: its next body read must fail at once, not wait on a stopped I/O thread.
TEST_F(ServerFixture, StopIsBoundedWhenAnUploadHandlerReadsAfterTheHardClose) {
  RouteOptions s;
  s.stream_body = true;
  router->add(
      "PUT", "/slow-sink",
      [](Request& r) {
        char buf[4096];
        while (r.body_stream->read(buf, sizeof buf) > 0) std::this_thread::sleep_for(4s);
        return Response::text(200, "done");
      },
      s);
  opts.shutdown_grace = 1s;
  opts.read_timeout = 60s;
  opts.min_body_bytes_per_sec = 0;
  start();
  Raw c(port);
  c.send("PUT /slow-sink HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\nsome");
  std::this_thread::sleep_for(200ms);
  // grace (1 s) + the close margin, then the handler's 4 s "write" ends and its next
  // read must fail at once.
  EXPECT_LT(timed_stop(*server, 10s), 5500ms);
}

// --- Item 7 (continued): malformed chunks and field names, refused by Beast ---------

TEST_F(ServerFixture, MalformedChunksAreRefused) {
  add_echo_routes();
  start();
  const std::string head = "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n";
  expect_refused(*this, head + "FFFFFFFFFFFFFFFFF\r\nabc\r\n0\r\n\r\n");  // over 64 bits
  expect_refused(*this, head + "3\r\nabcX\r\n0\r\n\r\n");                 // no CRLF after the data
  expect_refused(*this, head + "-3\r\nabc\r\n0\r\n\r\n");
  expect_refused(*this, head + "0x3\r\nabc\r\n0\r\n\r\n");
  expect_refused(*this, head + "3;=v\r\nabc\r\n0\r\n\r\n");  // extension without a name
  expect_refused(*this, head + "3\r\nabc\r\n0\r\nBad Trailer: 1\r\n\r\n");
}

TEST_F(ServerFixture, MalformedFieldsAreRefused) {
  add_echo_routes();
  start();
  expect_refused(*this, "GET /ok HTTP/1.1\r\nHost: x\r\nX(A: b\r\n\r\n");
  expect_refused(*this, "GET /ok HTTP/1.1\r\nHost: x\r\n: b\r\n\r\n");
  expect_refused(*this, "GET /ok HTTP/1.1\r\nHost: x\r\nX-A: a\x7f\r\n\r\n");
  expect_refused(*this, "GET /ok http/1.1\r\nHost: x\r\n\r\n");
  expect_refused(*this, "GET /ok HTTP/1.1\r\nHost: x\r\nConnection: close,,\"\r\n\r\n");
  expect_refused(*this, "GET /ok HTTP/1.1\r\n Host: x\r\n\r\n");  // a first field line that looks folded
}

// --- Async body sources and deferred answers: waiting holds no handler thread ------

namespace {

// A body that arrives when the test says so (an edge fill streaming from its origin):
// the shared state behind TrickleSource and TrickleAnswer.
struct Trickle {
  std::mutex mu;
  std::string data;  // released so far
  size_t total = 0;  // the Content-Length announced
  bool head_ready = false, done = false, failed = false;
  uint64_t version = 0;  // bumped on every change
  std::vector<std::function<void()>> waiters;
  template <class F>
  void change(F f) {
    std::vector<std::function<void()>> w;
    {
      std::lock_guard lk(mu);
      f();
      ++version;
      w.swap(waiters);
    }
    for (auto& cb : w) cb();
  }
  void notify(uint64_t seen, std::function<void()> cb) {
    {
      std::lock_guard lk(mu);
      if (version == seen) {
        waiters.push_back(std::move(cb));
        return;
      }
    }
    cb();
  }
};

class TrickleSource final : public AsyncBodySource {
 public:
  explicit TrickleSource(std::shared_ptr<Trickle> t) : t_(std::move(t)) {}
  ReadResult try_read(char* buf, size_t n) override {
    std::lock_guard lk(t_->mu);
    seen_ = t_->version;
    if (t_->data.size() > off_) {
      size_t k = std::min(n, t_->data.size() - off_);
      std::memcpy(buf, t_->data.data() + off_, k);
      off_ += k;
      return {ReadStatus::data, k};
    }
    if (t_->failed) return {ReadStatus::error, 0, "origin died"};
    if (t_->done) return {ReadStatus::eof};
    return {ReadStatus::would_block};
  }
  void notify_when_readable(std::function<void()> ready) override { t_->notify(seen_, std::move(ready)); }

 private:
  std::shared_ptr<Trickle> t_;
  size_t off_ = 0;
  uint64_t seen_ = 0;
};

class TrickleAnswer final : public DeferredResponse {
 public:
  explicit TrickleAnswer(std::shared_ptr<Trickle> t) : t_(std::move(t)) {}
  std::optional<Response> try_take() override {
    {
      std::lock_guard lk(t_->mu);
      seen_ = t_->version;
      if (!t_->head_ready) return std::nullopt;
    }
    Response r;
    r.source = std::make_unique<TrickleSource>(t_);
    r.source_length = t_->total;
    return r;
  }
  void notify_when_ready(std::function<void()> ready) override { t_->notify(seen_, std::move(ready)); }

 private:
  std::shared_ptr<Trickle> t_;
  uint64_t seen_ = 0;
};

std::string pattern_body(size_t n) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) s[i] = char('a' + (i * 7 + i / 251) % 26);
  return s;
}

std::string body_of(std::string_view raw) {
  auto p = raw.find("\r\n\r\n");
  return p == std::string_view::npos ? std::string() : std::string(raw.substr(p + 4));
}

// Reads until `body_bytes` more body bytes have arrived (or close / timeout). The
// first call's output includes the head.
std::string read_body(Raw& c, size_t body_bytes, std::chrono::milliseconds wait) {
  std::string out;
  auto deadline = Clock::now() + wait;
  size_t head = std::string::npos;
  for (;;) {
    if (head == std::string::npos && out.find("\r\n\r\n") != std::string::npos) head = out.find("\r\n\r\n") + 4;
    size_t body = head == std::string::npos ? out.size() : out.size() - head;
    if (body >= body_bytes && (head != std::string::npos || out.size() >= body_bytes)) return out;
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left <= 0ms || !c.readable(left)) return out;
    char buf[65536];
    ssize_t n = ::recv(c.fd, buf, sizeof buf, 0);
    if (n <= 0) return out;
    out.append(buf, size_t(n));
  }
}

template <class Pred>
bool eventually(Pred pred, std::chrono::milliseconds limit = 3000ms) {
  auto deadline = Clock::now() + limit;
  while (!pred()) {
    if (Clock::now() > deadline) return false;
    std::this_thread::sleep_for(2ms);
  }
  return true;
}

struct AsyncFixture : ServerFixture {
  std::vector<std::shared_ptr<Trickle>> trickles;
  std::atomic<int> handled{0};
  void add_trickle_routes(int n, size_t total) {
    for (int i = 0; i < n; ++i) {
      trickles.push_back(std::make_shared<Trickle>());
      trickles.back()->total = total;
    }
    router->add("GET", "/slow/{i}", [this](Request& r) {
      Response res;
      res.deferred = std::make_shared<TrickleAnswer>(trickles.at(std::stoul(r.params["i"])));
      handled++;
      return res;
    });
    router->add("GET", "/pool", [](Request&) { return Response::text(200, "pool"); });
  }
};

}  // namespace

// One handler thread and one I/O thread: eight responses wait for their heads, then
// stream half-arrived bodies, while a plain request is answered at once, and all
// eight complete with the right bytes once the rest arrives. A server that parks a
// thread per waiting response (or blocks its I/O thread) cannot answer /pool.
TEST_F(AsyncFixture, WaitingResponsesHoldNoThread) {
  constexpr int kSlow = 8;
  constexpr size_t kTotal = 200000;
  add_trickle_routes(kSlow, kTotal);
  opts.handler_threads = 1;
  opts.io_threads = 1;
  start();
  std::vector<std::unique_ptr<Raw>> viewers;
  for (int i = 0; i < kSlow; ++i) {
    viewers.push_back(std::make_unique<Raw>(port));
    viewers.back()->send("GET /slow/" + std::to_string(i) + " HTTP/1.1\r\nHost: x\r\n\r\n");
  }
  ASSERT_TRUE(eventually([&] { return handled == kSlow; }));  // every handler returned: the pool is free

  auto ask_pool = [&] {
    auto t0 = Clock::now();
    Raw c(port);
    c.send("GET /pool HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    auto r = c.read_all(3000ms);
    EXPECT_EQ(body_of(r), "pool") << r;
    EXPECT_LT(Clock::now() - t0, 500ms);
  };
  ask_pool();  // while every answer waits for its head

  std::string full = pattern_body(kTotal);
  for (auto& t : trickles)
    t->change([&] {
      t->head_ready = true;
      t->data = full.substr(0, kTotal / 2);
    });
  std::vector<std::string> got(kSlow);
  for (int i = 0; i < kSlow; ++i) {
    got[i] = read_body(*viewers[i], kTotal / 2, 2000ms);
    EXPECT_EQ(status_of(got[i]), 200);
  }
  ask_pool();  // while every body waits for its second half

  for (auto& t : trickles)
    t->change([&] {
      t->data = full;
      t->done = true;
    });
  for (int i = 0; i < kSlow; ++i) {
    std::string raw = got[i] + read_body(*viewers[i], kTotal - body_of(got[i]).size(), 3000ms);
    EXPECT_TRUE(body_of(raw) == full) << "viewer " << i << ": " << body_of(raw).size() << " bytes";
    EXPECT_NE(raw.find("Content-Length: " + std::to_string(kTotal)), std::string::npos);
  }
}

// An error from an async source after some bytes aborts the connection: the client
// sees a body shorter than Content-Length, never a complete 200.
TEST_F(AsyncFixture, AsyncSourceErrorMidBodyAbortsTheResponse) {
  add_trickle_routes(1, 1000);
  start();
  auto& t = *trickles[0];
  t.change([&] {
    t.head_ready = true;
    t.data = std::string(100, 'y');
  });
  Raw c(port);
  c.send("GET /slow/0 HTTP/1.1\r\nHost: x\r\n\r\n");
  std::string first = c.read_until(std::string(100, 'y'), 2000ms);
  EXPECT_EQ(status_of(first), 200);
  t.change([&] { t.failed = true; });
  bool closed = false;
  std::string rest = c.read_all(2000ms, &closed);
  EXPECT_TRUE(closed);
  EXPECT_EQ(body_of(first + rest), std::string(100, 'y'));
}

// A deferred answer that never comes is bounded by read_timeout: 504, connection closed.
TEST_F(AsyncFixture, DeferredAnswerThatNeverComesIs504AfterTheReadTimeout) {
  add_trickle_routes(1, 10);
  opts.read_timeout = 1s;
  start();
  auto t0 = Clock::now();
  bool closed = false;
  auto r = exchange("GET /slow/0 HTTP/1.1\r\nHost: x\r\n\r\n", &closed);
  EXPECT_EQ(status_of(r), 504) << r;
  EXPECT_TRUE(closed);
  EXPECT_LT(Clock::now() - t0, 1900ms);
}

TEST_F(AsyncFixture, StopIsBoundedWhileResponsesWaitOnSources) {
  add_trickle_routes(2, 1000);
  opts.shutdown_grace = 1s;
  opts.read_timeout = 60s;
  start();
  auto& t = *trickles[1];
  t.change([&] {
    t.head_ready = true;
    t.data = "abc";
  });
  Raw waiting_head(port), waiting_body(port);
  waiting_head.send("GET /slow/0 HTTP/1.1\r\nHost: x\r\n\r\n");
  waiting_body.send("GET /slow/1 HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_TRUE(eventually([&] { return handled == 2; }));
  EXPECT_EQ(status_of(waiting_body.read_until("abc", 2000ms)), 200);
  EXPECT_LT(timed_stop(*server, 10s), 2500ms);
  // A source calling back after the server stopped finds nothing to wake.
  trickles[0]->change([&] { trickles[0]->head_ready = true; });
  t.change([&] { t.done = true; });
}

namespace {
// A file range, as the edge's cache hits answer: the server sends it with sendfile(2).
class FileSource : public BodySource {
 public:
  FileSource(int fd, uint64_t off, uint64_t len) : fd_(fd), range_{fd, off, len} {}
  ~FileSource() override { ::close(fd_); }
  size_t read(char*, size_t) override { throw std::runtime_error("a file range is sent with sendfile"); }
  std::optional<FileRange> file_range() const override { return range_; }

 private:
  int fd_;
  FileRange range_;
};

struct FileFixture : ServerFixture {
  std::string path, content;
  void SetUp() override {
    char tmpl[] = "/tmp/rend-server-test-XXXXXX";
    int fd = ::mkstemp(tmpl);
    ASSERT_GE(fd, 0);
    path = tmpl;
    content.resize(6u << 20);
    for (size_t i = 0; i < content.size(); ++i) content[i] = char('a' + (i * 7 + i / 4096) % 26);
    ASSERT_EQ(::write(fd, content.data(), content.size()), ssize_t(content.size()));
    ::close(fd);
    router->add("GET", "/file/{off}/{len}", [this](Request& r) {
      Response res;
      uint64_t off = std::stoull(r.params["off"]), len = std::stoull(r.params["len"]);
      res.source = std::make_unique<FileSource>(::open(path.c_str(), O_RDONLY | O_CLOEXEC), off, len);
      res.source_length = len;
      return res;
    });
  }
  void TearDown() override { ::unlink(path.c_str()); }
};
}  // namespace

// The head and the file bytes, whole and in order, through a client whose receive
// buffer is small and that reads slowly (so the server's sendfile fills the socket
// and waits for it again and again); then a second response on the same connection
// (the head sent "more to come" must not hold anything back).
TEST_F(FileFixture, FileRangesArriveWholeThroughASlowReaderAndKeepAliveGoesOn) {
  start();
  Raw c(port);
  int small = 16 * 1024;
  ::setsockopt(c.fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
  const uint64_t off = 12345, len = (4u << 20) + 17;
  ASSERT_TRUE(c.send("GET /file/" + std::to_string(off) + "/" + std::to_string(len) + " HTTP/1.1\r\nHost: x\r\n\r\n"));
  std::string got;
  auto deadline = Clock::now() + 20s;
  size_t head_end = std::string::npos;
  while (Clock::now() < deadline) {
    if (head_end == std::string::npos) head_end = got.find("\r\n\r\n");
    if (head_end != std::string::npos && got.size() >= head_end + 4 + len) break;
    if (!c.readable(2000ms)) break;
    char buf[8192];
    ssize_t n = ::recv(c.fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    got.append(buf, size_t(n));
    if (got.size() < (1u << 20)) std::this_thread::sleep_for(1ms);  // slow at first: the server waits
  }
  ASSERT_NE(head_end, std::string::npos);
  EXPECT_EQ(status_of(got), 200);
  EXPECT_NE(got.substr(0, head_end).find("Content-Length: " + std::to_string(len)), std::string::npos);
  ASSERT_EQ(got.size(), head_end + 4 + len);
  EXPECT_TRUE(got.compare(head_end + 4, len, content, off, len) == 0) << "body differs from the file range";

  ASSERT_TRUE(c.send("GET /file/0/10 HTTP/1.1\r\nHost: x\r\n\r\n"));
  auto second = c.read_until(content.substr(0, 10), 2000ms);
  EXPECT_EQ(status_of(second), 200);
  EXPECT_EQ(second.substr(second.size() - 10), content.substr(0, 10));
}

// A client that stops reading a file response is cut off after read_timeout: the
// server ends the connection (what the kernel still holds for it then is its own).
TEST_F(FileFixture, AStalledFileResponseIsCutOffAtTheWriteTimeout) {
  opts.read_timeout = 1s;
  start();
  Raw c(port);
  int small = 4096;
  ::setsockopt(c.fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
  ASSERT_TRUE(c.send("GET /file/0/" + std::to_string(content.size()) + " HTTP/1.1\r\nHost: x\r\n\r\n"));
  ASSERT_TRUE(c.readable(2000ms));  // the response has started; the client reads no more
  auto start_wait = Clock::now();
  while (server->stats().open_connections > 0 && Clock::now() - start_wait < 10s) std::this_thread::sleep_for(20ms);
  EXPECT_EQ(server->stats().open_connections, 0u) << "the server kept the stalled connection";
  EXPECT_GE(Clock::now() - start_wait, 900ms) << "cut off before the write timeout";
}

namespace {
// A route that echoes what the server handed it: params, query, the headers it sees,
// the body and the request id. Registered inline and on the pool, so that both paths
// of a reused per-connection request are exercised.
void add_echo_request_routes(Router& router) {
  auto echo = [](Request& r) {
    std::string out = "id=" + r.params["id"] + ";";
    for (const auto& [k, v] : r.params) out += "param:" + k + "=" + v + ";";
    out += "query=" + r.query + ";path=" + r.path + ";method=" + r.method + ";";
    out += "n_headers=" + std::to_string(r.headers.items().size()) + ";";
    out += "x-a=" + std::string(r.header("x-a").value_or("-")) + ";";
    out += "cookie=" + r.cookie("c").value_or("-") + ";";
    out += "body=" + r.body + ";";
    out += "rid=" + r.request_id + ";";
    out += "cl=" + (r.content_length ? std::to_string(*r.content_length) : std::string("-")) + ";";
    return Response::text(200, out);
  };
  RouteOptions in;
  in.inline_handler = true;
  router.add("GET", "/in/{id}", echo, in);
  router.add("POST", "/in/{id}", echo, in);
  router.add("GET", "/pool/{id}/{rest*}", echo);
  router.add("POST", "/pool/{id}/{rest*}", echo);
}

// Reads `count` complete responses (each with a Content-Length) from `c`.
std::vector<std::string> read_responses(Raw& c, size_t count) {
  std::vector<std::string> out;
  std::string buf;
  auto deadline = Clock::now() + 5s;
  while (out.size() < count && Clock::now() < deadline) {
    auto he = buf.find("\r\n\r\n");
    if (he != std::string::npos) {
      auto cl = buf.find("Content-Length: ");
      if (cl != std::string::npos && cl < he) {
        size_t len = std::stoul(buf.substr(cl + 16));
        if (buf.size() >= he + 4 + len) {
          out.push_back(buf.substr(he + 4, len));
          buf.erase(0, he + 4 + len);
          continue;
        }
      }
    }
    if (!c.readable(1000ms)) continue;
    char tmp[65536];
    ssize_t n = ::recv(c.fd, tmp, sizeof tmp, 0);
    if (n <= 0) break;
    buf.append(tmp, size_t(n));
  }
  return out;
}

std::string field(std::string_view body, std::string_view name) {
  auto p = body.find(std::string(name) + "=");
  if (p == std::string_view::npos) return "<none>";
  p += name.size() + 1;
  return std::string(body.substr(p, body.find(';', p) - p));
}
}  // namespace

// The server reuses one request object per connection (no allocation per request):
// each request on a kept-alive connection sees only its own params, query, headers,
// body and a request id of its own, whatever the request before it carried.
TEST_F(ServerFixture, KeptAliveRequestsSeeNothingOfTheRequestBefore) {
  add_echo_request_routes(*router);
  start();
  Raw c(port);
  std::set<std::string> ids;
  for (int i = 0; i < 40; ++i) {
    const bool big = i % 2 == 0;
    const bool pool = i % 4 < 2;
    std::string id = "r" + std::to_string(i);
    std::string target = pool ? "/pool/" + id + "/a/b" : "/in/" + id;
    std::string req;
    if (big) {
      std::string body(3000 + i, char('a' + i % 26));
      req = "POST " + target + "?q=" + std::to_string(i) + "&long=" + std::string(500, 'z') +
            " HTTP/1.1\r\nHost: x\r\nX-A: value-" + std::to_string(i) + "\r\nCookie: c=" + std::string(300, 'k') +
            "\r\nX-Pad: " + std::string(2000, 'p') + "\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" +
            body;
    } else {
      req = "GET " + target + " HTTP/1.1\r\nHost: x\r\n\r\n";
    }
    ASSERT_TRUE(c.send(req));
    auto got = read_responses(c, 1);
    ASSERT_EQ(got.size(), 1u) << "request " << i;
    const auto& b = got[0];
    EXPECT_EQ(field(b, "id"), id) << b;
    EXPECT_EQ(field(b, "method"), big ? "POST" : "GET") << b;
    EXPECT_EQ(field(b, "path"), target) << b;
    if (pool) EXPECT_EQ(field(b, "param:rest"), "a/b") << b;
    else EXPECT_EQ(field(b, "param:rest"), "<none>") << b;
    if (big) {
      EXPECT_EQ(field(b, "query"), "q=" + std::to_string(i) + "&long=" + std::string(500, 'z')) << b;
      EXPECT_EQ(field(b, "x-a"), "value-" + std::to_string(i));
      EXPECT_EQ(field(b, "cookie"), std::string(300, 'k'));
      EXPECT_EQ(field(b, "body"), std::string(3000 + i, char('a' + i % 26)));
      EXPECT_EQ(field(b, "n_headers"), "5");
      EXPECT_EQ(field(b, "cl"), std::to_string(3000 + i));
    } else {
      EXPECT_EQ(field(b, "query"), "") << b;
      EXPECT_EQ(field(b, "x-a"), "-") << b;
      EXPECT_EQ(field(b, "cookie"), "-") << b;
      EXPECT_EQ(field(b, "body"), "") << b;
      EXPECT_EQ(field(b, "n_headers"), "1") << b;
      EXPECT_EQ(field(b, "cl"), "-") << b;
    }
    auto rid = field(b, "rid");
    EXPECT_TRUE(ids.insert(rid).second) << "request id repeated: " << rid;
  }
}

// Generated request ids are unique across connections too; a client's own
// X-Request-Id (bounded) is kept, and the next request without one gets a fresh id.
TEST_F(ServerFixture, RequestIdsAreUniqueAcrossConnectionsAndAGivenOneIsKept) {
  add_echo_request_routes(*router);
  start();
  std::set<std::string> ids;
  for (int conn = 0; conn < 5; ++conn) {
    Raw c(port);
    for (int i = 0; i < 5; ++i) {
      ASSERT_TRUE(c.send("GET /in/x HTTP/1.1\r\nHost: x\r\n\r\n"));
      auto got = read_responses(c, 1);
      ASSERT_EQ(got.size(), 1u);
      EXPECT_TRUE(ids.insert(field(got[0], "rid")).second) << field(got[0], "rid");
    }
    ASSERT_TRUE(c.send("GET /in/x HTTP/1.1\r\nHost: x\r\nX-Request-Id: client-chosen-1\r\n\r\n"));
    auto given = read_responses(c, 1);
    ASSERT_EQ(given.size(), 1u);
    EXPECT_EQ(field(given[0], "rid"), "client-chosen-1");
    ASSERT_TRUE(c.send("GET /in/x HTTP/1.1\r\nHost: x\r\n\r\n"));
    auto after = read_responses(c, 1);
    ASSERT_EQ(after.size(), 1u);
    EXPECT_NE(field(after[0], "rid"), "client-chosen-1");
    EXPECT_TRUE(ids.insert(field(after[0], "rid")).second);
  }
}

// Several requests in one segment (pipelining): answered in order, each with its own
// params, headers and body.
TEST_F(ServerFixture, PipelinedRequestsAreAnsweredInOrderWithTheirOwnParams) {
  add_echo_request_routes(*router);
  start();
  Raw c(port);
  std::string all;
  for (int i = 0; i < 10; ++i) {
    std::string target = i % 2 ? "/in/p" + std::to_string(i) : "/pool/p" + std::to_string(i) + "/r";
    if (i % 3 == 0)
      all += "POST " + target + " HTTP/1.1\r\nHost: x\r\nX-A: " + std::to_string(i) + "\r\nContent-Length: 3\r\n\r\nb" +
             std::to_string(i % 10) + "!";
    else all += "GET " + target + " HTTP/1.1\r\nHost: x\r\n\r\n";
  }
  ASSERT_TRUE(c.send(all));
  auto got = read_responses(c, 10);
  ASSERT_EQ(got.size(), 10u);
  for (int i = 0; i < 10; ++i) {
    EXPECT_EQ(field(got[i], "id"), "p" + std::to_string(i)) << got[i];
    EXPECT_EQ(field(got[i], "x-a"), i % 3 == 0 ? std::to_string(i) : "-") << got[i];
    EXPECT_EQ(field(got[i], "body"), i % 3 == 0 ? "b" + std::to_string(i % 10) + "!" : "") << got[i];
  }
}

// Large bodies: a connection's socket keeps at most 256 KiB unsent (TCP_NOTSENT_LOWAT),
// so the server itself pushes a big sendfile out as the client reads instead of
// parking the whole object in the kernel (see accept_loop). The server runs in this
// process, so its accepted socket is one of our descriptors: found by its peer port.
TEST_F(ServerFixture, AcceptedSocketsBoundTheirUnsentBytes) {
  router->add("GET", "/ok", [](Request&) { return Response::text(200, "ok"); });
  start();
  Raw c(port);
  ASSERT_TRUE(c.send("GET /ok HTTP/1.1\r\nHost: x\r\n\r\n"));
  ASSERT_NE(c.read_until("ok").find("200"), std::string::npos);
  sockaddr_in mine{};
  socklen_t len = sizeof mine;
  ASSERT_EQ(::getsockname(c.fd, reinterpret_cast<sockaddr*>(&mine), &len), 0);
  int found = -1;
  for (int fd = 3; fd < 4096 && found < 0; ++fd) {
    if (fd == c.fd) continue;
    sockaddr_in peer{};
    socklen_t plen = sizeof peer;
    if (::getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &plen) != 0 || peer.sin_family != AF_INET) continue;
    if (peer.sin_port == mine.sin_port) found = fd;
  }
  ASSERT_GE(found, 0) << "the server's end of the connection was not found";
  int lowat = 0;
  socklen_t olen = sizeof lowat;
  ASSERT_EQ(::getsockopt(found, IPPROTO_TCP, TCP_NOTSENT_LOWAT, &lowat, &olen), 0);
  EXPECT_EQ(lowat, 256 * 1024);
}

// --- Deadlines without a timer per operation (one sweeper per I/O thread) -----------

// A kept-alive connection that sends nothing more is closed at idle_timeout (within the
// sweep's granularity), not before.
TEST_F(ServerFixture, IdleKeepAliveIsClosedAtTheIdleTimeout) {
  add_echo_routes();
  opts.idle_timeout = 1s;
  start();
  Raw c(port);
  ASSERT_TRUE(c.send("GET /ok HTTP/1.1\r\nHost: x\r\n\r\n"));
  ASSERT_EQ(status_of(c.read_until("ok", 2000ms)), 200);
  auto t0 = Clock::now();
  bool closed = false;
  c.read_all(5000ms, &closed);
  EXPECT_TRUE(closed) << "the idle connection was kept past idle_timeout";
  EXPECT_GE(Clock::now() - t0, 900ms) << "closed before idle_timeout";
  EXPECT_LT(Clock::now() - t0, 2500ms);
}

// A buffered answer the client stops reading is cut off at read_timeout (the part the
// socket did not take goes out with a deadline the sweeper enforces).
TEST_F(ServerFixture, AStalledBufferedResponseIsCutOffAtTheWriteTimeout) {
  // Owned by the route (which outlives the server), not by this function's frame.
  auto big = std::make_shared<const std::string>(16u << 20, 'b');
  router->add("GET", "/big", [big](Request&) { return Response::text(200, *big); });
  opts.read_timeout = 1s;
  start();
  Raw c(port);
  int small = 4096;
  ::setsockopt(c.fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
  ASSERT_TRUE(c.send("GET /big HTTP/1.1\r\nHost: x\r\n\r\n"));
  ASSERT_TRUE(c.readable(2000ms));
  auto t0 = Clock::now();
  while (server->stats().open_connections > 0 && Clock::now() - t0 < 10s) std::this_thread::sleep_for(20ms);
  EXPECT_EQ(server->stats().open_connections, 0u) << "the server kept the stalled connection";
  EXPECT_GE(Clock::now() - t0, 900ms) << "cut off before the write timeout";
}

// A handler that takes longer than every socket deadline is not cut off: deadlines
// bound reads and writes, not the time the request spends in its handler.
TEST_F(ServerFixture, AHandlerSlowerThanTheSocketDeadlinesIsNotCutOff) {
  router->add("GET", "/slow", [](Request&) {
    std::this_thread::sleep_for(1700ms);
    return Response::text(200, "slow-done");
  });
  opts.idle_timeout = 1s;
  opts.header_timeout = 1s;
  opts.read_timeout = 1s;
  start();
  Raw c(port);
  ASSERT_TRUE(c.send("GET /slow HTTP/1.1\r\nHost: x\r\n\r\n"));
  auto r = c.read_until("slow-done", 4000ms);
  EXPECT_EQ(status_of(r), 200) << r;
  EXPECT_NE(r.find("slow-done"), std::string::npos) << r;
}

// Many requests on one kept-alive connection, inline and on the pool, each answered
// with its own params and headers.
TEST_F(ServerFixture, ManyKeepAliveRequestsOnOneConnection) {
  add_echo_request_routes(*router);
  start();
  Raw c(port);
  for (int i = 0; i < 3000; ++i) {
    std::string id = "k" + std::to_string(i);
    std::string target = i % 5 == 0 ? "/pool/" + id + "/r" : "/in/" + id;
    std::string req = "GET " + target + " HTTP/1.1\r\nHost: x\r\n";
    if (i % 2) req += "X-A: " + std::to_string(i) + "\r\n";
    ASSERT_TRUE(c.send(req + "\r\n")) << "request " << i;
    auto got = read_responses(c, 1);
    ASSERT_EQ(got.size(), 1u) << "request " << i;
    ASSERT_EQ(field(got[0], "id"), id) << got[0];
    ASSERT_EQ(field(got[0], "x-a"), i % 2 ? std::to_string(i) : "-") << got[0];
  }
}

// --- An async source whose bytes lie in a file: sent with sendfile(2) ---------------

namespace {
// A fill as the edge's cache makes it: bytes land in a file over time. How many are
// there is Trickle's data.size() (the data itself is the file's content); the source
// names its file with try_peek_file, and try_read only counts that it was called (a
// server taking the zero-copy path never calls it).
class FileTrickleSource final : public AsyncBodySource {
 public:
  FileTrickleSource(std::shared_ptr<Trickle> t, int fd, std::atomic<int>& reads, std::atomic<uint64_t>& consumed)
      : t_(std::move(t)), fd_(fd), reads_(reads), consumed_(consumed) {}
  ~FileTrickleSource() override { ::close(fd_); }
  ReadResult try_read(char*, size_t) override {
    reads_++;
    return {ReadStatus::error, 0, "try_read called on a file source"};
  }
  std::optional<ReadResult> try_peek_file(FileSpan& span, size_t n) override {
    std::lock_guard lk(t_->mu);
    seen_ = t_->version;
    if (t_->data.size() > off_) {
      span.fd = fd_;
      span.offset = off_;
      return ReadResult{ReadStatus::data, std::min(n, t_->data.size() - off_)};
    }
    if (t_->failed) return ReadResult{ReadStatus::error, 0, "origin died"};
    if (t_->done) return ReadResult{ReadStatus::eof};
    return ReadResult{ReadStatus::would_block};
  }
  void consume(size_t k) override {
    off_ += k;
    consumed_ += k;
  }
  void notify_when_readable(std::function<void()> ready) override { t_->notify(seen_, std::move(ready)); }

 private:
  std::shared_ptr<Trickle> t_;
  int fd_;
  std::atomic<int>& reads_;
  std::atomic<uint64_t>& consumed_;
  size_t off_ = 0;
  uint64_t seen_ = 0;
};

struct FileSpanFixture : ServerFixture {
  std::string path, content;
  std::shared_ptr<Trickle> t = std::make_shared<Trickle>();
  std::atomic<int> reads{0};
  std::atomic<uint64_t> consumed{0};
  void SetUp() override {
    char tmpl[] = "/tmp/rend-server-span-XXXXXX";
    int fd = ::mkstemp(tmpl);
    ASSERT_GE(fd, 0);
    path = tmpl;
    content = pattern_body(3u << 20);
    ASSERT_EQ(::write(fd, content.data(), content.size()), ssize_t(content.size()));
    ::close(fd);
    t->total = content.size();
    t->head_ready = true;
    // /span: with Content-Length; /span-chunked: length unknown (chunked framing).
    for (bool chunked : {false, true}) {
      router->add("GET", chunked ? "/span-chunked" : "/span", [this, chunked](Request&) {
        Response res;
        res.source =
            std::make_unique<FileTrickleSource>(t, ::open(path.c_str(), O_RDONLY | O_CLOEXEC), reads, consumed);
        if (!chunked) res.source_length = content.size();
        return res;
      });
    }
    router->add("GET", "/ok", [](Request&) { return Response::text(200, "ok"); });
  }
  void TearDown() override { ::unlink(path.c_str()); }
  void arrive(size_t n, bool done = false) {
    t->change([&] {
      t->data = content.substr(0, n);
      t->done = done;
    });
  }
};

// Decodes a chunked body (RFC 9112 section 7.1); sets `complete` at the last chunk.
std::string dechunk(std::string_view b, bool& complete) {
  std::string out;
  complete = false;
  for (;;) {
    auto eol = b.find("\r\n");
    if (eol == std::string_view::npos) return out;
    size_t n = std::stoul(std::string(b.substr(0, eol)), nullptr, 16);
    if (n == 0) {
      complete = b.substr(eol, 4) == "\r\n\r\n";
      return out;
    }
    if (b.size() < eol + 2 + n + 2) return out;
    out.append(b.substr(eol + 2, n));
    b.remove_prefix(eol + 2 + n + 2);
  }
}
}  // namespace

// The bytes arrive in the file in three steps; a slow reader (small receive buffer)
// makes the server's sendfile stop part-way again and again. The whole body arrives,
// right and in order, every byte through try_peek_file/consume (try_read is never
// called), and the connection goes on with the next request.
TEST_F(FileSpanFixture, FileSpansAreSentWithSendfileAsTheyArrive) {
  start();
  Raw c(port);
  int small = 16 * 1024;
  ::setsockopt(c.fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
  arrive(1000);
  ASSERT_TRUE(c.send("GET /span HTTP/1.1\r\nHost: x\r\n\r\n"));
  std::string raw = read_body(c, 1000, 2000ms);
  EXPECT_EQ(status_of(raw), 200) << raw.substr(0, 200);
  EXPECT_EQ(body_of(raw), content.substr(0, 1000));
  arrive(content.size() / 2);
  raw += read_body(c, content.size() / 2 - body_of(raw).size(), 3000ms);
  arrive(content.size(), true);
  raw += read_body(c, content.size() - body_of(raw).size(), 3000ms);
  EXPECT_NE(raw.find("Content-Length: " + std::to_string(content.size())), std::string::npos);
  EXPECT_TRUE(body_of(raw) == content) << body_of(raw).size() << " bytes of " << content.size();
  EXPECT_EQ(reads.load(), 0) << "the server copied the bytes through try_read";
  EXPECT_EQ(consumed.load(), content.size());
  ASSERT_TRUE(c.send("GET /ok HTTP/1.1\r\nHost: x\r\n\r\n"));
  EXPECT_EQ(body_of(c.read_until("ok", 2000ms)), "ok");
}

// Viewers of fills woken together (a storm's slices landing at once) get their turns one
// per pass of their I/O thread's queue (the server's Background queue): every wake is
// delivered, each viewer gets every byte in order, and a request on another connection
// is answered meanwhile. (Whether that request goes before most of the viewers' sends
// depends on when the reactor runs; bench/cold_fill.sh measures that: HIT p99.)
TEST_F(FileSpanFixture, ManyWokenFillViewersAllGetTheirBytesInTurns) {
  opts.io_threads = 1;  // every connection on the one queue
  router->add("GET", "/mark", [](Request&) { return Response::text(200, "marked"); });
  start();
  constexpr size_t kViewers = 100;
  const size_t kBytes = 512 * 1024;
  std::vector<std::unique_ptr<Raw>> viewers;
  for (size_t i = 0; i < kViewers; ++i) {
    viewers.push_back(std::make_unique<Raw>(port));
    ASSERT_TRUE(viewers.back()->send("GET /span HTTP/1.1\r\nHost: x\r\n\r\n"));
  }
  std::vector<std::string> got(kViewers);
  for (size_t i = 0; i < kViewers; ++i) got[i] = viewers[i]->read_until("\r\n\r\n", 2000ms);
  Raw mark(port);
  const auto deadline = Clock::now() + 5s;
  auto parked = [&] {
    std::lock_guard lk(t->mu);
    return t->waiters.size();
  };
  while (parked() < kViewers && Clock::now() < deadline) std::this_thread::sleep_for(1ms);
  ASSERT_EQ(parked(), kViewers) << "every viewer parked for its first bytes";
  arrive(kBytes / 2);  // wakes all of them at once
  ASSERT_TRUE(mark.send("GET /mark HTTP/1.1\r\nHost: x\r\n\r\n"));
  EXPECT_NE(mark.read_until("marked", 5000ms).find("marked"), std::string::npos);
  for (size_t i = 0; i < kViewers; ++i) got[i] += read_body(*viewers[i], kBytes / 2 - body_of(got[i]).size(), 3000ms);
  arrive(kBytes);
  for (size_t i = 0; i < kViewers; ++i) {
    got[i] += read_body(*viewers[i], kBytes - body_of(got[i]).size(), 3000ms);
    ASSERT_TRUE(body_of(got[i]) == content.substr(0, kBytes)) << "viewer " << i << ": " << body_of(got[i]).size();
  }
  EXPECT_EQ(consumed.load(), kViewers * kBytes);
}

// Length unknown: the spans go out as chunks, and the last chunk follows the source's
// end.
TEST_F(FileSpanFixture, FileSpansOfAnUnknownLengthGoOutChunked) {
  start();
  Raw c(port);
  arrive(70000);
  ASSERT_TRUE(c.send("GET /span-chunked HTTP/1.1\r\nHost: x\r\n\r\n"));
  std::string raw = c.read_until(content.substr(69990, 10), 2000ms);
  arrive(content.size(), true);
  bool complete = false;
  std::string body;
  auto deadline = Clock::now() + 5s;
  while (!complete && Clock::now() < deadline) {
    body = dechunk(body_of(raw), complete);
    if (!complete) raw += c.read_all(100ms);
  }
  EXPECT_NE(raw.find("Transfer-Encoding: chunked"), std::string::npos);
  EXPECT_TRUE(complete);
  EXPECT_TRUE(body == content) << body.size() << " bytes of " << content.size();
  EXPECT_EQ(reads.load(), 0);
}

// An error after some bytes aborts the connection (a body shorter than Content-Length);
// so does an end before Content-Length.
TEST_F(FileSpanFixture, ErrorOrEarlyEndMidBodyAbortsTheConnection) {
  start();
  for (bool error : {true, false}) {
    t->change([&] {
      t->data.clear();
      t->failed = false;
      t->done = false;
    });
    arrive(5000);
    Raw c(port);
    ASSERT_TRUE(c.send("GET /span HTTP/1.1\r\nHost: x\r\n\r\n"));
    std::string first = read_body(c, 5000, 2000ms);
    EXPECT_EQ(body_of(first), content.substr(0, 5000));
    if (error) t->change([&] { t->failed = true; });
    else arrive(6000, true);
    bool closed = false;
    std::string rest = c.read_all(2000ms, &closed);
    EXPECT_TRUE(closed) << (error ? "error" : "early end");
    EXPECT_EQ(body_of(first + rest), content.substr(0, error ? 5000 : 6000));
  }
}
