// AutumnClient against the real Autumn test double (tests/integration/autumn_double.py).
#include "billing/autumn_client.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <chrono>

#include "billing/testing/autumn_double_process.h"
#include "core/json.h"
#include "http/client.h"

using namespace rend;
using billing::AutumnClient;
using billing::CheckResult;
using billing::TrackEvent;
using billing::TrackResult;
using Check = CheckResult::Outcome;
using Track = TrackResult::Outcome;

namespace {

const std::string kKey = "am_sk_test_Cl1entSecretXyz";

class AutumnClientTest : public billing::testing::SuiteWithAutumnDouble<AutumnClientTest> {
 protected:
  static void SetUpTestSuite() { start_double({kKey}); }

  billing::Settings settings(const std::string& version = "2.0.0", const std::string& key = kKey) const {
    billing::Settings s;
    s.mode = billing::Mode::autumn;
    s.api_url = double_->url();
    s.secret_key = key;
    s.api_version = version;
    s.check_timeout_ms = 500;
    s.track_timeout_ms = 1000;
    return s;
  }
  boost::json::object log() const { return core::parse_json_strict(double_->log())->as_object(); }
  boost::json::array requests() const { return log().at("requests").as_array(); }
  boost::json::array recorded() const { return log().at("recorded").as_array(); }
};

TrackEvent ev(std::string customer, std::string feature, double value) {
  TrackEvent e;
  e.customer_id = std::move(customer);
  e.feature_id = std::move(feature);
  e.value = value;
  return e;
}

// A loopback port nobody listens on: bound by the kernel's choice, then closed.
std::string closed_port_url() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  close(fd);
  return "http://127.0.0.1:" + std::to_string(ntohs(a.sin_port));
}

}  // namespace

TEST_F(AutumnClientTest, CheckReadsBothResponseShapes) {
  double_->configure(R"({"refuse_features": ["delivery_4k"]})");
  for (const char* version : {"1.2", "2.0.0"}) {
    AutumnClient c(settings(version));
    auto ok = c.check("acc_1", "delivery_720p");
    EXPECT_EQ(ok.outcome, Check::allowed) << version << " " << ok.error;
    EXPECT_EQ(ok.status, 200);
    EXPECT_FALSE(ok.slow);
    EXPECT_EQ(c.check("acc_1", "delivery_4k").outcome, Check::denied) << version;
  }
  auto reqs = requests();
  ASSERT_EQ(reqs.size(), 4u);
  // The version header is always sent, and the body names the customer and feature.
  EXPECT_EQ(reqs[0].at("x_api_version").as_string(), "1.2");
  EXPECT_EQ(reqs[2].at("x_api_version").as_string(), "2.0.0");
  EXPECT_EQ(reqs[0].at("auth").as_string(), "ok");
  EXPECT_EQ(reqs[1].at("body").at("customer_id").as_string(), "acc_1");
  EXPECT_EQ(reqs[1].at("body").at("feature_id").as_string(), "delivery_4k");
}

TEST_F(AutumnClientTest, ASlowCheckCountsAsAllowed) {
  double_->configure(R"({"slow_check": true, "refuse_features": ["delivery_4k"]})");
  auto r = AutumnClient(settings()).check("acc_1", "delivery_4k");
  EXPECT_EQ(r.outcome, Check::allowed);
  EXPECT_TRUE(r.slow);
  EXPECT_EQ(r.status, 202);
}

