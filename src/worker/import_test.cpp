#include "worker/import.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <random>

#include "http/client.h"
#include "http/server.h"
#include "store/factory.h"
#include "store/testing/failing_objects.h"

namespace rend::worker {
namespace {
namespace fs = std::filesystem;
using namespace std::chrono_literals;

std::string random_bytes(size_t n) {
  std::mt19937 gen(42);
  std::string s(n, '\0');
  for (auto& c : s) c = char(gen());
  return s;
}

// A real HTTP server on 127.0.0.1 (the source a customer points at) and the real
// directory object store behind FailingObjects.
class Import : public ::testing::Test {
 protected:
  void SetUp() override {
    http::client_global_init();
    std::random_device rd;
    root_ = fs::temp_directory_path() / ("rend-import-test-" + std::to_string(rd()) + std::to_string(rd()));
    objects_ = std::make_unique<store::testing::FailingObjects>(store::open_fs_object_store(root_.string()));
    router_->add("GET", "/clip.mp4", [this](http::Request&) {
      ++hits_;
      return http::Response::text(200, body_, "video/mp4");
    });
    router_->add("GET", "/missing", [this](http::Request&) {
      ++hits_;
      return http::Response::error(404, "not_found", "no");
    });
    router_->add("GET", "/to/{where}", [this](http::Request& q) {
      ++hits_;
      auto r = http::Response::text(302, "moved");  // never part of the source
      const std::string& w = q.params["where"];
      r.headers.set("Location", w == "metadata"  ? "http://169.254.169.254/latest/meta-data/"
                                : w == "file"    ? "file:///etc/passwd"
                                : w == "private" ? "http://10.1.2.3/x"
                                                 : base_ + "/clip.mp4");
      return r;
    });
    server_ = std::make_unique<http::Server>(http::ServerOptions{}, router_);
    base_ = "http://127.0.0.1:" + std::to_string(server_->start());
    opts_.policy.allow_private = true;
    opts_.max_bytes = 1 << 20;
    opts_.timeout = 5s;
  }
  void TearDown() override {
    server_->stop();
    std::error_code ec;
    fs::remove_all(root_, ec);
  }
  ImportResult fetch(const std::string& url) { return fetch_source(url, key_, *objects_, opts_); }
  bool stored() { return objects_->head(key_).has_value(); }

  fs::path root_;
  std::unique_ptr<store::testing::FailingObjects> objects_;
  std::shared_ptr<http::Router> router_ = std::make_shared<http::Router>();
  std::unique_ptr<http::Server> server_;
  std::string base_;
  std::string body_ = random_bytes(300 * 1024);
  std::atomic<int> hits_{0};
  ImportOptions opts_;
  const std::string key_ = "sources/ast_import";
};

TEST_F(Import, StreamsTheBodyIntoTheObjectStoreByteForByte) {
  auto r = fetch(base_ + "/clip.mp4?X-Amz-Signature=secret");
  ASSERT_TRUE(r.status.ok()) << r.status.code << ": " << r.status.message;
  EXPECT_EQ(r.bytes, body_.size());
  auto reader = objects_->get(key_);
  ASSERT_TRUE(reader);
  std::string got(body_.size() + 1, '\0');
  size_t n = 0, k = 0;
  while ((k = reader->read(got.data() + n, got.size() - n)) > 0) n += k;
  got.resize(n);
  EXPECT_EQ(got, body_);
}

TEST_F(Import, FollowsARedirectToAnAllowedAddress) {
  auto r = fetch(base_ + "/to/self");
  ASSERT_TRUE(r.status.ok()) << r.status.code << ": " << r.status.message;
  EXPECT_EQ(r.bytes, body_.size());
  EXPECT_EQ(objects_->head(key_)->size, body_.size());
}

TEST_F(Import, LoopbackWithoutTheSwitchIsForbiddenAndNeverRequested) {
  opts_.policy.allow_private = false;
  auto r = fetch(base_ + "/clip.mp4");
  EXPECT_EQ(r.status.code, "input_forbidden");
  EXPECT_FALSE(r.status.retryable);
  EXPECT_EQ(hits_, 0) << "refused before connecting";
  EXPECT_FALSE(stored());
}

TEST_F(Import, TheMetadataAddressIsForbiddenEvenWithTheSwitch) {
  auto r = fetch("http://169.254.169.254/latest/meta-data/");
  EXPECT_EQ(r.status.code, "input_forbidden");
  EXPECT_FALSE(stored());
}

TEST_F(Import, ARedirectToAForbiddenAddressOrSchemeIsForbidden) {
  for (std::string where : {"metadata", "file"}) {
    auto r = fetch(base_ + "/to/" + where);
    EXPECT_EQ(r.status.code, "input_forbidden") << where << ": " << r.status.message;
    EXPECT_FALSE(stored()) << where;
  }
  opts_.policy.allow_private = false;
  // Without the switch the first hop is refused already; the private target never is reached.
  EXPECT_EQ(fetch(base_ + "/to/private").status.code, "input_forbidden");
}

TEST_F(Import, BadShapesAreForbiddenWithoutARequest) {
  for (std::string url : {"file:///etc/passwd", "ftp://127.0.0.1/x", "http://user:pw@127.0.0.1/x", "not a url"}) {
    auto r = fetch(url);
    EXPECT_EQ(r.status.code, "input_forbidden") << url;
    EXPECT_EQ(r.status.message.find("pw"), std::string::npos) << "the URL never appears in the message";
  }
  EXPECT_EQ(hits_, 0);
}

TEST_F(Import, ABodyOverTheLimitIsTooLargeAndNothingIsStored) {
  opts_.max_bytes = body_.size() - 1;
  auto r = fetch(base_ + "/clip.mp4");
  EXPECT_EQ(r.status.code, "input_too_large");
  EXPECT_FALSE(r.status.retryable);
  EXPECT_FALSE(stored());
  opts_.max_bytes = body_.size();
  EXPECT_TRUE(fetch(base_ + "/clip.mp4").status.ok()) << "exactly the limit is allowed";
}

TEST_F(Import, ANon2xxAnswerIsUnreachable) {
  auto r = fetch(base_ + "/missing?sig=secret");
  EXPECT_EQ(r.status.code, "input_unreachable");
  EXPECT_NE(r.status.message.find("404"), std::string::npos) << r.status.message;
  EXPECT_EQ(r.status.message.find("secret"), std::string::npos);
  EXPECT_FALSE(stored());
}

TEST_F(Import, AClosedPortIsUnreachable) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);  // bound once, now nobody listens there
  auto r = fetch("http://127.0.0.1:" + std::to_string(ntohs(a.sin_port)) + "/x");
  EXPECT_EQ(r.status.code, "input_unreachable");
}

