#include <gtest/gtest.h>

#include "core/env.h"
#include "webhooks/backoff.h"
#include "webhooks/event.h"
#include "webhooks/settings.h"
#include "webhooks/signature.h"

namespace rend::webhooks {
namespace {

TEST(Signature, IsHmacSha256OfTimestampDotBodyInHex) {
  // Computed independently: printf '1700000000.{"a":1}' | openssl dgst -sha256 -hmac whsec_test
  EXPECT_EQ(sign_v1("whsec_test", 1700000000, R"({"a":1})"),
            "38877139021993b830af32feea6e18a8da83eb2f6e49ee50bd9e4cf4ca4d3789");
}

TEST(Signature, HeaderCarriesOneV1PerSecretAndEitherVerifies) {
  const std::string body = R"({"id":"evt_1"})";
  auto h = signature_header(1700000000, body, {"new", "old"});
  EXPECT_TRUE(h.starts_with("t=1700000000,v1="));
  EXPECT_EQ(std::count(h.begin(), h.end(), ','), 2);
  EXPECT_TRUE(verify_signature(h, body, "new", 1700000000, 300));
  EXPECT_TRUE(verify_signature(h, body, "old", 1700000100, 300));
  EXPECT_FALSE(verify_signature(h, body, "other", 1700000000, 300));
  EXPECT_FALSE(verify_signature(h, body + " ", "new", 1700000000, 300));                 // body changed
  EXPECT_FALSE(verify_signature(h, body, "new", 1700000301, 300));                       // replayed too late
  EXPECT_FALSE(verify_signature("v1=" + sign_v1("new", 1, body), body, "new", 1, 300));  // no t
}

TEST(Backoff, FirstRetryWithinTenSecondsThenDoublingCappedAtAnHour) {
  Settings s;
  EXPECT_EQ(retry_delay_ms(s, 1, 1.0), 10'000);
  EXPECT_EQ(retry_delay_ms(s, 1, 0.0), 5'000);
  EXPECT_EQ(retry_delay_ms(s, 2, 1.0), 20'000);
  EXPECT_EQ(retry_delay_ms(s, 3, 1.0), 40'000);
  EXPECT_EQ(retry_delay_ms(s, 9, 1.0), 2'560'000);
  EXPECT_EQ(retry_delay_ms(s, 10, 1.0), 3'600'000);
  EXPECT_EQ(retry_delay_ms(s, 1000, 1.0), 3'600'000);
  for (double j : {0.0, 0.3, 0.99}) EXPECT_LE(retry_delay_ms(s, 1, j), 10'000);
}

TEST(Backoff, GivesUpOnceTheNextAttemptWouldBeAfterADay) {
  Settings s;
  const int64_t t0 = 1'800'000'000'000;
  EXPECT_EQ(next_attempt_at_ms(s, 1, t0, t0, 1.0), t0 + 10'000);
  const int64_t day = 24LL * 3600 * 1000;
  EXPECT_EQ(next_attempt_at_ms(s, 30, t0 + day - 3'600'000, t0, 1.0), t0 + day);
  EXPECT_FALSE(next_attempt_at_ms(s, 30, t0 + day - 3'599'999, t0, 1.0));
}

TEST(Settings, RetryBaseIsATestKnobBoundedByTheContract) {
  EXPECT_EQ(parse_settings(core::Env(std::map<std::string, std::string>{})).retry_base_ms, 10'000);
  EXPECT_EQ(parse_settings(core::Env(std::map<std::string, std::string>{{"REND_WEBHOOK_RETRY_BASE_MS", "200"}}))
                .retry_base_ms,
            200);
  for (const char* bad : {"0", "10001", "abc"}) {
    try {
      parse_settings(core::Env(std::map<std::string, std::string>{{"REND_WEBHOOK_RETRY_BASE_MS", bad}}));
      ADD_FAILURE() << bad;
    } catch (const core::ConfigError& e) {
      EXPECT_NE(std::string(e.what()).find("REND_WEBHOOK_RETRY_BASE_MS"), std::string::npos);
    }
  }
}

TEST(EventBody, HasTheDocumentedShape) {
  store::WebhookDelivery d;
  d.event_id = "evt_1";
  d.event_type = "asset.ready";
  d.account_id = "acc_1";
  d.event_created_at_ms = 1'800'000'000'123;
  auto v = boost::json::parse(event_body(d, boost::json::object{{"id", "ast_1"}})).as_object();
  EXPECT_EQ(v["id"], "evt_1");
  EXPECT_EQ(v["type"], "asset.ready");
  EXPECT_EQ(v["account_id"], "acc_1");
  EXPECT_EQ(v["created_at"], "2027-01-15T08:00:00.123Z");
  EXPECT_EQ(v["data"].as_object()["asset"].as_object()["id"], "ast_1");
}

}  // namespace
}  // namespace rend::webhooks
