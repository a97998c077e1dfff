// The Coordinator contract, written once and run against every backend.
// Adding a backend (e.g. Redis) is one more entry in kBackends below.
#include <gtest/gtest.h>

#include <functional>
#include <future>
#include <sstream>
#include <thread>

#include "core/crypto.h"
#include "store/coord.h"
#include "store/factory.h"
#include "store/redis/connection.h"
#include "store/redis/coordinator.h"
#include "store/redis/url.h"
#include "store/test_util.h"

namespace rend::store {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

struct CoordBackend {
  std::string name;
  // Returns null when the backend's service is not configured (the test skips).
  std::function<std::unique_ptr<Coordinator>()> open;
  friend void PrintTo(const CoordBackend& b, std::ostream* os) { *os << b.name; }
};

// A fresh key prefix per coordinator, so tests sharing one Redis never see each
// other's keys, rate-limit windows or wake-ups.
std::string unique_redis_prefix() { return "rend-test:" + core::hex_encode(core::random_bytes(6)) + ":"; }

const CoordBackend kBackends[] = {
    {"memory", [] { return make_memory_coordinator(); }},
    {"redis",
     []() -> std::unique_ptr<Coordinator> {
       auto url = testing::service_env("REND_TEST_REDIS_URL");
       if (url.empty()) return nullptr;
       return redis::open_redis_coordinator(url, unique_redis_prefix());
     }},
};

class CoordContract : public ::testing::TestWithParam<CoordBackend> {
 protected:
  void SetUp() override {
    coord_ = GetParam().open();
    if (!coord_) GTEST_SKIP() << GetParam().name << ": service not configured";
  }

  // How long wait_for_job(max_wait) blocked.
  Clock::duration timed_wait(std::chrono::milliseconds max_wait) {
    auto start = Clock::now();
    coord_->wait_for_job(max_wait);
    return Clock::now() - start;
  }