TEST_F(Import, AStallingServerIsUnreachableAfterTheTimeout) {
  // Listening but never accepting: the kernel completes the connect, nobody answers.
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  ASSERT_EQ(::listen(fd, 4), 0);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  opts_.timeout = 300ms;
  auto t0 = std::chrono::steady_clock::now();
  auto r = fetch("http://127.0.0.1:" + std::to_string(ntohs(a.sin_port)) + "/x");
  auto took = std::chrono::steady_clock::now() - t0;
  ::close(fd);
  EXPECT_EQ(r.status.code, "input_unreachable");
  EXPECT_GE(took, 250ms);
  EXPECT_LT(took, 5s);
}

TEST_F(Import, KeepGoingFalseCancelsAndStoresNothing) {
  auto r = fetch_source(base_ + "/clip.mp4", key_, *objects_, opts_, [] { return false; });
  EXPECT_EQ(r.status.code, "cancelled");
  EXPECT_FALSE(stored());
}

TEST_F(Import, KeepGoingCancelsAStalledFetchLongBeforeItsTimeout) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  ASSERT_EQ(::listen(fd, 4), 0);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  opts_.timeout = 60s;
  std::atomic<int> asked{0};
  auto t0 = std::chrono::steady_clock::now();
  auto r = fetch_source("http://127.0.0.1:" + std::to_string(ntohs(a.sin_port)) + "/x", key_, *objects_, opts_,
                        [&] { return ++asked < 3; });
  auto took = std::chrono::steady_clock::now() - t0;
  ::close(fd);
  EXPECT_EQ(r.status.code, "cancelled");
  EXPECT_LT(took, 10s) << "a worker stopping does not wait for the import timeout";
}

TEST_F(Import, AnObjectStoreFailureIsRetryable) {
  objects_->fail_puts("sources/");
  auto r = fetch(base_ + "/clip.mp4");
  EXPECT_EQ(r.status.code, "storage_failed");
  EXPECT_TRUE(r.status.retryable);
  EXPECT_FALSE(stored());
}

TEST(ImportLog, OnlyTheHostIsLogged) {
  EXPECT_EQ(http::url_host_for_log("https://bucket.s3.example:9000/k/clip.mp4?X-Amz-Signature=abc"),
            "bucket.s3.example:9000");
  EXPECT_EQ(http::url_host_for_log("http://h.example?sig=1"), "h.example");
  EXPECT_EQ(http::url_host_for_log("http://h.example#frag"), "h.example");
  EXPECT_EQ(http::url_host_for_log("http://user:pw@h.example/x"), "h.example");
  EXPECT_EQ(http::url_host_for_log("garbage"), "?");
}

}  // namespace
}  // namespace rend::worker