TEST_F(AutumnClientTest, CheckIsUnavailableOnOverloadErrorsAndTimeouts) {
  AutumnClient c(settings());
  double_->configure(R"({"fail": {"status": 503, "count": 1, "retry_after": 7}})");
  auto r = c.check("acc_1", "delivery_720p");
  EXPECT_EQ(r.outcome, Check::unavailable);
  EXPECT_EQ(r.retry_after_secs, 7);
  EXPECT_EQ(r.status, 503);
  double_->configure(R"({"fail": {"status": 429, "count": 1, "retry_after": 2}})");
  r = c.check("acc_1", "delivery_720p");
  EXPECT_EQ(r.outcome, Check::unavailable);
  EXPECT_EQ(r.retry_after_secs, 2);
  double_->configure(R"({"drop": {"count": 1}})");
  r = c.check("acc_1", "delivery_720p");
  EXPECT_EQ(r.outcome, Check::unavailable);
  EXPECT_EQ(r.status, 0);
  EXPECT_EQ(r.retry_after_secs, AutumnClient::kDefaultRetrySecs);
  // Its own short timeout: a check waiting on a stuck Autumn gives up.
  double_->configure(R"({"delay_ms": 3000})");
  auto t0 = std::chrono::steady_clock::now();
  r = c.check("acc_1", "delivery_720p");
  auto took = std::chrono::steady_clock::now() - t0;
  EXPECT_EQ(r.outcome, Check::unavailable);
  EXPECT_LT(took, std::chrono::milliseconds(1500));
  double_->configure(R"({"delay_ms": 0})");
  billing::Settings s = settings();
  s.api_url = closed_port_url();
  r = AutumnClient(s).check("acc_1", "delivery_720p");
  EXPECT_EQ(r.outcome, Check::unavailable);
  EXPECT_FALSE(r.error.empty());
}

TEST_F(AutumnClientTest, TrackIsRecordedOnceAndADuplicateCountsAsRecorded) {
  AutumnClient c(settings());
  TrackEvent e{.customer_id = "acc_1",
               .feature_id = "delivery_1080p",
               .value = 0.2667,
               .idempotency_key = "acc_1:delivery_1080p:1000-2000",
               .timestamp_ms = 1700000000000};
  auto r = c.track(e);
  EXPECT_EQ(r.outcome, Track::recorded) << r.error;
  EXPECT_FALSE(r.duplicate);
  r = c.track(e);
  EXPECT_EQ(r.outcome, Track::recorded) << r.error;
  EXPECT_TRUE(r.duplicate);
  EXPECT_EQ(r.status, 409);
  auto rec = recorded();
  ASSERT_EQ(rec.size(), 1u);
  EXPECT_DOUBLE_EQ(rec[0].at("value").to_number<double>(), 0.2667);
  EXPECT_EQ(rec[0].at("idempotency_key").as_string(), "acc_1:delivery_1080p:1000-2000");
  EXPECT_EQ(rec[0].at("timestamp").to_number<int64_t>(), 1700000000000);
  EXPECT_EQ(rec[0].at("customer_id").as_string(), "acc_1");
}

TEST_F(AutumnClientTest, TrackRetriesAreClassifiedWithRetryAfter) {
  AutumnClient c(settings());
  TrackEvent e{.customer_id = "acc_1", .feature_id = "delivery_720p", .value = 1.5, .idempotency_key = "k-retry"};
  double_->configure(R"({"fail": {"status": 429, "count": 1, "retry_after": 4}})");
  auto r = c.track(e);
  EXPECT_EQ(r.outcome, Track::retry_after);
  EXPECT_EQ(r.retry_after_secs, 4);
  double_->configure(R"({"fail": {"status": 500, "count": 1}})");
  r = c.track(e);
  EXPECT_EQ(r.outcome, Track::retry_after);
  EXPECT_EQ(r.retry_after_secs, AutumnClient::kDefaultRetrySecs);
  double_->configure(R"({"fail": {"status": 503, "count": 1, "retry_after": 100000}})");
  EXPECT_EQ(c.track(e).retry_after_secs, AutumnClient::kMaxRetrySecs);
  double_->configure(R"({"drop": {"count": 1}})");
  r = c.track(e);
  EXPECT_EQ(r.outcome, Track::retry_after);
  EXPECT_EQ(r.status, 0);
  // A lost answer: the retry with the same key is a 409, i.e. recorded, counted once.
  double_->configure(R"({"drop_after_apply": {"count": 1}})");
  EXPECT_EQ(c.track(e).outcome, Track::retry_after);
  r = c.track(e);
  EXPECT_EQ(r.outcome, Track::recorded);
  EXPECT_TRUE(r.duplicate);
  EXPECT_EQ(recorded().size(), 1u);
}

