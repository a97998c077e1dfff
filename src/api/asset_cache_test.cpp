#include "api/asset_cache.h"

#include <gtest/gtest.h>

#include "core/clock.h"
#include "core/ids.h"
#include "store/factory.h"
#include "store/test_util.h"

namespace rend::api {
namespace {

constexpr int64_t kT0 = 1'800'000'000'000;
const std::vector<store::Tier> kLadder{{"360p", 640, 360, 800'000}};

class AssetCacheTest : public ::testing::Test {
 protected:
  void SetUp() override {
    api_ = open();
    worker_ = open();  // another process on the same database
    api_->create_account({"acc_a", "a", kT0});
  }
  std::unique_ptr<store::MetadataStore> open() {
    auto s = store::open_metadata_store("sqlite://" + (dir_.path() / "rend.db").string());
    s->migrate();
    return s;
  }
  // A public asset whose upload is complete (queued).
  std::string new_asset() {
    store::Asset a;
    a.id = core::new_id("ast");
    a.status = "waiting_upload";
    a.visibility = "public";
    a.account_id = "acc_a";
    a.owner_key_id = "key_a";
    a.created_at_ms = kT0;
    store::Upload u{core::new_id("upl"), a.id, 10, "pending", kT0};
    api_->create_upload(a, u);
    api_->complete_upload(u.id, 10, kT0);
    return a.id;
  }

  store::testing::TempDir dir_;
  std::unique_ptr<store::MetadataStore> api_, worker_;
  core::FakeClock clock_;
};

TEST_F(AssetCacheTest, ServesTheCachedRowWithoutTheStoreUntilTheTtl) {
  AssetCache cache(*api_, clock_, std::chrono::milliseconds(1000));
  auto id = new_asset();
  EXPECT_EQ(cache.peek(id), nullptr) << "peek never reads the store";
  auto first = cache.get(id);
  ASSERT_NE(first, nullptr);
  EXPECT_EQ(first->asset.status, "queued");
  EXPECT_EQ(cache.peek(id), first);
  EXPECT_EQ(cache.get(id), first) << "a fresh entry is served as is";

  // Another process's change is not announced here: seen once the entry is older than the TTL.
  ASSERT_TRUE(worker_->mark_playable(id, kLadder, "720p", kT0 + 1));
  clock_.advance(std::chrono::milliseconds(999));
  EXPECT_EQ(cache.get(id)->asset.status, "queued") << "within the TTL";
  clock_.advance(std::chrono::milliseconds(1));
  EXPECT_EQ(cache.peek(id), nullptr) << "an expired entry is not served";
  EXPECT_EQ(cache.get(id)->asset.status, "playable") << "re-read at the TTL";
}

TEST_F(AssetCacheTest, ThisProcessesWritesDropTheEntryAtOnce) {
  AssetCache cache(*api_, clock_, std::chrono::hours(1));  // only the notices can refresh it
  auto id = new_asset();
  ASSERT_EQ(cache.get(id)->asset.status, "queued");
  ASSERT_TRUE(api_->mark_processing(id, kT0 + 1));
  EXPECT_EQ(cache.peek(id), nullptr);
  EXPECT_EQ(cache.get(id)->asset.status, "processing");
  ASSERT_TRUE(api_->set_progress(id, 0.25));
  EXPECT_DOUBLE_EQ(cache.get(id)->asset.progress.value_or(0), 0.25);
  ASSERT_TRUE(api_->mark_playable(id, kLadder, "720p", kT0 + 2));
  EXPECT_EQ(cache.get(id)->asset.status, "playable");
  ASSERT_TRUE(api_->mark_hls_ready(id, kLadder, "720p", kT0 + 3));
  EXPECT_EQ(cache.get(id)->asset.status, "hls_ready");
  ASSERT_TRUE(api_->mark_deleted(id, kT0 + 4));
  EXPECT_EQ(cache.get(id)->asset.status, "deleted");
  auto other = new_asset();
  ASSERT_TRUE(api_->mark_failed(other, "corrupt_input", "bad", kT0));
  EXPECT_EQ(cache.get(other)->asset.status, "failed");
  EXPECT_GE(cache.stats().invalidations, 6u);
}

TEST_F(AssetCacheTest, MissingAssetsAreNotCachedAndTheSizeIsBounded) {
  AssetCache cache(*api_, clock_, std::chrono::hours(1), 8);
  EXPECT_EQ(cache.get("ast_doesnotexist"), nullptr);
  EXPECT_EQ(cache.peek("ast_doesnotexist"), nullptr) << "a missing asset is read again every time";
  std::vector<std::string> ids;
  for (int i = 0; i < 20; ++i) {
    ids.push_back(new_asset());
    ASSERT_NE(cache.get(ids.back()), nullptr);
    EXPECT_NE(cache.peek(ids.back()), nullptr) << "the newest fill is kept";
    int cached = 0;
    for (const auto& id : ids) cached += cache.peek(id) != nullptr;
    EXPECT_LE(cached, 8);
    EXPECT_GE(cached, std::min<int>(ids.size(), 7)) << "an eviction drops an eighth, not everything";
  }
}

TEST_F(AssetCacheTest, StopsListeningWhenDestroyed) {
  auto id = new_asset();
  {
    AssetCache cache(*api_, clock_);
    ASSERT_NE(cache.get(id), nullptr);
  }
  EXPECT_TRUE(api_->mark_processing(id, kT0 + 1)) << "a write after the cache is gone calls no dead listener";
}

}  // namespace
}  // namespace rend::api
