// The dispatcher against a real SQLite store, with FakeClock for the exact retry
// schedule. The sender is a double here only because the schedule spans hours of
// fake time; tests/integration/test_webhooks.py sends to a real receiver.
#include "webhooks/dispatcher.h"

#include <gtest/gtest.h>

#include "store/factory.h"
#include "store/test_util.h"
#include "webhooks/signature.h"

namespace rend::webhooks {
namespace {

constexpr int64_t kT0 = 1'800'000'000'000;

class DispatcherTest : public ::testing::Test {
 protected:
  void SetUp() override {
    meta_ = store::open_metadata_store("sqlite://" + (dir_.path() / "rend.db").string());
    meta_->migrate();
    meta_->create_account({"acc_1", "one", kT0});
    hook_ = {"whk_1", "acc_1", "http://127.0.0.1:9/hook", {"asset.created"}, "whsec_current", std::nullopt, 0, kT0};
    meta_->create_webhook(hook_);
  }

  std::string new_asset() {
    store::Asset a;
    a.id = "ast_" + std::to_string(++n_);
    a.visibility = "private";
    a.account_id = "acc_1";
    a.owner_key_id = "key_1";
    a.created_at_ms = clock_.now_unix_ms();
    meta_->create_upload(a, {"upl_" + std::to_string(n_), a.id, std::nullopt, "pending", a.created_at_ms});
    return a.id;
  }

  Dispatcher make(std::function<http::ClientResponse(const http::ClientRequest&)> send) {
    return Dispatcher(
        settings_, *meta_, policy_, clock_,
        [](const store::Asset& a) {
          return boost::json::value(boost::json::object{{"id", a.id}, {"status", a.status}});
        },
        std::move(send), [] { return 1.0; });
  }

  store::WebhookDelivery only_delivery() {
    auto l = meta_->list_webhook_deliveries("whk_1", 10);
    EXPECT_EQ(l.size(), 1u);
    return l.at(0);
  }

