// The usage sync against the real Autumn test double (tests/integration/autumn_double.py)
// and a real SQLite BillingStateStore, with a scripted UsageSource and a manual clock.
#include "billing/sync.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <map>
#include <set>

#include "billing/testing/autumn_double_process.h"
#include "core/json.h"
#include "http/client.h"
#include "store/factory.h"
#include "store/postgres/test_support.h"
#include "store/test_util.h"

using namespace rend;
using billing::PassResult;
using billing::Sync;

namespace {

const std::string kKey = "am_sk_test_SyncSecretXyz";
constexpr int64_t kMin = 60'000;
constexpr int64_t kHour = 3'600'000;
// On the hour and in the past: Autumn (and the double) refuse timestamps in the future.
constexpr int64_t kBase = 1'764'000'000'000;

// Deliveries by the time the analytics store ingested them.
class ScriptedUsage final : public billing::UsageSource {
 public:
  struct Delivery {
    int64_t ingested_ms;
    std::string account, tier;
    double seconds;
  };
  std::vector<Delivery> deliveries;
  std::vector<billing::StoredUsage> held;
  std::vector<std::pair<int64_t, int64_t>> asked;  // delivered() calls

  bool fail_next = false;  // the next delivered() throws (the analytics store away)

  std::vector<billing::DeliveredUsage> delivered(int64_t from_ms, int64_t to_ms) override {
    if (std::exchange(fail_next, false)) throw std::runtime_error("analytics store unavailable");
    asked.emplace_back(from_ms, to_ms);
    std::vector<billing::DeliveredUsage> out;
    for (const auto& d : deliveries)
      if (d.ingested_ms >= from_ms && d.ingested_ms < to_ms) out.push_back({d.account, d.tier, d.seconds});
    return out;
  }
  std::vector<billing::StoredUsage> stored() override { return held; }
  std::optional<int64_t> earliest_delivery_ms() override {
    std::optional<int64_t> e;
    for (const auto& d : deliveries) e = std::min(e.value_or(d.ingested_ms), d.ingested_ms);
    return e;
  }
};

struct Crash {};

// Parameter: the BillingStateStore backend ("sqlite", or "postgres" on
// REND_TEST_POSTGRES_URL, skipped when unset).
class SyncTest : public billing::testing::SuiteWithAutumnDouble<SyncTest, ::testing::TestWithParam<std::string>> {
 protected:
  static void SetUpTestSuite() { start_double({kKey}); }
  void SetUp() override {
    SuiteWithAutumnDouble::SetUp();
    if (GetParam() == "postgres") {
      if (store::postgres::testing::admin_url().empty()) GTEST_SKIP() << "REND_TEST_POSTGRES_URL is not set";
      url_ = store::postgres::testing::database_url_for(dir_.path());
    } else {
      url_ = "sqlite://" + (dir_.path() / "rend.db").string();
    }
    store::open_metadata_store(url_)->migrate();
    state_ = store::open_billing_state_store(url_);
    settings_.mode = billing::Mode::autumn;
    settings_.api_url = double_->url();
    settings_.secret_key = kKey;
    settings_.api_version = "2.0.0";
    settings_.delivery_features = {"delivery_720p", "delivery_1080p", "delivery_2k", "delivery_4k"};
    settings_.storage_features = {"storage_720p", "storage_1080p", "storage_2k", "storage_4k"};
    settings_.delivery_sync_lag_secs = 300;
    settings_.delivery_sync_max_window_secs = 3600;
    settings_.storage_sync_lag_secs = 60;
    settings_.storage_sync_max_window_secs = 3600;
    settings_.track_timeout_ms = 2000;
    client_ = std::make_unique<billing::AutumnClient>(settings_);
  }

