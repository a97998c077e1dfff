// StoreUsageSource on the real SQLite metadata and analytics stores (one file, as in
// `rend dev`), with a FakeClock stamping ingest times.
#include "billing/store_usage_source.h"

#include <gtest/gtest.h>

#include <map>

#include "core/clock.h"
#include "store/factory.h"
#include "store/sqlite/analytics_store.h"
#include "store/test_util.h"

using namespace rend;

namespace {

constexpr int64_t kT0 = 1'800'000'000'000;

class StoreUsageSourceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string path = (dir_.path() / "rend.db").string();
    metadata_ = store::open_metadata_store("sqlite://" + path);
    metadata_->migrate();
    analytics_ = store::open_sqlite_analytics_store(path, clock_);
    analytics_->ensure_schema();
    metadata_->create_account({"acc_a", "a", kT0});
    metadata_->create_account({"acc_b", "b", kT0});
  }

  // A published asset of `account` whose top rung is `tier`; returns its id.
  std::string asset(const std::string& account, const std::string& tier, double duration_s = 60) {
    store::Asset a;
    a.id = "ast_" + std::to_string(++n_);
    a.visibility = "private";
    a.account_id = account;
    a.owner_key_id = "key_x";
    a.created_at_ms = kT0;
    metadata_->create_upload(a, {"upl_" + std::to_string(n_), a.id, 10, "pending", kT0});
    metadata_->complete_upload("upl_" + std::to_string(n_), 10, kT0);
    metadata_->mark_processing(a.id, kT0);
    metadata_->set_source_info(a.id, duration_s, 1280, 720);
    metadata_->mark_hls_ready(a.id, {{"720p", 1280, 720, 1}}, tier, kT0);
    return a.id;
  }

  // One 200 segment event of `asset` carrying `seconds`, ingested now.
  void deliver(const std::string& asset_id, double seconds, int status = 200) {
    store::PlaybackEvent e;
    e.event_id = "evt_" + std::to_string(++n_);
    e.batch_id = "b";
    e.ts_ms = clock_->now_unix_ms();
    e.edge_id = "edge";
    e.asset_id = asset_id;
    e.artifact = "720p/seg_00001.ts";
    e.kind = "segment";
    e.tier = "720p";
    e.status = status;
    e.bytes = 1000;
    e.media_seconds = seconds;
    analytics_->insert({e});
  }

  std::map<std::pair<std::string, std::string>, double> delivered(int64_t from, int64_t to) {
    std::map<std::pair<std::string, std::string>, double> out;
    for (const auto& d : source().delivered(from, to)) out[{d.account_id, d.tier}] += d.media_seconds;
    return out;
  }

  billing::StoreUsageSource source() { return billing::StoreUsageSource(*metadata_, *analytics_); }

  store::testing::TempDir dir_;
  std::shared_ptr<core::FakeClock> clock_ = std::make_shared<core::FakeClock>(kT0);
  std::unique_ptr<store::MetadataStore> metadata_;
  std::unique_ptr<store::AnalyticsStore> analytics_;
  int n_ = 0;
};

TEST_F(StoreUsageSourceTest, DeliveredIsAttributedToTheOwnerAndTierOfEachAsset) {
  auto a720 = asset("acc_a", "720p");
  auto a4k = asset("acc_a", "4k");
  auto b1080 = asset("acc_b", "1080p");
  EXPECT_FALSE(source().earliest_delivery_ms()) << "nothing delivered yet";

  clock_->advance_ms(1000);
  const int64_t first = clock_->now_unix_ms();
  deliver(a720, 4);
  deliver(a720, 2);
  deliver(a4k, 6);
  deliver(b1080, 3);
  deliver(b1080, 100, 304);  // delivers nothing
  clock_->advance_ms(10'000);
  deliver(a720, 8);  // in a later window

  EXPECT_EQ(source().earliest_delivery_ms(), first);
  auto got = delivered(first, first + 10'000);
  EXPECT_EQ(got.size(), 3u);
  EXPECT_DOUBLE_EQ((got[{"acc_a", "720p"}]), 6);
  EXPECT_DOUBLE_EQ((got[{"acc_a", "4k"}]), 6);
  EXPECT_DOUBLE_EQ((got[{"acc_b", "1080p"}]), 3);
  got = delivered(first + 10'000, first + 20'000);
  EXPECT_EQ(got.size(), 1u);
  EXPECT_DOUBLE_EQ((got[{"acc_a", "720p"}]), 8);
}

TEST_F(StoreUsageSourceTest, DeletedAssetStillCountsAndUnknownAssetIsBilledToNobody) {
  auto gone = asset("acc_b", "1080p");
  deliver(gone, 5);
  deliver("ast_never_created", 7);
  ASSERT_TRUE(metadata_->mark_deleted(gone, kT0 + 1));

  auto rows = source().delivered(kT0, kT0 + 1000);
  ASSERT_EQ(rows.size(), 1u) << "the unknown asset's seconds are nobody's";
  EXPECT_EQ(rows[0].account_id, "acc_b");
  EXPECT_EQ(rows[0].tier, "1080p");
  EXPECT_DOUBLE_EQ(rows[0].media_seconds, 5);
}

TEST_F(StoreUsageSourceTest, StoredIsTheHeldMinutesPerAccountAndTier) {
  asset("acc_a", "720p", 90);
  asset("acc_a", "720p", 30);
  auto gone = asset("acc_b", "4k", 600);
  asset("acc_b", "4k", 6);
  ASSERT_TRUE(metadata_->mark_deleted(gone, kT0 + 1));

  std::map<std::pair<std::string, std::string>, double> got;
  for (const auto& s : source().stored()) got[{s.account_id, s.tier}] += s.minutes;
  EXPECT_EQ(got.size(), 2u);
  EXPECT_DOUBLE_EQ((got[{"acc_a", "720p"}]), 2.0);
  EXPECT_DOUBLE_EQ((got[{"acc_b", "4k"}]), 0.1);
}

}  // namespace
