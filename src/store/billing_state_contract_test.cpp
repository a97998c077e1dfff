// The BillingStateStore contract (store/billing_state.h), run against every backend:
// the lease, the compare-and-set cursors checked against the lease, the window
// ledger and the per-stream status.
#include <gtest/gtest.h>

#include <atomic>
#include <functional>
#include <thread>

#include "store/billing_state.h"
#include "store/factory.h"
#include "store/postgres/billing_state.h"
#include "store/postgres/test_support.h"
#include "store/test_util.h"

namespace rend::store {
namespace {

struct Stores {
  std::unique_ptr<MetadataStore> metadata;  // migrated: it owns the schema
  std::unique_ptr<BillingStateStore> billing;
};

struct BillingBackend {
  std::string name;
  // Stores opened on the same directory share one database, like two API processes.
  std::function<std::unique_ptr<BillingStateStore>(const std::filesystem::path& dir)> open;
  friend void PrintTo(const BillingBackend& b, std::ostream* os) { *os << b.name; }
};

const BillingBackend kBackends[] = {
    {"sqlite",
     [](const std::filesystem::path& dir) {
       const std::string url = "sqlite://" + (dir / "rend.db").string();
       open_metadata_store(url)->migrate();
       return open_billing_state_store(url);
     }},
    {"postgres",
     [](const std::filesystem::path& dir) -> std::unique_ptr<BillingStateStore> {
       // Skips the test (and returns a throwaway store) when no server is configured.
       auto metadata = postgres::testing::open_for_contract(dir);
       metadata->migrate();
       if (postgres::testing::admin_url().empty())
         return open_billing_state_store("sqlite://" + (dir / "skipped.db").string());
       return postgres::open_postgres_billing_state_store(postgres::testing::database_url_for(dir));
     }},
};

constexpr int64_t kT0 = 1'800'000'000'000;
constexpr int64_t kTtl = 30'000;
const std::string kLease = "billing-sync";
const LeaseRef kA{kLease, "proc-a"};
const LeaseRef kB{kLease, "proc-b"};

class BillingStateContract : public ::testing::TestWithParam<BillingBackend> {
 protected:
  void SetUp() override {
    a_ = GetParam().open(dir_.path());
    b_ = GetParam().open(dir_.path());
  }