  std::unique_ptr<Sync> engine(const std::string& holder, store::BillingStateStore* state = nullptr,
                               std::function<void(int64_t, int64_t)> before_commit = {}) {
    billing::SyncOptions o;
    o.holder = holder;
    o.lease_ttl_ms = 60'000;
    o.sleep = [this](int64_t ms) {
      waits_.push_back(ms);
      clock_.advance_ms(ms);
      if (on_sleep_) on_sleep_();
      return true;
    };
    o.before_commit = std::move(before_commit);
    return std::make_unique<Sync>(settings_, state ? *state : *state_, usage_, client_.get(), clock_, o);
  }

  boost::json::array recorded_tracks() const {
    boost::json::array out;
    const auto log = core::parse_json_strict(double_->log());
    for (const auto& r : log->as_object().at("recorded").as_array())
      if (r.at("kind").as_string() == "track") out.push_back(r);
    return out;
  }
  boost::json::array requests(const std::string& path) const {
    boost::json::array out;
    const auto log = core::parse_json_strict(double_->log());
    for (const auto& r : log->as_object().at("requests").as_array())
      if (r.at("path").as_string() == path) out.push_back(r);
    return out;
  }
  // (customer, feature) → summed value Autumn recorded.
  std::map<std::pair<std::string, std::string>, double> autumn_totals() const {
    std::map<std::pair<std::string, std::string>, double> m;
    for (const auto& r : recorded_tracks())
      m[{std::string(r.at("customer_id").as_string()), std::string(r.at("feature_id").as_string())}] +=
          r.at("value").to_number<double>();
    return m;
  }