TEST_F(AutumnClientTest, OtherClientErrorsFail) {
  double_->configure(R"({"unknown_features": ["delivery_8k"]})");
  auto r = AutumnClient(settings()).track(ev("acc_1", "delivery_8k", 1));
  EXPECT_EQ(r.outcome, Track::failed);
  EXPECT_EQ(r.status, 404);
  EXPECT_NE(r.error.find("feature_not_found"), std::string::npos) << r.error;
  r = AutumnClient(settings("2.0.0", "am_sk_test_notTheKey")).track(ev("a", "f", 1));
  EXPECT_EQ(r.outcome, Track::failed);
  EXPECT_EQ(r.status, 401);
  r = AutumnClient(settings("7.7")).track(ev("a", "f", 1));
  EXPECT_EQ(r.outcome, Track::failed);
  EXPECT_NE(r.error.find("invalid_api_version"), std::string::npos) << r.error;
}

TEST_F(AutumnClientTest, BatchTrackAndAbsoluteUsage) {
  AutumnClient c(settings());
  std::vector<TrackEvent> events = {ev("acc_1", "delivery_720p", 2), ev("acc_2", "delivery_4k", 0.5)};
  auto r = c.batch_track(events);
  EXPECT_EQ(r.outcome, Track::recorded) << r.error;
  EXPECT_EQ(r.status, 204);
  EXPECT_EQ(c.batch_track({}).outcome, Track::failed);
  EXPECT_EQ(c.batch_track(std::vector<TrackEvent>(1001, events[0])).outcome, Track::failed);
  r = c.set_usage("acc_1", "storage_1080p", 42.25);
  EXPECT_EQ(r.outcome, Track::recorded) << r.error;
  auto rec = recorded();
  ASSERT_EQ(rec.size(), 3u);
  EXPECT_EQ(rec[1].at("customer_id").as_string(), "acc_2");
  EXPECT_EQ(rec[2].at("kind").as_string(), "usage");
  EXPECT_DOUBLE_EQ(rec[2].at("value").to_number<double>(), 42.25);
  EXPECT_EQ(requests().size(), 2u);  // the two refused batches never left the client
}

TEST_F(AutumnClientTest, TheSecretNeverAppearsInAnError) {
  // The double quotes the Authorization header back in its error messages, as a
  // reflecting proxy would; every error string must still be free of the key.
  double_->configure(R"({"echo_auth_in_errors": true, "unknown_features": ["f"]})");
  AutumnClient c(settings());
  std::vector<std::string> errors;
  errors.push_back(c.track(ev("a", "f", 1)).error);
  errors.push_back(c.set_usage("a", "f", 1).error);
  errors.push_back(c.check("a", "f").error);
  errors.push_back(c.batch_track({ev("a", "f", 1)}).error);
  double_->configure(R"({"fail": {"status": 503, "count": 1}})");
  errors.push_back(c.track(ev("a", "g", 1)).error);
  // A key the double does not know, and a transport error.
  errors.push_back(AutumnClient(settings("2.0.0", "am_sk_test_OtherXyz")).check("a", "g").error);
  auto s = settings();
  s.api_url = closed_port_url();
  errors.push_back(AutumnClient(s).track(ev("a", "g", 1)).error);
  // The echo reached the client (so the redaction is what keeps the key out).
  bool redacted = false;
  for (const auto& e : errors) redacted = redacted || e.find("[redacted]") != std::string::npos;
  EXPECT_TRUE(redacted);
  for (const auto& e : errors) {
    EXPECT_FALSE(e.empty());
    EXPECT_EQ(e.find("Cl1entSecretXyz"), std::string::npos) << e;
    EXPECT_EQ(e.find("OtherXyz"), std::string::npos) << e;
  }
}