  std::unique_ptr<Coordinator> coord_;
};

TEST_P(CoordContract, NotifyWakesWaiterPromptly) {
  auto waited = std::async(std::launch::async, [&] { return timed_wait(10s); });
  std::this_thread::sleep_for(100ms);
  coord_->notify_job();
  ASSERT_EQ(waited.wait_for(5s), std::future_status::ready);
  EXPECT_LT(waited.get(), 5s);
}

TEST_P(CoordContract, NotifyWakesEveryWaiter) {
  auto a = std::async(std::launch::async, [&] { return timed_wait(10s); });
  auto b = std::async(std::launch::async, [&] { return timed_wait(10s); });
  std::this_thread::sleep_for(100ms);
  coord_->notify_job();
  ASSERT_EQ(a.wait_for(5s), std::future_status::ready);
  ASSERT_EQ(b.wait_for(5s), std::future_status::ready);
}

TEST_P(CoordContract, NotifyWithNobodyWaitingWakesTheNextWait) {
  coord_->notify_job();
  EXPECT_LT(timed_wait(10s), 5s);
  // Consumed: the one after that sleeps its full time again.
  EXPECT_GE(timed_wait(100ms), 90ms);
}

TEST_P(CoordContract, WaitWithoutNotifyTimesOut) {
  auto waited = timed_wait(150ms);
  EXPECT_GE(waited, 140ms);
  EXPECT_LT(waited, 5s);
}

TEST_P(CoordContract, RateLimitAllowsLimitThenDenies) {
  const int64_t now = 1'800'000'010;  // 10 s into a 60 s window
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(coord_->rate_limit("ip:1", 3, 60, now).allowed) << i;
  auto denied = coord_->rate_limit("ip:1", 3, 60, now + 1);
  EXPECT_FALSE(denied.allowed);
  EXPECT_GT(denied.retry_after_secs, 0);
  EXPECT_LE(denied.retry_after_secs, 60);
  EXPECT_TRUE(coord_->rate_limit("ip:2", 3, 60, now).allowed) << "keys are independent";

  auto next_window = now + denied.retry_after_secs + 1;
  EXPECT_TRUE(coord_->rate_limit("ip:1", 3, 60, next_window).allowed);
}

TEST_P(CoordContract, ZeroLimitAlwaysDenies) {
  auto d = coord_->rate_limit("k", 0, 10, 1'800'000'000);
  EXPECT_FALSE(d.allowed);
  EXPECT_GT(d.retry_after_secs, 0);
}

TEST_P(CoordContract, HealthyWhileReachable) { EXPECT_TRUE(coord_->healthy()); }

INSTANTIATE_TEST_SUITE_P(Embedded, CoordContract, ::testing::ValuesIn(kBackends), testing::ParamName());

// ---- Redis-specific: behaviour across processes and connection failures ----

class RedisCoord : public ::testing::Test {
 protected:
  void SetUp() override {
    url_ = testing::service_env("REND_TEST_REDIS_URL");
    if (url_.empty()) GTEST_SKIP() << "REND_TEST_REDIS_URL not set";
    prefix_ = unique_redis_prefix();
  }
  // Separate instances share nothing but Redis, like two processes.
  std::unique_ptr<Coordinator> open() { return redis::open_redis_coordinator(url_, prefix_); }

  // Kills this test's connections only (by client name): CLIENT KILL TYPE normal
  // would also cut other tests sharing the server. Returns how many were killed.
  long long kill_our_connections() {
    auto admin = redis::Connection::open(redis::parse_redis_url(url_), {});
    auto list = admin.command({"CLIENT", "LIST"});
    const std::string needle = " name=" + redis::client_name_for_prefix(prefix_) + " ";
    long long killed = 0;
    std::istringstream lines{std::string(redis::reply_str(*list))};
    for (std::string line; std::getline(lines, line);) {
      if (line.find(needle) == std::string::npos) continue;
      auto id = line.substr(3, line.find(' ') - 3);  // "id=N ..."
      killed += admin.command({"CLIENT", "KILL", "ID", id})->integer;
    }
    return killed;
  }

  std::string url_;
  std::string prefix_;
};

TEST_F(RedisCoord, NotifyWakesAWaiterInAnotherProcess) {
  auto worker = open();
  auto api = open();
  worker->wait_for_job(1ms);  // subscribes (in the background)
  std::this_thread::sleep_for(200ms);

  auto waited = std::async(std::launch::async, [&] {
    worker->wait_for_job(10s);
    return Clock::now();
  });
  std::this_thread::sleep_for(100ms);
  const auto notified = Clock::now();
  api->notify_job();
  ASSERT_EQ(waited.wait_for(5s), std::future_status::ready);
  EXPECT_LT(waited.get() - notified, 500ms);
}

TEST_F(RedisCoord, NotifyWhileNoOneWaitsInAnotherProcessWakesTheNextWait) {
  auto worker = open();
  auto api = open();
  worker->wait_for_job(1ms);
  std::this_thread::sleep_for(200ms);
  api->notify_job();
  std::this_thread::sleep_for(200ms);  // delivered while the worker is "busy"
  auto start = Clock::now();
  worker->wait_for_job(10s);
  EXPECT_LT(Clock::now() - start, 500ms);
}

TEST_F(RedisCoord, RateLimitIsSharedAcrossProcesses) {
  auto a = open();
  auto b = open();
  const int64_t now = 1'800'000'000;
  EXPECT_TRUE(a->rate_limit("api:k", 2, 60, now).allowed);
  EXPECT_TRUE(b->rate_limit("api:k", 2, 60, now).allowed);
  auto d = a->rate_limit("api:k", 2, 60, now + 59);
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.retry_after_secs, 1);
}

TEST_F(RedisCoord, RecoversAfterItsConnectionsAreKilled) {
  auto worker = open();
  auto api = open();
  const int64_t now = 1'800'000'000;
  ASSERT_TRUE(api->rate_limit("k", 2, 60, now).allowed);  // pools a connection
  worker->wait_for_job(1ms);
  std::this_thread::sleep_for(200ms);

  ASSERT_GE(kill_our_connections(), 2) << "the pooled and the subscriber connection";

  // The next call already works (the stale pooled connection is replaced), and
  // really reaches Redis: the count from before the kill is still there.
  EXPECT_TRUE(api->rate_limit("k", 2, 60, now).allowed);
  EXPECT_FALSE(api->rate_limit("k", 2, 60, now).allowed);
  EXPECT_TRUE(api->healthy());

  // The subscriber reconnects by itself and wakes its waiters once (notifies sent
  // while it was away are lost)...
  auto start = Clock::now();
  worker->wait_for_job(5s);
  EXPECT_LT(Clock::now() - start, 3s);
  // ...after which wake-ups from other processes arrive promptly again.
  auto waited = std::async(std::launch::async, [&] {
    worker->wait_for_job(10s);
    return Clock::now();
  });
  std::this_thread::sleep_for(100ms);
  const auto notified = Clock::now();
  api->notify_job();
  ASSERT_EQ(waited.wait_for(5s), std::future_status::ready);
  EXPECT_LT(waited.get() - notified, 500ms);
}

TEST_F(RedisCoord, SelectsTheDatabaseFromTheUrl) {
  auto parsed = redis::parse_redis_url(url_);
  if (parsed.db != 0) GTEST_SKIP() << "the test URL already selects a database";
  auto coord = redis::open_redis_coordinator(url_ + (url_.ends_with("/") ? "" : "/") + "5", prefix_);
  ASSERT_TRUE(coord->rate_limit("db", 10, 60, 1'800'000'000).allowed);

  auto admin = redis::Connection::open(parsed, {});
  const std::string key = prefix_ + "rl:db:" + std::to_string(1'800'000'000 / 60);
  EXPECT_EQ(admin.command({"EXISTS", key})->integer, 0);
  admin.command({"SELECT", "5"});
  EXPECT_EQ(admin.command({"EXISTS", key})->integer, 1);
  admin.command({"DEL", key});
}

}  // namespace
}  // namespace rend::store