  store::testing::TempDir dir_;
  std::string url_;  // the metadata database both "processes" share
  std::unique_ptr<store::BillingStateStore> state_;
  billing::Settings settings_;
  std::unique_ptr<billing::AutumnClient> client_;
  ScriptedUsage usage_;
  core::FakeClock clock_{kBase};
  std::vector<int64_t> waits_;
  std::function<void()> on_sleep_;
};

TEST(SyncKeys, AreDeterministicAndBounded) {
  EXPECT_EQ(billing::delivery_key("acc_1", "delivery_720p", 10, 20), "rend-dlv-acc_1-delivery_720p-10-20");
  const std::string long_account(200, 'a');
  const auto k = billing::delivery_key(long_account, "delivery_720p", 10, 20);
  EXPECT_LE(k.size(), 128u);
  EXPECT_EQ(k, billing::delivery_key(long_account, "delivery_720p", 10, 20));
  EXPECT_NE(k, billing::delivery_key(long_account, "delivery_720p", 10, 21));
}

TEST_P(SyncTest, KnownDeliveriesBecomeExactlyThoseMinutesEachKeyOnce) {
  // Window 1 is [kBase+10min, kBase+1h): starts at the earliest delivery, not at 0.
  usage_.deliveries = {{kBase + 10 * kMin, "acc_a", "720p", 10},
                       {kBase + 50 * kMin, "acc_a", "720p", 6},  // 16 s = 0.2667 min, not rounded up
                       {kBase + 20 * kMin, "acc_b", "4k", 90},
                       {kBase + kHour + 5 * kMin, "acc_a", "1080p", 30},
                       // Ingested after the last due window's end (now - lag): next pass.
                       {kBase + 3 * kHour + 6 * kMin, "acc_a", "720p", 60}};
  clock_.set_unix_ms(kBase + 3 * kHour + 10 * kMin);
  auto sync = engine("proc-a");
  PassResult r = sync->run_once();
  EXPECT_TRUE(r.lease_held);
  EXPECT_FALSE(r.error) << *r.error;
  // [10min, 1h), [1h, 2h), [2h, 3h): caught up without waiting; [3h, 4h) is not due.
  EXPECT_EQ(r.windows_committed, 3 + 1) << "three delivery windows and one storage snapshot";
  EXPECT_EQ(state_->get_cursor("delivery"), kBase + 3 * kHour);
  EXPECT_TRUE(waits_.empty());

  auto tracks = recorded_tracks();
  ASSERT_EQ(tracks.size(), 3u);
  std::set<std::string> keys;
  for (const auto& t : tracks) keys.insert(std::string(t.at("idempotency_key").as_string()));
  EXPECT_EQ(keys.size(), 3u);
  EXPECT_TRUE(keys.contains(billing::delivery_key("acc_a", "delivery_720p", kBase + 10 * kMin, kBase + kHour)));
  EXPECT_TRUE(keys.contains(billing::delivery_key("acc_a", "delivery_1080p", kBase + kHour, kBase + 2 * kHour)));
  auto totals = autumn_totals();
  EXPECT_NEAR((totals[{"acc_a", "delivery_720p"}]), 16.0 / 60, 1e-9);
  EXPECT_NEAR((totals[{"acc_b", "delivery_4k"}]), 1.5, 1e-9);
  EXPECT_NEAR((totals[{"acc_a", "delivery_1080p"}]), 0.5, 1e-9);
  // The timestamp lies inside the window (its last millisecond).
  for (const auto& t : tracks) EXPECT_LT(t.at("timestamp").to_number<int64_t>(), kBase + 3 * kHour);

  // The ledger matches what Autumn recorded, key for key.
  auto ledger = state_->list_windows("delivery", 0, kBase + 10 * kHour);
  ASSERT_EQ(ledger.size(), 3u);
  for (const auto& w : ledger) EXPECT_TRUE(keys.contains(w.record.idempotency_key));

  // The next hour: only the new delivery, nothing re-sent.
  clock_.set_unix_ms(kBase + 4 * kHour + 5 * kMin);
  r = sync->run_once();
  EXPECT_EQ(r.windows_committed, 1) << "one delivery window; storage is not due again within its hour";
  tracks = recorded_tracks();
  ASSERT_EQ(tracks.size(), 4u);
  EXPECT_EQ(tracks[3].at("idempotency_key").as_string(),
            billing::delivery_key("acc_a", "delivery_720p", kBase + 3 * kHour, kBase + 4 * kHour));
  EXPECT_NEAR(tracks[3].at("value").to_number<double>(), 1.0, 1e-9);
  EXPECT_EQ(requests("/v1/track").size(), 4u) << "no track was sent twice";
}

TEST_P(SyncTest, ACrashBetweenTracksAndCommitResendsTheSameKeysAndNothingDoubles) {
  usage_.deliveries = {{kBase + 5 * kMin, "acc_a", "720p", 120}, {kBase + 6 * kMin, "acc_b", "2k", 30}};
  clock_.set_unix_ms(kBase + kHour + 10 * kMin);
  {
    auto doomed = engine("proc-a", nullptr, [](int64_t, int64_t) { throw Crash{}; });
    EXPECT_THROW(doomed->run_once(), Crash);
    // The process dies here: its lease is never released.
  }
  EXPECT_EQ(recorded_tracks().size(), 2u);
  EXPECT_EQ(state_->get_cursor("delivery"), kBase + 5 * kMin) << "the window was committed before its tracks";

  // A new process on the same state waits out the dead one's lease, then re-sends the
  // window under the same keys: Autumn answers 409, the window is committed once.
  auto state2 = store::open_billing_state_store(url_);
  auto restarted = engine("proc-b", state2.get());
  EXPECT_FALSE(restarted->run_once().lease_held);
  clock_.advance_ms(61'000);
  PassResult r = restarted->run_once();
  ASSERT_TRUE(r.lease_held);
  EXPECT_FALSE(r.error);
  EXPECT_EQ(state2->get_cursor("delivery"), kBase + kHour);
  auto sent = requests("/v1/track");
  ASSERT_EQ(sent.size(), 4u);
  std::multiset<std::string> keys;
  for (const auto& s : sent) keys.insert(std::string(s.at("body").at("idempotency_key").as_string()));
  for (const auto& k : keys) EXPECT_EQ(keys.count(k), 2u) << k;
  EXPECT_EQ(sent[2].at("status").to_number<int>(), 409);
  EXPECT_EQ(sent[3].at("status").to_number<int>(), 409);
  auto totals = autumn_totals();
  EXPECT_NEAR((totals[{"acc_a", "delivery_720p"}]), 2.0, 1e-9);
  EXPECT_NEAR((totals[{"acc_b", "delivery_2k"}]), 0.5, 1e-9);
  EXPECT_EQ(state2->list_windows("delivery", 0, kBase + 2 * kHour).size(), 2u);
}

TEST_P(SyncTest, OnlyTheLeaseHolderSends) {
  usage_.deliveries = {{kBase + 5 * kMin, "acc_a", "720p", 60}};
  clock_.set_unix_ms(kBase + kHour + 10 * kMin);
  auto state2 = store::open_billing_state_store(url_);
  auto a = engine("proc-a");
  auto b = engine("proc-b", state2.get());
  PassResult ra = a->run_once();
  PassResult rb = b->run_once();
  EXPECT_TRUE(ra.lease_held);
  EXPECT_FALSE(rb.lease_held);
  EXPECT_EQ(rb.calls_sent, 0);
  usage_.deliveries.push_back({kBase + kHour + 1, "acc_a", "720p", 60});
  // A runs its passes (renewing); B keeps finding the lease held.
  // A runs a pass every 30 s (renewing); B, even running first, finds it held.
  while (clock_.now_unix_ms() < kBase + 2 * kHour + 5 * kMin) {
    clock_.advance_ms(30'000);
    EXPECT_FALSE(b->run_once().lease_held);
    EXPECT_TRUE(a->run_once().lease_held);
  }
  EXPECT_EQ(requests("/v1/track").size(), 2u);
  EXPECT_EQ(recorded_tracks().size(), 2u);
  // A clean shutdown hands over at once.
  a->release();
  usage_.deliveries.push_back({kBase + 2 * kHour + 1, "acc_a", "720p", 60});
  clock_.advance_ms(kHour);
  EXPECT_TRUE(b->run_once().lease_held);
  EXPECT_EQ(recorded_tracks().size(), 3u);
}

TEST_P(SyncTest, ALostLeaseStopsSendingAtOnce) {
  usage_.deliveries = {{kBase + 5 * kMin, "acc_a", "720p", 60}, {kBase + 6 * kMin, "acc_b", "720p", 60}};
  clock_.set_unix_ms(kBase + kHour + 10 * kMin);
  // Autumn is overloaded for long: while proc-a waits (2 minutes, past its lease), the
  // lease expires and proc-b takes it over.
  double_->configure(R"({"fail": {"status": 503, "count": 1, "retry_after": 120, "paths": ["/v1/track"]}})");
  auto state2 = store::open_billing_state_store(url_);
  bool taken = false;
  on_sleep_ = [&] { taken = state2->try_acquire_lease("billing-sync", "proc-b", 60'000, clock_.now_unix_ms()); };
  auto a = engine("proc-a");
  PassResult r = a->run_once();
  EXPECT_TRUE(taken);
  EXPECT_TRUE(r.lease_lost);
  EXPECT_EQ(r.calls_sent, 0);
  EXPECT_EQ(requests("/v1/track").size(), 1u) << "proc-a sent after losing its lease";
  EXPECT_EQ(state_->get_cursor("delivery"), kBase + 5 * kMin);
}

TEST_P(SyncTest, RateLimitedThenSuccessRetriesTheSameWindowHonouringRetryAfter) {
  usage_.deliveries = {{kBase + 5 * kMin, "acc_a", "720p", 60}};
  clock_.set_unix_ms(kBase + kHour + 10 * kMin);
  double_->configure(R"({"fail": {"status": 429, "count": 2, "retry_after": 7, "paths": ["/v1/track"]}})");
  auto sync = engine("proc-a");
  PassResult r = sync->run_once();
  EXPECT_FALSE(r.error);
  EXPECT_EQ(r.retries, 2);
  ASSERT_EQ(waits_.size(), 2u);
  EXPECT_EQ(waits_[0], 7000);
  EXPECT_EQ(waits_[1], 7000);
  auto sent = requests("/v1/track");
  ASSERT_EQ(sent.size(), 3u);
  EXPECT_EQ(sent[0].at("body").at("idempotency_key"), sent[2].at("body").at("idempotency_key"));
  EXPECT_EQ(recorded_tracks().size(), 1u);
  EXPECT_EQ(state_->get_cursor("delivery"), kBase + kHour);
  auto st = state_->list_streams();
  ASSERT_FALSE(st.empty());
  EXPECT_EQ(st[0].stream, "delivery");
  EXPECT_EQ(st[0].last_error, std::nullopt) << "the commit clears the error";
}

TEST_P(SyncTest, ALostAnswerIsResentAndTheDuplicateCountsAsRecorded) {
  usage_.deliveries = {{kBase + 5 * kMin, "acc_a", "720p", 60}};
  clock_.set_unix_ms(kBase + kHour + 10 * kMin);
  double_->configure(R"({"drop_after_apply": {"count": 1, "paths": ["/v1/track"]}})");
  PassResult r = engine("proc-a")->run_once();
  EXPECT_FALSE(r.error);
  EXPECT_EQ(r.retries, 1);
  EXPECT_EQ(recorded_tracks().size(), 1u);
  EXPECT_EQ(state_->get_cursor("delivery"), kBase + kHour);
}

TEST_P(SyncTest, AConfigurationErrorStopsWithoutCommittingAndIsReported) {
  usage_.deliveries = {{kBase + 5 * kMin, "acc_a", "4k", 60}};
  clock_.set_unix_ms(kBase + kHour + 10 * kMin);
  double_->configure(R"({"unknown_features": ["delivery_4k"]})");
  auto sync = engine("proc-a");
  PassResult r = sync->run_once();
  ASSERT_TRUE(r.error);
  EXPECT_EQ(state_->get_cursor("delivery"), kBase + 5 * kMin);
  auto st = state_->list_streams();
  ASSERT_FALSE(st.empty());
  ASSERT_TRUE(st[0].last_error);
  EXPECT_EQ(st[0].last_error->find(kKey), std::string::npos);
  // Fixed: the same window goes out next pass.
  double_->configure(R"({"unknown_features": []})");
  r = sync->run_once();
  EXPECT_FALSE(r.error);
  EXPECT_EQ(state_->get_cursor("delivery"), kBase + kHour);
  EXPECT_EQ(recorded_tracks().size(), 1u);
}

TEST_P(SyncTest, AWindowWithoutUsageSendsNothingButAdvances) {
  usage_.deliveries = {{kBase + 5 * kMin, "acc_a", "720p", 60}};
  clock_.set_unix_ms(kBase + kHour + 10 * kMin);
  auto sync = engine("proc-a");
  sync->run_once();
  ASSERT_EQ(requests("/v1/track").size(), 1u);
  clock_.set_unix_ms(kBase + 3 * kHour + 10 * kMin);
  PassResult r = sync->run_once();
  EXPECT_GE(r.windows_committed, 2);
  EXPECT_EQ(requests("/v1/track").size(), 1u);
  EXPECT_EQ(state_->get_cursor("delivery"), kBase + 3 * kHour);
  EXPECT_EQ(usage_.asked.back(), std::make_pair(kBase + 2 * kHour, kBase + 3 * kHour));
}

TEST_P(SyncTest, RunLoopsUntilStoppedSurvivesAFailingPassAndReleasesTheLease) {
  usage_.deliveries = {{kBase + 5 * kMin, "acc_a", "720p", 60}};
  clock_.set_unix_ms(kBase + kHour + 10 * kMin);
  // The first pass fails (Autumn's key is refused: a 401 is a pass error, not an
  // exception) and the second throws from the usage source; the third succeeds.
  double_->configure(R"({"fail": {"status": 401, "count": 1, "paths": ["/v1/track"]}})");
  int passes = 0;
  billing::SyncOptions o;
  o.holder = "proc-a";
  o.sleep = [&](int64_t ms) {
    EXPECT_EQ(ms, 5000);
    clock_.advance_ms(ms);
    ++passes;
    if (passes == 1) usage_.fail_next = true;
    return passes < 3;
  };
  Sync sync(settings_, *state_, usage_, client_.get(), clock_, o);
  sync.run(5000);
  EXPECT_EQ(passes, 3);
  EXPECT_EQ(state_->get_cursor("delivery"), kBase + kHour);
  EXPECT_EQ(recorded_tracks().size(), 1u);
  EXPECT_EQ(state_->lease_holder("billing-sync", clock_.now_unix_ms()), std::nullopt) << "released at the end";
}

TEST_P(SyncTest, NoUsageYetMeansNoCursor) {
  clock_.set_unix_ms(kBase + 10 * kHour);
  engine("proc-a")->run_once();
  EXPECT_EQ(state_->get_cursor("delivery"), std::nullopt);
  EXPECT_TRUE(usage_.asked.empty());
}

TEST_P(SyncTest, StoredMinutesAreSetAbsolutelyOnTheirScheduleAndZeroedWhenGone) {
  usage_.held = {{"acc_a", "1080p", 12.5}, {"acc_b", "720p", 3}};
  clock_.set_unix_ms(kBase);
  auto sync = engine("proc-a");
  sync->run_once();
  auto usage = requests("/v1/usage");
  ASSERT_EQ(usage.size(), 2u);
  EXPECT_EQ(usage[0].at("body").at("customer_id").as_string(), "acc_a");
  EXPECT_EQ(usage[0].at("body").at("feature_id").as_string(), "storage_1080p");
  EXPECT_NEAR(usage[0].at("body").at("value").to_number<double>(), 12.5, 1e-9);
  // Not due again before the storage window has passed.
  clock_.advance_ms(30 * kMin);
  sync->run_once();
  EXPECT_EQ(requests("/v1/usage").size(), 2u);
  // acc_b deleted its videos: its storage goes to 0, not left at 3.
  usage_.held = {{"acc_a", "1080p", 14}};
  clock_.advance_ms(31 * kMin);
  sync->run_once();
  usage = requests("/v1/usage");
  ASSERT_EQ(usage.size(), 4u);
  EXPECT_NEAR(usage[2].at("body").at("value").to_number<double>(), 14, 1e-9);
  EXPECT_EQ(usage[3].at("body").at("customer_id").as_string(), "acc_b");
  EXPECT_NEAR(usage[3].at("body").at("value").to_number<double>(), 0, 1e-9);
}

TEST_P(SyncTest, LocalModeCommitsTheSameWindowsAndRecordsTotalsWithoutTheNetwork) {
  settings_.mode = billing::Mode::local;
  usage_.deliveries = {{kBase + 10 * kMin, "acc_a", "720p", 16}, {kBase + kHour + 1, "acc_a", "720p", 30}};
  usage_.held = {{"acc_a", "720p", 2}};
  clock_.set_unix_ms(kBase + 2 * kHour + 10 * kMin);
  PassResult r = engine("proc-a")->run_once();
  EXPECT_EQ(r.calls_sent, 0);
  EXPECT_EQ(core::parse_json_strict(double_->log())->as_object().at("requests").as_array().size(), 0u);
  EXPECT_EQ(state_->get_cursor("delivery"), kBase + 2 * kHour);
  auto w = state_->list_windows("delivery", 0, kBase + 3 * kHour);
  ASSERT_EQ(w.size(), 2u);
  EXPECT_EQ(w[0].start_ms, kBase + 10 * kMin);
  EXPECT_NEAR(w[0].record.value, 16.0 / 60, 1e-9);
  EXPECT_NEAR(w[1].record.value, 0.5, 1e-9);
  EXPECT_EQ(w[0].record.idempotency_key, "");
  EXPECT_EQ(state_->list_windows("storage", 0, kBase + 3 * kHour).size(), 1u);
}

INSTANTIATE_TEST_SUITE_P(StateBackends, SyncTest, ::testing::Values("sqlite", "postgres"),
                         [](const auto& info) { return info.param; });

}  // namespace
