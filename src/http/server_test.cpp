#include "http/server.h"

#include <gtest/gtest.h>

#include <cstring>

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

struct ServerFixture : ::testing::Test {
  std::shared_ptr<Router> router = std::make_shared<Router>();
  std::unique_ptr<Server> server;
  std::string base;

  void start() {
    ServerOptions o;
    o.port = 0;
    o.decorate = [](const Request&, Response& r) { r.headers.set("x-test", "1"); };
    server = std::make_unique<Server>(o, router);
    base = "http://127.0.0.1:" + std::to_string(server->start());
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

TEST_F(ServerFixture, BufferedBodyLimit) {
  RouteOptions o;
  o.max_body_bytes = 10;
  router->add("POST", "/b", [](Request& r) { return Response::text(200, r.body); }, o);
  start();
  EXPECT_EQ(call("POST", "/b", "0123456789").body, "0123456789");
  EXPECT_EQ(call("POST", "/b", "0123456789A").status, 413);
}

TEST_F(ServerFixture, StreamedRequestBody) {
  RouteOptions o;
  o.stream_body = true;
  router->add("PUT", "/up",
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
