#include "http/outbound.h"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <thread>

#include "http/client.h"

namespace rend::http {
namespace {

const OutboundPolicy kStrict{};
const OutboundPolicy kTests{.allow_private = true};

TEST(OutboundAddress, RefusesEveryNonPublicIpv4Range) {
  for (const char* ip : {"127.0.0.1",   "127.255.0.9",     "10.1.2.3",        "172.16.0.1",      "172.31.255.255",
                         "192.168.1.1", "169.254.169.254", "169.254.0.1",     "100.64.0.1",      "0.0.0.0",
                         "0.1.2.3",     "224.0.0.1",       "239.255.255.250", "255.255.255.255", "240.0.0.1",
                         "192.0.2.5",   "198.18.0.1",      "198.51.100.7",    "203.0.113.9",     "192.0.0.8"})
    EXPECT_FALSE(outbound_address_allowed(std::string(ip), kStrict)) << ip;
}

TEST(OutboundAddress, AllowsPublicAddresses) {
  for (const char* ip : {"1.1.1.1", "8.8.8.8", "172.32.0.1", "172.15.255.255", "192.169.0.1", "100.128.0.1",
                         "2606:4700:4700::1111", "2a00:1450:4001:80b::200e"})
    EXPECT_TRUE(outbound_address_allowed(std::string(ip), kStrict)) << ip;
}

TEST(OutboundAddress, RefusesIpv6SpecialRangesAndEmbeddedPrivateIpv4) {
  for (const char* ip : {"::1", "::", "::ffff:127.0.0.1", "::ffff:169.254.169.254", "::ffff:10.0.0.1", "::127.0.0.1",
                         "64:ff9b::a9fe:a9fe", "64:ff9b::7f00:1", "2002:7f00:1::", "2002:a9fe:a9fe::", "fc00::1",
                         "fd00:ec2::254", "fe80::1", "fec0::1", "ff02::1", "2001:db8::1", "2001::1", "100::1"})
    EXPECT_FALSE(outbound_address_allowed(std::string(ip), kStrict)) << ip;
  EXPECT_TRUE(outbound_address_allowed(std::string("::ffff:8.8.8.8"), kStrict));
  EXPECT_TRUE(outbound_address_allowed(std::string("64:ff9b::808:808"), kStrict));
}

TEST(OutboundAddress, AllowPrivateOpensLoopbackAndPrivateButNeverMetadataOrMulticast) {
  for (const char* ip : {"127.0.0.1", "10.0.0.1", "192.168.0.1", "::1", "fd12::1", "::ffff:127.0.0.1"})
    EXPECT_TRUE(outbound_address_allowed(std::string(ip), kTests)) << ip;
  for (const char* ip : {"169.254.169.254", "::ffff:169.254.169.254", "fe80::1", "224.0.0.1", "0.0.0.0", "::"})
    EXPECT_FALSE(outbound_address_allowed(std::string(ip), kTests)) << ip;
  EXPECT_FALSE(outbound_address_allowed(std::string("not-an-ip"), kTests));
}

TEST(OutboundUrl, AcceptsOnlyHttpSchemesWithoutCredentials) {
  EXPECT_EQ(check_outbound_url("https://hooks.example.com/rend", kStrict), std::nullopt);
  EXPECT_EQ(check_outbound_url("http://hooks.example.com:8080/x?y=1", kStrict), std::nullopt);
  for (const char* url :
       {"file:///etc/passwd", "gopher://example.com/", "ftp://example.com/a", "dict://x:11211/",
        "https://user:pw@example.com/", "https://user@example.com/", "//example.com/x", "not a url", "", "https://"})
    EXPECT_NE(check_outbound_url(url, kStrict), std::nullopt) << url;
  OutboundPolicy production{.require_https = true};
  EXPECT_NE(check_outbound_url("http://hooks.example.com/", production), std::nullopt);
  EXPECT_EQ(check_outbound_url("https://hooks.example.com/", production), std::nullopt);
}

TEST(OutboundUrl, ReasonsNeverRepeatTheUrl) {
  auto why = check_outbound_url("https://user:s3cr3t-token@example.com/", kStrict);
  ASSERT_TRUE(why);
  EXPECT_EQ(why->find("s3cr3t"), std::string::npos);
}

TEST(OutboundTarget, RefusesHostsThatResolveToLoopback) {
  EXPECT_NE(check_outbound_target("http://localhost:9/", kStrict), std::nullopt);
  EXPECT_NE(check_outbound_target("http://127.0.0.1:9/", kStrict), std::nullopt);
  EXPECT_NE(check_outbound_target("http://[::1]:9/", kStrict), std::nullopt);
  EXPECT_NE(check_outbound_target("http://169.254.169.254/latest/meta-data/", kTests), std::nullopt);
  EXPECT_EQ(check_outbound_target("http://127.0.0.1:9/", kTests), std::nullopt);
}

TEST(OutboundSettings, PrivateOutboundIsRefusedInProduction) {
  core::Env env(std::map<std::string, std::string>{{"REND_ALLOW_PRIVATE_OUTBOUND_URLS", "true"}});
  EXPECT_TRUE(parse_outbound(env, core::Deployment{.production = false}).allow_private);
  EXPECT_THROW(parse_outbound(env, core::Deployment{.production = true}), core::ConfigError);
  core::Env prod;
  EXPECT_TRUE(parse_outbound(prod, core::Deployment{.production = true}).require_https);
}

// A one-shot HTTP server on loopback that answers every connection with `reply`.
class OneReplyServer {
 public:
  explicit OneReplyServer(std::string reply) : reply_(std::move(reply)) {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a);
    socklen_t len = sizeof a;
    getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    listen(fd_, 8);
    thread_ = std::thread([this] {
      for (;;) {
        int c = accept(fd_, nullptr, nullptr);
        if (c < 0) return;
        char buf[4096];
        (void)read(c, buf, sizeof buf);
        (void)write(c, reply_.data(), reply_.size());
        close(c);
      }
    });
  }
  ~OneReplyServer() {
    shutdown(fd_, SHUT_RDWR);
    close(fd_);
    thread_.join();
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/"; }

 private:
  std::string reply_;
  int fd_ = -1;
  int port_ = 0;
  std::thread thread_;
};

TEST(OutboundClient, RefusesLoopbackAtConnectTime) {
  OneReplyServer server("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok");
  ClientRequest req;
  req.url = server.url();
  req.outbound = &kStrict;
  auto res = send(req);
  EXPECT_EQ(res.status, 0);
  EXPECT_TRUE(res.address_refused);
  req.outbound = &kTests;
  res = send(req);
  EXPECT_EQ(res.status, 200);
  EXPECT_EQ(res.body, "ok");
}

TEST(OutboundClient, RefusesARedirectToTheMetadataAddress) {
  OneReplyServer server(
      "HTTP/1.1 302 Found\r\nLocation: http://169.254.169.254/latest/meta-data/\r\nContent-Length: 0\r\n"
      "Connection: close\r\n\r\n");
  ClientRequest req;
  req.url = server.url();
  req.outbound = &kTests;
  req.max_redirects = 3;
  req.timeout = std::chrono::milliseconds(3000);
  auto res = send(req);
  EXPECT_EQ(res.status, 0);
  EXPECT_TRUE(res.address_refused);
}

TEST(OutboundClient, RefusesARedirectToAnotherScheme) {
  OneReplyServer server("HTTP/1.1 302 Found\r\nLocation: file:///etc/passwd\r\nContent-Length: 0\r\n\r\n");
  ClientRequest req;
  req.url = server.url();
  req.outbound = &kTests;
  req.max_redirects = 3;
  auto res = send(req);
  EXPECT_EQ(res.status, 0);
  EXPECT_FALSE(res.error.empty());
}

TEST(OutboundClient, StopsABodyOverItsLimit) {
  OneReplyServer server("HTTP/1.1 200 OK\r\nContent-Length: 10\r\nConnection: close\r\n\r\n0123456789");
  ClientRequest req;
  req.url = server.url();
  req.outbound = &kTests;
  req.max_body_bytes = 4;
  std::string got;
  req.on_body = [&](const char* p, size_t n) {
    got.append(p, n);
    return true;
  };
  auto res = send(req);
  EXPECT_TRUE(res.body_too_large);
  EXPECT_EQ(res.status, 0);
  EXPECT_LE(got.size(), 4u);
}

}  // namespace
}  // namespace rend::http
