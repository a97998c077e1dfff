// Entitlements: cache per (account, feature), the failure policies, local mode;
// against the real Autumn test double, with a hand-moved clock.
#include "billing/entitlements.h"

#include <gtest/gtest.h>

#include <atomic>
#include <boost/json.hpp>
#include <thread>
#include <vector>

#include "billing/testing/autumn_double_process.h"
#include "core/json.h"
#include "http/client.h"

using namespace rend;
using billing::Entitlement;
using billing::Entitlements;
using Outcome = Entitlement::Outcome;

namespace {

const std::string kKey = "am_sk_test_EntitlementsKey";

class EntitlementsTest : public billing::testing::SuiteWithAutumnDouble<EntitlementsTest> {
 protected:
  static void SetUpTestSuite() { start_double({kKey}); }

  billing::Settings settings(billing::FailurePolicy policy = billing::FailurePolicy::allow,
                             uint64_t cache_secs = 60) const {
    billing::Settings s;
    s.mode = billing::Mode::autumn;
    s.api_url = double_->url();
    s.secret_key = kKey;
    s.api_version = "2.0.0";
    s.failure_policy = policy;
    s.entitlement_cache_secs = cache_secs;
    s.check_timeout_ms = 300;
    return s;
  }
  Entitlements make(const billing::Settings& s) {
    return Entitlements(s, std::make_shared<billing::AutumnClient>(s), clock_);
  }
  size_t checks_sent() const {
    auto log = core::parse_json_strict(double_->log())->as_object();
    return log.at("requests").as_array().size();
  }
  std::string metrics(const Entitlements& e) const {
    std::string out;
    e.append_metrics(out);
    return out;
  }

  core::FakeClock clock_{1'700'000'000'000};
};

}  // namespace

TEST_F(EntitlementsTest, LocalModeAllowsEverythingWithoutACall) {
  auto s = settings();
  s.mode = billing::Mode::local;
  Entitlements none(s, nullptr, clock_);
  EXPECT_EQ(none.check("acc_1", "delivery_4k").outcome, Outcome::allowed);
  // Even with a client at hand (and a feature Autumn would refuse), local mode never calls.
  double_->configure(R"({"refuse_features": ["delivery_4k"]})");
  auto e = make(s);
  EXPECT_EQ(e.check("acc_1", "delivery_4k").outcome, Outcome::allowed);
  EXPECT_EQ(checks_sent(), 0u);
}