  store::testing::TempDir dir_;
  core::FakeClock clock_{kT0};
  Settings settings_;
  http::OutboundPolicy policy_;
  std::unique_ptr<store::MetadataStore> meta_;
  store::Webhook hook_;
  int n_ = 0;
};

TEST_F(DispatcherTest, FailingReceiverIsRetriedOnTheScheduleThenDelivered) {
  std::vector<int64_t> sent_at;
  std::vector<http::ClientRequest> requests;
  auto d = make([&](const http::ClientRequest& r) {
    sent_at.push_back(clock_.now_unix_ms());
    requests.push_back(r);
    http::ClientResponse resp;
    resp.status = sent_at.size() <= 3 ? 500 : 204;
    return resp;
  });
  const std::string asset = new_asset();
  EXPECT_FALSE(d.run_once() && d.run_once());  // one delivery, one attempt now, nothing more due

  for (int i = 0; i < 3; ++i) {
    const auto dl = only_delivery();
    EXPECT_EQ(dl.status, "pending");
    EXPECT_EQ(dl.attempts, i + 1);
    EXPECT_EQ(dl.last_status_code, std::optional<int64_t>(500));
    EXPECT_EQ(dl.last_error, std::optional<std::string>("http_500"));
    clock_.set_unix_ms(dl.next_attempt_at_ms - 1);
    EXPECT_FALSE(d.run_once());  // not due yet
    clock_.set_unix_ms(dl.next_attempt_at_ms);
    EXPECT_TRUE(d.run_once());
  }
  EXPECT_EQ(only_delivery().status, "delivered");
  EXPECT_EQ(only_delivery().attempts, 4);
  // Jitter pinned at its top: 10 s, then doubling.
  ASSERT_EQ(sent_at.size(), 4u);
  EXPECT_EQ(sent_at[1] - sent_at[0], 10'000);
  EXPECT_EQ(sent_at[2] - sent_at[1], 20'000);
  EXPECT_EQ(sent_at[3] - sent_at[2], 40'000);
  EXPECT_EQ(d.stats().delivered, 1u);
  EXPECT_EQ(d.stats().retried, 3u);
  EXPECT_EQ(d.stats().failed, 0u);

  // Every attempt is the same event, signed, under the outbound policy.
  for (const auto& r : requests) {
    EXPECT_EQ(r.method, "POST");
    EXPECT_EQ(r.url, hook_.url);
    EXPECT_EQ(r.outbound, &policy_);
    EXPECT_EQ(r.timeout, std::chrono::milliseconds(settings_.timeout_ms));
    std::string sig;
    for (const auto& [k, v] : r.headers)
      if (k == "Rend-Signature") sig = v;
    EXPECT_TRUE(verify_signature(sig, r.body, "whsec_current", clock_.now_unix(), 300)) << sig;
    auto body = boost::json::parse(r.body).as_object();
    EXPECT_EQ(body["type"], "asset.created");
    EXPECT_EQ(body["data"].as_object()["asset"].as_object()["id"].as_string(), asset);
  }
}

TEST_F(DispatcherTest, GivesUpAfterADayAndRecordsRefusedAddresses) {
  int calls = 0;
  auto d = make([&](const http::ClientRequest&) {
    ++calls;
    http::ClientResponse resp;
    resp.address_refused = true;
    resp.error = "refused";
    return resp;
  });
  new_asset();
  while (only_delivery().status == "pending") {
    clock_.set_unix_ms(only_delivery().next_attempt_at_ms);
    ASSERT_TRUE(d.run_once());
    ASSERT_LT(calls, 100);
  }
  const auto dl = only_delivery();
  EXPECT_EQ(dl.status, "failed");
  EXPECT_EQ(dl.last_error, std::optional<std::string>("outbound_refused"));
  EXPECT_FALSE(dl.last_status_code);
  EXPECT_LE(*dl.last_attempt_at_ms, kT0 + settings_.give_up_after_ms);
  EXPECT_GT(*dl.last_attempt_at_ms, kT0 + settings_.give_up_after_ms - 2 * settings_.max_delay_ms);
  EXPECT_GT(calls, 20);
  EXPECT_EQ(d.stats().failed, 1u);
  EXPECT_EQ(d.stats().refused, uint64_t(calls));
  EXPECT_EQ(d.stats().retried, uint64_t(calls - 1));
  clock_.set_unix_ms(kT0 + 10 * settings_.give_up_after_ms);
  EXPECT_FALSE(d.run_once());
}

TEST_F(DispatcherTest, AfterRotationBothSecretsSignUntilThePreviousOneRetires) {
  std::vector<std::string> sigs;
  std::vector<std::string> bodies;
  auto d = make([&](const http::ClientRequest& r) {
    for (const auto& [k, v] : r.headers)
      if (k == "Rend-Signature") sigs.push_back(v);
    bodies.push_back(r.body);
    http::ClientResponse resp;
    resp.status = 200;
    return resp;
  });
  ASSERT_TRUE(meta_->rotate_webhook_secret("whk_1", "whsec_next", kT0 + 60'000));
  new_asset();
  ASSERT_TRUE(d.run_once());
  clock_.set_unix_ms(kT0 + 60'000);
  new_asset();
  ASSERT_TRUE(d.run_once());
  ASSERT_EQ(sigs.size(), 2u);
  EXPECT_EQ(std::count(sigs[0].begin(), sigs[0].end(), ','), 2);  // t, v1, v1
  EXPECT_TRUE(verify_signature(sigs[0], bodies[0], "whsec_next", kT0 / 1000, 300));
  EXPECT_TRUE(verify_signature(sigs[0], bodies[0], "whsec_current", kT0 / 1000, 300));
  EXPECT_EQ(std::count(sigs[1].begin(), sigs[1].end(), ','), 1);  // retired: only the new one
  EXPECT_TRUE(verify_signature(sigs[1], bodies[1], "whsec_next", kT0 / 1000 + 60, 300));
  EXPECT_FALSE(verify_signature(sigs[1], bodies[1], "whsec_current", kT0 / 1000 + 60, 300));
}

TEST_F(DispatcherTest, ThreadDeliversAndStopsPromptly) {
  std::atomic<int> calls{0};
  auto d = make([&](const http::ClientRequest&) {
    ++calls;
    http::ClientResponse resp;
    resp.status = 200;
    return resp;
  });
  d.start();
  ASSERT_TRUE(clock_.await_waiters(1));  // idle: parked on its poll wait
  new_asset();
  clock_.advance_ms(settings_.poll_ms);
  ASSERT_TRUE(clock_.await_waiters(1));
  EXPECT_EQ(calls.load(), 1);
  EXPECT_EQ(only_delivery().status, "delivered");
  d.stop();
}

}  // namespace
}  // namespace rend::webhooks
