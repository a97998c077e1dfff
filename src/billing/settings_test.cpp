// billing::parse: defaults, the production rules and errors that name the variable
// but never the secret.
#include "billing/settings.h"

#include <gtest/gtest.h>

#include <functional>

using namespace rend;
using billing::FailurePolicy;
using billing::Mode;

namespace {
const std::string kTestKey = "am_sk_test_0123456789abcdefXyzzy42";
const std::string kLiveKey = "am_sk_live_0123456789abcdefXyzzy42";

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const core::ConfigError& e) {
    return e.what();
  }
  return "";
}
core::Env env(std::map<std::string, std::string> vars) { return core::Env(std::move(vars)); }
}  // namespace

TEST(BillingSettings, DefaultsOutsideProductionAreLocal) {
  auto s = billing::parse(env({}), false);
  EXPECT_EQ(s.mode, Mode::local);
  EXPECT_EQ(s.api_url, "https://api.useautumn.com");
  EXPECT_EQ(s.api_version, "2.0.0");
  EXPECT_EQ(s.delivery_feature("720p"), "delivery_720p");
  EXPECT_EQ(s.delivery_feature("4k"), "delivery_4k");
  EXPECT_EQ(s.storage_feature("1080p"), "storage_1080p");
  EXPECT_EQ(s.storage_feature("2k"), "storage_2k");
  EXPECT_EQ(s.failure_policy, FailurePolicy::allow);
  EXPECT_EQ(s.entitlement_cache_secs, 60u);
  EXPECT_EQ(s.delivery_sync_lag_secs, 300u);
  EXPECT_EQ(s.delivery_sync_max_window_secs, 3600u);
  EXPECT_EQ(s.storage_sync_lag_secs, 60u);
  EXPECT_EQ(s.storage_sync_max_window_secs, 3600u);
  EXPECT_THROW(s.delivery_feature("8k"), std::out_of_range);
}

TEST(BillingSettings, EveryVariableIsRead) {
  auto s = billing::parse(env({{"REND_BILLING_MODE", "autumn"},
                               {"AUTUMN_SECRET_KEY", kTestKey},
                               {"AUTUMN_API_URL", "http://127.0.0.1:9999"},
                               {"AUTUMN_API_VERSION", "1.2"},
                               {"REND_BILLING_FEATURE_DELIVERY_1080P", "minutes_hd"},
                               {"REND_BILLING_FEATURE_STORAGE_4K", "stored-uhd"},
                               {"REND_BILLING_ENTITLEMENT_FAILURE_POLICY", "deny"},
                               {"REND_BILLING_ENTITLEMENT_CACHE_SECS", "0"},
                               {"REND_BILLING_DELIVERY_SYNC_LAG_SECS", "30"},
                               {"REND_BILLING_DELIVERY_SYNC_MAX_WINDOW_SECS", "600"},
                               {"REND_BILLING_STORAGE_SYNC_LAG_SECS", "0"},
                               {"REND_BILLING_STORAGE_SYNC_MAX_WINDOW_SECS", "86400"}}),
                          false);
  EXPECT_EQ(s.mode, Mode::autumn);
  EXPECT_EQ(s.secret_key, kTestKey);
  EXPECT_EQ(s.api_url, "http://127.0.0.1:9999");
  EXPECT_EQ(s.api_version, "1.2");
  EXPECT_EQ(s.delivery_feature("1080p"), "minutes_hd");
  EXPECT_EQ(s.storage_feature("4k"), "stored-uhd");
  EXPECT_EQ(s.failure_policy, FailurePolicy::deny);
  EXPECT_EQ(s.entitlement_cache_secs, 0u);
  EXPECT_EQ(s.delivery_sync_lag_secs, 30u);
  EXPECT_EQ(s.delivery_sync_max_window_secs, 600u);
  EXPECT_EQ(s.storage_sync_lag_secs, 0u);
  EXPECT_EQ(s.storage_sync_max_window_secs, 86400u);
}