TEST_F(EntitlementsTest, AnswersAreCachedPerAccountAndFeature) {
  double_->configure(R"({"refuse_features": ["acc_2/delivery_4k"]})");
  auto e = make(settings());
  auto r = e.check("acc_1", "delivery_4k");
  EXPECT_EQ(r.outcome, Outcome::allowed);
  EXPECT_FALSE(r.cached);
  r = e.check("acc_1", "delivery_4k");
  EXPECT_EQ(r.outcome, Outcome::allowed);
  EXPECT_TRUE(r.cached);
  EXPECT_EQ(checks_sent(), 1u);
  EXPECT_EQ(e.check("acc_1", "delivery_720p").outcome, Outcome::allowed);  // another feature
  EXPECT_EQ(e.check("acc_2", "delivery_4k").outcome, Outcome::denied);     // another account
  EXPECT_EQ(checks_sent(), 3u);
  // A denial is cached too: a plan change shows within the cache time.
  double_->configure(R"({"refuse_features": []})");
  clock_.advance_ms(59'000);
  EXPECT_EQ(e.check("acc_2", "delivery_4k").outcome, Outcome::denied);
  EXPECT_EQ(checks_sent(), 3u);
  clock_.advance_ms(1'000);
  EXPECT_EQ(e.check("acc_2", "delivery_4k").outcome, Outcome::allowed);
  EXPECT_EQ(checks_sent(), 4u);
}

TEST_F(EntitlementsTest, ZeroCacheSecondsAsksEveryTime) {
  auto e = make(settings(billing::FailurePolicy::allow, 0));
  e.check("acc_1", "storage_720p");
  e.check("acc_1", "storage_720p");
  EXPECT_EQ(checks_sent(), 2u);
}

TEST_F(EntitlementsTest, AllowPolicyLetsRequestsThroughAndCountsThem) {
  auto e = make(settings(billing::FailurePolicy::allow));
  double_->configure(R"({"fail": {"status": 503, "count": 1, "retry_after": 5}})");
  auto r = e.check("acc_1", "delivery_1080p");
  EXPECT_EQ(r.outcome, Outcome::allowed);
  EXPECT_TRUE(r.by_failure_policy);
  EXPECT_EQ(e.failures(), 1u);
  // Within Retry-After the outage is remembered: no call, still allowed and counted.
  clock_.advance_ms(4'000);
  r = e.check("acc_1", "delivery_1080p");
  EXPECT_EQ(r.outcome, Outcome::allowed);
  EXPECT_TRUE(r.by_failure_policy);
  EXPECT_EQ(e.failures(), 2u);
  EXPECT_EQ(checks_sent(), 1u);
  EXPECT_NE(metrics(e).find("rend_billing_entitlement_failures_total{policy=\"allow\"} 2\n"), std::string::npos)
      << metrics(e);
  // After it, Autumn is asked again, and its real answer is cached.
  clock_.advance_ms(1'000);
  r = e.check("acc_1", "delivery_1080p");
  EXPECT_EQ(r.outcome, Outcome::allowed);
  EXPECT_FALSE(r.by_failure_policy);
  EXPECT_EQ(checks_sent(), 2u);
  EXPECT_EQ(e.failures(), 2u);
}

TEST_F(EntitlementsTest, DenyPolicyIsUnavailableWithRetryAfter) {
  auto e = make(settings(billing::FailurePolicy::deny));
  double_->configure(R"({"fail": {"status": 429, "count": 1, "retry_after": 3}})");
  auto r = e.check("acc_1", "delivery_1080p");
  EXPECT_EQ(r.outcome, Outcome::unavailable);
  EXPECT_EQ(r.retry_after_secs, 3);
  EXPECT_FALSE(r.by_failure_policy);
  clock_.advance_ms(1'000);
  r = e.check("acc_1", "delivery_1080p");
  EXPECT_EQ(r.outcome, Outcome::unavailable);
  EXPECT_EQ(r.retry_after_secs, 2);  // what is left of it
  EXPECT_EQ(checks_sent(), 1u);
  EXPECT_NE(metrics(e).find("rend_billing_entitlement_failures_total{policy=\"deny\"} 2\n"), std::string::npos)
      << metrics(e);
  // A timeout is a failure too (the client's own short timeout).
  double_->configure(R"({"delay_ms": 2000})");
  EXPECT_EQ(e.check("acc_3", "delivery_4k").outcome, Outcome::unavailable);
  double_->configure(R"({"delay_ms": 0})");
}

TEST_F(EntitlementsTest, ASlowCheckIsAllowedNotAFailure) {
  double_->configure(R"({"slow_check": true, "refuse_features": ["delivery_4k"]})");
  auto e = make(settings(billing::FailurePolicy::deny));
  auto r = e.check("acc_1", "delivery_4k");
  EXPECT_EQ(r.outcome, Outcome::allowed);
  EXPECT_FALSE(r.by_failure_policy);
  EXPECT_EQ(e.failures(), 0u);
}

TEST_F(EntitlementsTest, ConcurrentChecksShareTheCache) {
  double_->configure(R"({"refuse_features": ["delivery_4k"]})");
  auto e = make(settings());
  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < 200; ++i) {
        const bool refused = (i + t) % 2 == 0;
        auto r = e.check("acc_" + std::to_string(i % 3), refused ? "delivery_4k" : "delivery_720p");
        if (r.outcome != (refused ? Outcome::denied : Outcome::allowed)) ++wrong;
      }
    });
  for (auto& th : threads) th.join();
  EXPECT_EQ(wrong.load(), 0);
  // Six keys; concurrent first misses may each ask, but never one call per request.
  EXPECT_GE(checks_sent(), 6u);
  EXPECT_LE(checks_sent(), 6u * 8);
}
