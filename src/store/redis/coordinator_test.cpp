// Redis backend pieces that need no server (URL parsing, behaviour while Redis is
// unreachable), plus the password-never-logged check against the test server.
// The Coordinator contract and cross-process tests are in ../coord_contract_test.cpp.
#include "store/redis/coordinator.h"

#include <gtest/gtest.h>

#include <chrono>

#include "store/redis/url.h"
#include "store/test_util.h"

namespace rend::store::redis {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// Port 1 on loopback: nothing listens, so connects are refused at once.
constexpr const char* kUnreachable = "redis://app:s3cr3t-pw@127.0.0.1:1/2";

TEST(RedisUrl, Defaults) {
  auto u = parse_redis_url("redis://cache");
  EXPECT_EQ(u.host, "cache");
  EXPECT_EQ(u.port, 6379);
  EXPECT_EQ(u.user, "");
  EXPECT_EQ(u.password, "");
  EXPECT_EQ(u.db, 0);
  EXPECT_EQ(parse_redis_url("redis://cache/").db, 0);
}

TEST(RedisUrl, AllParts) {
  auto u = parse_redis_url("redis://rend:p%40ss:w@redis.internal:6380/3");
  EXPECT_EQ(u.host, "redis.internal");
  EXPECT_EQ(u.port, 6380);
  EXPECT_EQ(u.user, "rend");
  EXPECT_EQ(u.password, "p@ss:w");
  EXPECT_EQ(u.db, 3);
  EXPECT_EQ(u.server(), "redis.internal:6380");
}

TEST(RedisUrl, PasswordOnlyAndIpv6) {
  auto u = parse_redis_url("redis://:pw@[::1]:7000");
  EXPECT_EQ(u.user, "");
  EXPECT_EQ(u.password, "pw");
  EXPECT_EQ(u.host, "::1");
  EXPECT_EQ(u.port, 7000);
  EXPECT_EQ(u.server(), "[::1]:7000");
}

TEST(RedisUrl, RejectsMalformedWithoutEchoingThePassword) {
  for (const char* bad : {"http://h", "rediss://:topsecret@h", "redis://:topsecret@", "redis://:topsecret@h:0",
                          "redis://:topsecret@h:99999", "redis://:topsecret@h:x", "redis://:topsecret@h/db",
                          "redis://:topsecret@h/1?x=y", "redis://topsecret@h", "redis://:%zz@h", "redis://[::1"}) {
    try {
      parse_redis_url(bad);
      ADD_FAILURE() << "accepted " << bad;
    } catch (const std::invalid_argument& e) {
      EXPECT_EQ(std::string(e.what()).find("topsecret"), std::string::npos) << e.what();
    }
  }
  EXPECT_THROW(open_redis_coordinator("redis://"), std::invalid_argument);
}

TEST(RedisClientName, IsValidForRedis) {
  EXPECT_EQ(client_name_for_prefix("rend:"), "rend-rend:");
  EXPECT_EQ(client_name_for_prefix(""), "rend");
  EXPECT_EQ(client_name_for_prefix("a b\n"), "rend-a_b_");
}

TEST(RedisUnreachable, DegradesWithoutThrowing) {
  ::testing::internal::CaptureStderr();
  auto coord = open_redis_coordinator(kUnreachable, "rend-test:");
  EXPECT_FALSE(coord->healthy());

  // Fails open, repeatedly, and fast (the connect is refused, then backed off).
  auto start = Clock::now();
  for (int i = 0; i < 5; ++i) EXPECT_TRUE(coord->rate_limit("k", 1, 60, 1'800'000'000).allowed) << i;
  EXPECT_FALSE(coord->rate_limit("k", 0, 60, 1'800'000'000).allowed) << "a zero limit needs no Redis";
  EXPECT_NO_THROW(coord->notify_job());
  EXPECT_NO_THROW(coord->notify_job());
  EXPECT_LT(Clock::now() - start, 2s);

  // The local notifies above still count for this process's waiters...
  EXPECT_LT(
      [&] {
        auto t = Clock::now();
        coord->wait_for_job(5s);
        return Clock::now() - t;
      }(),
      1s);
  // ...and otherwise a wait sleeps its full time: no spinning, no throwing.
  auto t = Clock::now();
  coord->wait_for_job(300ms);
  EXPECT_GE(Clock::now() - t, 290ms);
  EXPECT_LT(Clock::now() - t, 2s);
  coord.reset();  // stops the subscriber, which is retrying in the background

  const std::string logs = ::testing::internal::GetCapturedStderr();
  EXPECT_NE(logs.find("redis_unavailable"), std::string::npos) << logs;
  EXPECT_NE(logs.find("127.0.0.1:1"), std::string::npos) << logs;
  EXPECT_EQ(logs.find("s3cr3t-pw"), std::string::npos) << logs;
  // Once per failure burst, not once per call.
  size_t count = 0;
  for (size_t p = logs.find("redis_unavailable"); p != std::string::npos; p = logs.find("redis_unavailable", p + 1))
    ++count;
  EXPECT_EQ(count, 1u) << logs;
}

TEST(RedisAuth, WrongPasswordIsUnhealthyAndNeverLogged) {
  auto url = testing::service_env("REND_TEST_REDIS_URL");
  if (url.empty()) GTEST_SKIP() << "REND_TEST_REDIS_URL not set";
  auto parsed = parse_redis_url(url);
  std::string bad = "redis://" + parsed.user + ":wr0ng-s3cr3t@" + parsed.server() + "/" + std::to_string(parsed.db);

  ::testing::internal::CaptureStderr();
  auto coord = open_redis_coordinator(bad, "rend-test:");
  EXPECT_FALSE(coord->healthy());
  EXPECT_TRUE(coord->rate_limit("k", 1, 60, 1'800'000'000).allowed);
  coord.reset();
  const std::string logs = ::testing::internal::GetCapturedStderr();
  EXPECT_NE(logs.find("AUTH"), std::string::npos) << logs;
  EXPECT_EQ(logs.find("wr0ng-s3cr3t"), std::string::npos) << logs;
}

}  // namespace
}  // namespace rend::store::redis