TEST(BillingSettings, BadValuesNameTheVariable) {
  const std::vector<std::pair<std::map<std::string, std::string>, std::string>> cases = {
      {{{"REND_BILLING_MODE", "stripe"}}, "REND_BILLING_MODE"},
      {{{"REND_BILLING_MODE", "autumn"}}, "AUTUMN_SECRET_KEY"},
      {{{"REND_BILLING_MODE", "autumn"}, {"AUTUMN_SECRET_KEY", "sk_live_notautumn"}}, "AUTUMN_SECRET_KEY"},
      {{{"REND_BILLING_MODE", "autumn"}, {"AUTUMN_SECRET_KEY", "am_sk_test_"}}, "AUTUMN_SECRET_KEY"},
      {{{"REND_BILLING_MODE", "autumn"}, {"AUTUMN_SECRET_KEY", kTestKey + " x"}}, "AUTUMN_SECRET_KEY"},
      {{{"AUTUMN_API_URL", "ftp://autumn"}}, "AUTUMN_API_URL"},
      {{{"AUTUMN_API_VERSION", "two"}}, "AUTUMN_API_VERSION"},
      {{{"REND_BILLING_FEATURE_DELIVERY_2K", "has space"}}, "REND_BILLING_FEATURE_DELIVERY_2K"},
      {{{"REND_BILLING_FEATURE_STORAGE_720P", "delivery_720p"}}, "REND_BILLING_FEATURE_STORAGE_720P"},
      {{{"REND_BILLING_ENTITLEMENT_FAILURE_POLICY", "maybe"}}, "REND_BILLING_ENTITLEMENT_FAILURE_POLICY"},
      {{{"REND_BILLING_ENTITLEMENT_CACHE_SECS", "-1"}}, "REND_BILLING_ENTITLEMENT_CACHE_SECS"},
      {{{"REND_BILLING_DELIVERY_SYNC_MAX_WINDOW_SECS", "0"}}, "REND_BILLING_DELIVERY_SYNC_MAX_WINDOW_SECS"},
      {{{"REND_BILLING_STORAGE_SYNC_MAX_WINDOW_SECS", "0"}}, "REND_BILLING_STORAGE_SYNC_MAX_WINDOW_SECS"},
      {{{"REND_BILLING_DELIVERY_SYNC_LAG_SECS", "soon"}}, "REND_BILLING_DELIVERY_SYNC_LAG_SECS"},
  };
  for (const auto& [vars, name] : cases) {
    auto e = error_of([&] { billing::parse(env(vars), false); });
    EXPECT_NE(e.find(name), std::string::npos) << "expected an error naming " << name << ", got '" << e << "'";
  }
}

TEST(BillingSettings, ProductionRequiresAutumnAndALiveKey) {
  // Production defaults to autumn, so an unset key is the first thing it names.
  EXPECT_NE(error_of([] { billing::parse(env({}), true); }).find("AUTUMN_SECRET_KEY"), std::string::npos);
  EXPECT_NE(error_of([] {
              billing::parse(env({{"REND_BILLING_MODE", "local"}}), true);
            }).find("REND_BILLING_MODE"),
            std::string::npos);
  auto e = error_of([] {
    billing::parse(env({{"REND_BILLING_MODE", "autumn"}, {"AUTUMN_SECRET_KEY", kTestKey}}), true);
  });
  EXPECT_NE(e.find("AUTUMN_SECRET_KEY"), std::string::npos);
  EXPECT_NE(e.find("am_sk_live_"), std::string::npos) << e;  // says what is expected
  EXPECT_NE(
      error_of([] {
        billing::parse(env({{"AUTUMN_SECRET_KEY", kLiveKey}, {"AUTUMN_API_URL", "http://autumn.internal"}}), true);
      }).find("AUTUMN_API_URL"),
      std::string::npos);
  auto s = billing::parse(env({{"AUTUMN_SECRET_KEY", kLiveKey}}), true);
  EXPECT_EQ(s.mode, Mode::autumn);
  EXPECT_EQ(s.secret_key, kLiveKey);
}

TEST(BillingSettings, ErrorsNeverContainTheKey) {
  const std::vector<std::map<std::string, std::string>> bad = {
      {{"AUTUMN_SECRET_KEY", kTestKey}, {"REND_BILLING_MODE", "autumn"}},  // test key in production
      {{"AUTUMN_SECRET_KEY", "am_sk_prod_Xyzzy42"}, {"REND_BILLING_MODE", "autumn"}},
      {{"AUTUMN_SECRET_KEY", kLiveKey + "\n"}, {"REND_BILLING_MODE", "autumn"}},
  };
  for (const auto& vars : bad) {
    auto e = error_of([&] { billing::parse(env(vars), true); });
    ASSERT_FALSE(e.empty());
    EXPECT_EQ(e.find("Xyzzy42"), std::string::npos) << e;
  }
}

TEST(BillingSettings, LocalModeIgnoresAnUnsetKeyButChecksAGivenOne) {
  // A key set in local mode is not used, but a malformed one is still a mistake.
  EXPECT_EQ(billing::parse(env({{"REND_BILLING_MODE", "local"}}), false).mode, Mode::local);
  EXPECT_NE(error_of([] {
              billing::parse(env({{"AUTUMN_SECRET_KEY", "oops"}}), false);
            }).find("AUTUMN_SECRET_KEY"),
            std::string::npos);
}

TEST(BillingSettings, TierIndex) {
  EXPECT_EQ(billing::tier_index("720p"), 0);
  EXPECT_EQ(billing::tier_index("4k"), 3);
  EXPECT_EQ(billing::tier_index("4K"), -1);
  EXPECT_EQ(billing::tier_index(""), -1);
}