  testing::TempDir dir_;
  std::unique_ptr<BillingStateStore> a_;  // process A's connection
  std::unique_ptr<BillingStateStore> b_;  // process B's connection to the same database
};

TEST_P(BillingStateContract, Healthy) {
  EXPECT_TRUE(a_->healthy());
  EXPECT_TRUE(b_->healthy());
}

TEST_P(BillingStateContract, TheLeaseHasOneHolderUntilItExpires) {
  EXPECT_EQ(a_->lease_holder(kLease, kT0), std::nullopt);
  EXPECT_TRUE(a_->try_acquire_lease(kLease, kA.holder, kTtl, kT0));
  EXPECT_FALSE(b_->try_acquire_lease(kLease, kB.holder, kTtl, kT0 + 1));
  EXPECT_EQ(b_->lease_holder(kLease, kT0 + 1), kA.holder);
  // Acquiring again as the holder renews.
  EXPECT_TRUE(a_->try_acquire_lease(kLease, kA.holder, kTtl, kT0 + 10'000));
  EXPECT_FALSE(b_->try_acquire_lease(kLease, kB.holder, kTtl, kT0 + kTtl + 1));
  EXPECT_TRUE(a_->renew_lease(kLease, kA.holder, kTtl, kT0 + 20'000));
  EXPECT_FALSE(b_->renew_lease(kLease, kB.holder, kTtl, kT0 + 20'000));
  // Expired (A stopped renewing, e.g. it died): B takes over, and A can neither renew
  // nor take it back while B's lease runs.
  const int64_t expired = kT0 + 20'000 + kTtl;
  EXPECT_EQ(b_->lease_holder(kLease, expired), std::nullopt);
  EXPECT_TRUE(b_->try_acquire_lease(kLease, kB.holder, kTtl, expired));
  EXPECT_FALSE(a_->renew_lease(kLease, kA.holder, kTtl, expired + 1));
  EXPECT_FALSE(a_->try_acquire_lease(kLease, kA.holder, kTtl, expired + 1));
  EXPECT_EQ(a_->lease_holder(kLease, expired + 1), kB.holder);
}

TEST_P(BillingStateContract, ReleaseFreesTheLeaseOnlyForItsHolder) {
  ASSERT_TRUE(a_->try_acquire_lease(kLease, kA.holder, kTtl, kT0));
  b_->release_lease(kLease, kB.holder);  // not the holder: nothing happens
  EXPECT_FALSE(b_->try_acquire_lease(kLease, kB.holder, kTtl, kT0 + 1));
  a_->release_lease(kLease, kA.holder);
  EXPECT_TRUE(b_->try_acquire_lease(kLease, kB.holder, kTtl, kT0 + 2));
  // Leases are independent by name.
  EXPECT_TRUE(a_->try_acquire_lease("other", kA.holder, kTtl, kT0 + 2));
}

TEST_P(BillingStateContract, CursorIsACompareAndSetByTheLeaseHolder) {
  EXPECT_EQ(a_->get_cursor("delivery"), std::nullopt);
  // Nobody holds the lease: no commit.
  EXPECT_FALSE(a_->commit_cursor("delivery", kA, std::nullopt, kT0, {}, kT0));
  EXPECT_EQ(a_->get_cursor("delivery"), std::nullopt);
  ASSERT_TRUE(a_->try_acquire_lease(kLease, kA.holder, kTtl, kT0));
  // Another holder name cannot commit while A holds the lease.
  EXPECT_FALSE(b_->commit_cursor("delivery", kB, std::nullopt, kT0, {}, kT0));
  EXPECT_TRUE(a_->commit_cursor("delivery", kA, std::nullopt, kT0, {}, kT0));
  EXPECT_EQ(b_->get_cursor("delivery"), kT0);
  // A stale expectation changes nothing.
  EXPECT_FALSE(a_->commit_cursor("delivery", kA, std::nullopt, kT0 + 5, {}, kT0 + 1));
  EXPECT_FALSE(a_->commit_cursor("delivery", kA, kT0 - 1, kT0 + 5, {}, kT0 + 1));
  EXPECT_TRUE(a_->commit_cursor("delivery", kA, kT0, kT0 + 3'600'000, {}, kT0 + 2));
  EXPECT_EQ(a_->get_cursor("delivery"), kT0 + 3'600'000);
  // Streams are independent.
  EXPECT_EQ(a_->get_cursor("storage"), std::nullopt);
  EXPECT_THROW(a_->commit_cursor("delivery", kA, kT0 + 3'600'000, kT0, {}, kT0 + 3), std::invalid_argument);
}

TEST_P(BillingStateContract, AProcessThatLostItsLeaseCannotCommit) {
  ASSERT_TRUE(a_->try_acquire_lease(kLease, kA.holder, kTtl, kT0));
  ASSERT_TRUE(a_->commit_cursor("delivery", kA, std::nullopt, kT0, {}, kT0));
  // A's lease expires without a takeover: A still cannot commit past its expiry.
  EXPECT_FALSE(a_->commit_cursor("delivery", kA, kT0, kT0 + 1000, {{"acc_1", "delivery_720p", 1.5, "k1"}}, kT0 + kTtl));
  // B takes over and commits; A, late, cannot.
  ASSERT_TRUE(b_->try_acquire_lease(kLease, kB.holder, kTtl, kT0 + kTtl));
  EXPECT_TRUE(b_->commit_cursor("delivery", kB, kT0, kT0 + 1000, {}, kT0 + kTtl + 1));
  EXPECT_FALSE(a_->commit_cursor("delivery", kA, kT0 + 1000, kT0 + 2000, {}, kT0 + kTtl + 2));
  EXPECT_EQ(a_->get_cursor("delivery"), kT0 + 1000);
  EXPECT_TRUE(a_->list_windows("delivery", 0, kT0 * 2).empty()) << "a refused commit wrote window lines";
}

TEST_P(BillingStateContract, WindowLinesAreWrittenWithTheirCommit) {
  ASSERT_TRUE(a_->try_acquire_lease(kLease, kA.holder, kTtl, kT0));
  ASSERT_TRUE(a_->commit_cursor("delivery", kA, std::nullopt, kT0, {}, kT0));
  const int64_t w1 = kT0 + 3'600'000, w2 = w1 + 3'600'000;
  ASSERT_TRUE(a_->commit_cursor("delivery", kA, kT0, w1,
                                {{"acc_b", "delivery_1080p", 0.2667, "rend-dlv-b"},
                                 {"acc_a", "delivery_720p", 12.5, "rend-dlv-a"}},
                                kT0 + 10));
  ASSERT_TRUE(a_->commit_cursor("delivery", kA, w1, w2, {{"acc_a", "delivery_720p", 1.0, "rend-dlv-a2"}}, kT0 + 20));
  ASSERT_TRUE(a_->commit_cursor("storage", kA, std::nullopt, w1, {{"acc_a", "storage_720p", 30, ""}}, kT0 + 30));

  auto all = b_->list_windows("delivery", 0, w2 + 1);
  ASSERT_EQ(all.size(), 3u);
  // Window order, then account.
  EXPECT_EQ(all[0].record.account_id, "acc_a");
  EXPECT_EQ(all[0].start_ms, kT0);
  EXPECT_EQ(all[0].end_ms, w1);
  EXPECT_DOUBLE_EQ(all[0].record.value, 12.5);
  EXPECT_EQ(all[0].record.idempotency_key, "rend-dlv-a");
  EXPECT_EQ(all[0].committed_at_ms, kT0 + 10);
  EXPECT_EQ(all[1].record.account_id, "acc_b");
  EXPECT_EQ(all[1].record.feature_id, "delivery_1080p");
  EXPECT_DOUBLE_EQ(all[1].record.value, 0.2667);  // fractional minutes survive as they are
  EXPECT_EQ(all[2].start_ms, w1);
  // Overlap with [from, to): only the second window.
  auto second = b_->list_windows("delivery", w1, w1 + 1);
  ASSERT_EQ(second.size(), 1u);
  EXPECT_EQ(second[0].record.idempotency_key, "rend-dlv-a2");
  EXPECT_TRUE(b_->list_windows("delivery", w2, w2 + 100).empty());
  // A first commit with lines records them as a window ending at the cursor.
  auto storage = b_->list_windows("storage", 0, w2);
  ASSERT_EQ(storage.size(), 1u);
  EXPECT_EQ(storage[0].start_ms, w1);
  EXPECT_EQ(storage[0].end_ms, w1);
}

TEST_P(BillingStateContract, StatusKeepsTheLastErrorUntilACommit) {
  ASSERT_TRUE(a_->try_acquire_lease(kLease, kA.holder, kTtl, kT0));
  a_->record_attempt("delivery", kT0, std::nullopt, false);
  a_->record_attempt("delivery", kT0 + 1, std::string("autumn 503: unavailable"), true);
  a_->record_attempt("delivery", kT0 + 2, std::string("autumn 429: rate_limit_exceeded"), true);
  a_->record_attempt("storage", kT0 + 3, std::string("autumn 404: feature_not_found"), false);
  auto st = b_->list_streams();
  ASSERT_EQ(st.size(), 2u);
  EXPECT_EQ(st[0].stream, "delivery");
  EXPECT_EQ(st[0].cursor_ms, std::nullopt);
  EXPECT_EQ(st[0].last_attempt_ms, kT0 + 2);
  EXPECT_EQ(st[0].last_error, "autumn 429: rate_limit_exceeded");
  EXPECT_EQ(st[0].last_error_ms, kT0 + 2);
  EXPECT_EQ(st[0].retries, 2);
  EXPECT_EQ(st[1].stream, "storage");
  EXPECT_EQ(st[1].retries, 0);
  // A plain attempt keeps the error; the next commit clears it.
  a_->record_attempt("delivery", kT0 + 4, std::nullopt, false);
  EXPECT_EQ(b_->list_streams()[0].last_error, "autumn 429: rate_limit_exceeded");
  ASSERT_TRUE(a_->commit_cursor("delivery", kA, std::nullopt, kT0, {}, kT0 + 5));
  st = b_->list_streams();
  EXPECT_EQ(st[0].cursor_ms, kT0);
  EXPECT_EQ(st[0].committed_at_ms, kT0 + 5);
  EXPECT_EQ(st[0].last_attempt_ms, kT0 + 4);
  EXPECT_EQ(st[0].last_error, std::nullopt);
  EXPECT_EQ(st[0].retries, 0);
}

TEST_P(BillingStateContract, ConcurrentCommitsOfOneWindowApplyOnce) {
  ASSERT_TRUE(a_->try_acquire_lease(kLease, kA.holder, kTtl, kT0));
  ASSERT_TRUE(a_->commit_cursor("delivery", kA, std::nullopt, kT0, {}, kT0));
  // Two connections of the same holder (say, a restart racing its predecessor's last
  // commit): each commit is checked against the cursor, so exactly one applies.
  std::atomic<int> won{0};
  std::vector<std::thread> ts;
  for (auto* s : {a_.get(), b_.get()})
    ts.emplace_back([&, s] {
      for (int i = 0; i < 20; ++i)
        if (s->commit_cursor("delivery", kA, kT0 + i * 1000, kT0 + (i + 1) * 1000,
                             {{"acc_a", "delivery_720p", 1, "k" + std::to_string(i)}}, kT0 + 1))
          ++won;
    });
  for (auto& t : ts) t.join();
  EXPECT_EQ(a_->get_cursor("delivery"), kT0 + 20'000);
  EXPECT_EQ(won.load(), 20);
  EXPECT_EQ(a_->list_windows("delivery", 0, kT0 * 2).size(), 20u);
}

INSTANTIATE_TEST_SUITE_P(Backends, BillingStateContract, ::testing::ValuesIn(kBackends), testing::ParamName{});

}  // namespace
}  // namespace rend::store
