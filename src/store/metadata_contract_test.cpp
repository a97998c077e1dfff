// The MetadataStore contract, written once and run against every backend.
// Adding a backend (e.g. Postgres) is one more entry in kBackends below.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <functional>
#include <mutex>
#include <set>
#include <thread>

#include "core/crypto.h"
#include "core/ids.h"
#include "store/factory.h"
#include "store/metadata.h"
#include "store/postgres/migrations.h"
#include "store/postgres/pg.h"
#include "store/postgres/test_support.h"
#include "store/sqlite/db.h"
#include "store/sqlite/migrations.h"
#include "store/test_util.h"

namespace rend::store {
namespace {

struct MetadataBackend {
  std::string name;
  // Stores opened on the same directory share their data, like two processes
  // (API and worker) on one database.
  std::function<std::unique_ptr<MetadataStore>(const std::filesystem::path& dir)> open;
  // Brings dir's database to the schema just before accounts existed (what a
  // deployment upgrading to accounts has) and runs `seed` on it, each "{t}" in it
  // replaced by the tables' schema prefix. False when the backend is unavailable.
  std::function<bool(const std::filesystem::path& dir, const std::vector<std::string>& seed)> seed_before_accounts;
  friend void PrintTo(const MetadataBackend& b, std::ostream* os) { *os << b.name; }
};

std::string with_prefix(std::string sql, const std::string& prefix) {
  for (size_t at; (at = sql.find("{t}")) != std::string::npos;) sql.replace(at, 3, prefix);
  return sql;
}

const MetadataBackend kBackends[] = {
    {"sqlite",
     [](const std::filesystem::path& dir) { return open_metadata_store("sqlite://" + (dir / "rend.db").string()); },
     [](const std::filesystem::path& dir, const std::vector<std::string>& seed) {
       sqlite::Db db((dir / "rend.db").string());
       // The runner's own bookkeeping table, as SqliteMetadataStore::migrate creates it.
       db.exec(
           "CREATE TABLE schema_migrations ("
           " version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at_ms INTEGER NOT NULL)");
       for (const auto& m : sqlite::migrations()) {
         if (m.version >= 6) break;  // 0006_accounts
         db.exec(m.sql);
         sqlite::Stmt(db, "INSERT INTO schema_migrations VALUES (?1, ?2, 0)").bind(1, m.version).bind(2, m.name).run();
       }
       for (const auto& sql : seed) db.exec(with_prefix(sql, ""));
       return true;
     }},
    // A fresh database per test directory on REND_TEST_POSTGRES_URL; skipped when unset.
    {"postgres", [](const std::filesystem::path& dir) { return postgres::testing::open_for_contract(dir); },
     [](const std::filesystem::path& dir, const std::vector<std::string>& seed) {
       if (postgres::testing::admin_url().empty()) return false;
       const std::string url = postgres::testing::database_url_for(dir);
       postgres::Connection c(url, postgres::parse_target(url));
       c.exec("CREATE SCHEMA rend");
       c.exec(
           "CREATE TABLE rend.schema_migrations ("
           " version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at_ms BIGINT NOT NULL)");
       for (const auto& m : postgres::migrations()) {
         if (m.version >= 4) break;  // 0004_accounts
         c.exec_script(m.sql);
         c.exec("INSERT INTO rend.schema_migrations VALUES ($1, $2, 0)", postgres::Params().add(m.version).add(m.name));
       }
       for (const auto& sql : seed) c.exec(with_prefix(sql, "rend."));
       return true;
     }},
};

constexpr int64_t kT0 = 1'800'000'000'000;
constexpr int64_t kLock = 30'000;
// The account every fixture asset belongs to unless a test says otherwise.
const std::string kAccount = "acc_owner";

class MetadataContract : public ::testing::TestWithParam<MetadataBackend> {
 protected:
  void SetUp() override {
    store_ = open();
    store_->create_account({kAccount, "owner", kT0});
  }

  std::unique_ptr<MetadataStore> open() {
    auto s = GetParam().open(dir_.path());
    s->migrate();
    return s;
  }

  // An asset with its pending upload, as the API creates them.
  std::pair<Asset, Upload> new_upload(int64_t created_at_ms = kT0, const std::string& account = kAccount,
                                      MetadataStore* store = nullptr, const std::string& uploader = "key_owner") {
    Asset a;
    a.id = core::new_id("ast");
    a.visibility = "private";
    a.account_id = account;
    a.owner_key_id = uploader;
    a.created_at_ms = created_at_ms;
    a.expected_bytes = 1000;
    Upload u{core::new_id("upl"), a.id, 1000, "pending", created_at_ms};
    (store ? store : store_.get())->create_upload(a, u);
    return {a, u};
  }

  // An asset with a queued transcode job; returns the asset id.
  std::string new_queued_asset(int64_t now_ms = kT0) {
    auto [a, u] = new_upload(now_ms);
    store_->complete_upload(u.id, 1000, now_ms);
    return a.id;
  }

  testing::TempDir dir_;
  std::unique_ptr<MetadataStore> store_;
};

TEST_P(MetadataContract, MigrateIsIdempotentAndHealthy) {
  store_->migrate();
  auto other = open();
  EXPECT_TRUE(store_->healthy());
  EXPECT_TRUE(other->healthy());
}

TEST_P(MetadataContract, ApiKeyCreateFindRevoke) {
  ApiKey k{core::new_id("key"), "ci", core::sha256_hex("secret"), {"upload", "read"}, kT0, std::nullopt, kAccount};
  store_->create_api_key(k);

  auto found = store_->find_api_key_by_hash(k.secret_hash);
  ASSERT_TRUE(found);
  EXPECT_EQ(found->id, k.id);
  EXPECT_EQ(found->name, "ci");
  EXPECT_EQ(found->scopes, (std::vector<std::string>{"upload", "read"}));
  EXPECT_EQ(found->created_at_ms, kT0);
  EXPECT_FALSE(found->revoked_at_ms);
  EXPECT_EQ(found->account_id, kAccount);
  EXPECT_EQ(found->secret_hash, k.secret_hash);
  EXPECT_FALSE(store_->find_api_key_by_hash(core::sha256_hex("other")));

  EXPECT_TRUE(store_->revoke_api_key(k.id, kT0 + 5));
  EXPECT_FALSE(store_->revoke_api_key(k.id, kT0 + 6)) << "already revoked";
  EXPECT_FALSE(store_->revoke_api_key("key_missing", kT0));
  found = store_->find_api_key_by_hash(k.secret_hash);
  ASSERT_TRUE(found);
  EXPECT_EQ(found->revoked_at_ms, kT0 + 5);

  EXPECT_THROW(store_->create_api_key(k), StoreError) << "duplicate id";
}

TEST_P(MetadataContract, UploadCompleteEnqueuesClaimableJob) {
  auto [a, u] = new_upload();
  auto asset = store_->get_asset(a.id);
  ASSERT_TRUE(asset);
  EXPECT_EQ(asset->status, "waiting_upload");
  EXPECT_EQ(asset->owner_key_id, "key_owner");
  EXPECT_EQ(asset->account_id, kAccount);
  EXPECT_EQ(asset->expected_bytes, 1000);
  auto upload = store_->get_upload(u.id);
  ASSERT_TRUE(upload);
  EXPECT_EQ(upload->status, "pending");
  EXPECT_EQ(upload->asset_id, a.id);
  EXPECT_EQ(store_->pending_job_count(), 0);

  std::string job_id = store_->complete_upload(u.id, 987, kT0 + 10);
  EXPECT_EQ(store_->get_upload(u.id)->status, "complete");
  asset = store_->get_asset(a.id);
  EXPECT_EQ(asset->status, "queued");
  EXPECT_EQ(asset->uploaded_at_ms, kT0 + 10);
  EXPECT_EQ(asset->source_bytes, 987);
  EXPECT_EQ(store_->pending_job_count(), 1);

  EXPECT_THROW(store_->complete_upload(u.id, 987, kT0 + 11), StoreError) << "no longer pending";
  EXPECT_THROW(store_->complete_upload("upl_missing", 1, kT0), StoreError);

  auto job = store_->claim_job("w1", kLock, kT0 + 20);
  ASSERT_TRUE(job);
  EXPECT_EQ(job->id, job_id);
  EXPECT_EQ(job->asset_id, a.id);
  EXPECT_EQ(job->kind, "transcode");
  EXPECT_EQ(job->attempts, 1);
  EXPECT_EQ(job->locked_by, "w1");
  EXPECT_EQ(job->locked_until_ms, kT0 + 20 + kLock);
  EXPECT_FALSE(store_->claim_job("w2", kLock, kT0 + 21)) << "held by w1";
  EXPECT_EQ(store_->pending_job_count(), 1);

  store_->complete_job(job->id, "w1", kT0 + 30);
  EXPECT_EQ(store_->pending_job_count(), 0);
  EXPECT_FALSE(store_->claim_job("w2", kLock, kT0 + kLock * 10)) << "done jobs are never reclaimed";
}

TEST_P(MetadataContract, ImportIsQueuedWithItsUrlUntilTheSourceIsStored) {
  Asset a;
  a.id = core::new_id("ast");
  a.visibility = "public";
  a.account_id = kAccount;
  a.owner_key_id = "key_owner";
  a.created_at_ms = kT0;
  a.input_url = "https://media.example/clip.mp4?X-Amz-Signature=abc";
  std::string job_id = store_->create_import(a);
  auto got = store_->get_asset(a.id);
  ASSERT_TRUE(got);
  EXPECT_EQ(got->status, "queued");
  EXPECT_EQ(got->input_url, a.input_url);
  EXPECT_FALSE(got->uploaded_at_ms) << "nothing fetched yet";
  EXPECT_FALSE(got->source_bytes);
  EXPECT_EQ(store_->list_assets(kAccount, 10, std::nullopt, false).assets.at(0).input_url, a.input_url);
  EXPECT_FALSE(store_->get_asset(new_upload().first.id)->input_url) << "uploads have none";

  auto job = store_->claim_job("w1", kLock, kT0 + 5);
  ASSERT_TRUE(job);
  EXPECT_EQ(job->id, job_id);
  EXPECT_EQ(job->asset_id, a.id);
  EXPECT_EQ(job->kind, "transcode");

  EXPECT_TRUE(store_->mark_source_stored(a.id, 4321, kT0 + 9));
  got = store_->get_asset(a.id);
  EXPECT_EQ(got->uploaded_at_ms, kT0 + 9);
  EXPECT_EQ(got->source_bytes, 4321);
  EXPECT_FALSE(got->input_url) << "a presigned URL is not kept once fetched";
  EXPECT_FALSE(store_->mark_source_stored("ast_missing", 1, kT0 + 10));
  ASSERT_TRUE(store_->mark_deleted(a.id, kT0 + 11));
  EXPECT_FALSE(store_->mark_source_stored(a.id, 1, kT0 + 12)) << "never touches a deleted asset";

  Asset orphan = a;
  orphan.id = core::new_id("ast");
  orphan.account_id = "acc_missing";
  EXPECT_THROW(store_->create_import(orphan), StoreError);
  EXPECT_FALSE(store_->get_asset(orphan.id)) << "nothing created";
}

TEST_P(MetadataContract, AssetNameAndSourceFilenameAreStoredRenamedAndListed) {
  Asset a;
  a.id = core::new_id("ast");
  a.visibility = "private";
  a.account_id = kAccount;
  a.owner_key_id = "key_owner";
  a.created_at_ms = kT0;
  a.name = "Caf\u00e9 \u2014 'launch' \"cut\" \U0001F3AC";  // quotes and non-ASCII survive both drivers
  a.source_filename = "C:\\clips\\launch final (2).MP4";
  store_->create_upload(a, Upload{core::new_id("upl"), a.id, std::nullopt, "pending", kT0});
  auto got = store_->get_asset(a.id);
  ASSERT_TRUE(got);
  EXPECT_EQ(got->name, a.name);
  EXPECT_EQ(got->source_filename, a.source_filename);
  auto listed = store_->list_assets(kAccount, 10, std::nullopt, false).assets;
  ASSERT_EQ(listed.size(), 1u);
  EXPECT_EQ(listed[0].name, a.name);
  EXPECT_EQ(listed[0].source_filename, a.source_filename);

  auto plain = new_upload(kT0 + 1).first;
  EXPECT_FALSE(store_->get_asset(plain.id)->name) << "a name is optional";
  EXPECT_FALSE(store_->get_asset(plain.id)->source_filename);

  Asset imported = a;
  imported.id = core::new_id("ast");
  imported.name = "imported";
  imported.source_filename.reset();
  imported.input_url = "https://media.example/clip.mp4";
  store_->create_import(imported);
  EXPECT_EQ(store_->get_asset(imported.id)->name, "imported");
  EXPECT_FALSE(store_->get_asset(imported.id)->source_filename);

  EXPECT_TRUE(store_->set_asset_name(a.id, std::string("renamed")));
  got = store_->get_asset(a.id);
  EXPECT_EQ(got->name, "renamed");
  EXPECT_EQ(got->source_filename, a.source_filename) << "renaming keeps the source filename";
  EXPECT_TRUE(store_->set_asset_name(a.id, std::nullopt));
  EXPECT_FALSE(store_->get_asset(a.id)->name) << "nullopt clears the name";
  EXPECT_TRUE(store_->set_source_filename(plain.id, "from-tus.mov"));
  EXPECT_EQ(store_->get_asset(plain.id)->source_filename, "from-tus.mov");
  EXPECT_FALSE(store_->get_asset(plain.id)->name) << "the filename is not the name";

  EXPECT_FALSE(store_->set_asset_name("ast_missing", std::string("x")));
  EXPECT_FALSE(store_->set_source_filename("ast_missing", "x.mp4"));
  ASSERT_TRUE(store_->mark_deleted(plain.id, kT0 + 5));
  EXPECT_FALSE(store_->set_asset_name(plain.id, std::string("x"))) << "a deleted asset is never renamed";
  EXPECT_FALSE(store_->set_source_filename(plain.id, "x.mp4"));
  EXPECT_FALSE(store_->get_asset(plain.id)->name);
  EXPECT_EQ(store_->get_asset(plain.id)->source_filename, "from-tus.mov");
}

TEST_P(MetadataContract, CompleteUploadOfDeletedAssetThrows) {
  auto [a, u] = new_upload();
  ASSERT_TRUE(store_->mark_deleted(a.id, kT0 + 1));
  EXPECT_THROW(store_->complete_upload(u.id, 1, kT0 + 2), StoreError);
  EXPECT_EQ(store_->get_asset(a.id)->status, "deleted");
  EXPECT_EQ(store_->pending_job_count(), 0);
}

TEST_P(MetadataContract, JobsAreClaimedOldestFirst) {
  auto newer = new_queued_asset(kT0 + 100);
  auto older = new_queued_asset(kT0);
  EXPECT_EQ(store_->claim_job("w", kLock, kT0 + 200)->asset_id, older);
  EXPECT_EQ(store_->claim_job("w", kLock, kT0 + 200)->asset_id, newer);
}

// Each claimer runs on its own thread and store; every job must be handed out once.
void expect_each_job_claimed_once(MetadataStore& setup, const std::vector<MetadataStore*>& claimers, int jobs,
                                  const std::function<std::string(int64_t)>& enqueue) {
  std::set<std::string> expected;
  for (int i = 0; i < jobs; ++i) expected.insert(enqueue(kT0 + i));
  ASSERT_EQ(setup.pending_job_count(), jobs);

  std::mutex mu;
  std::multiset<std::string> claimed;
  std::vector<std::thread> threads;
  for (size_t t = 0; t < claimers.size(); ++t) {
    threads.emplace_back([&, t] {
      const std::string worker = "w" + std::to_string(t);
      while (auto job = claimers[t]->claim_job(worker, kLock, kT0 + jobs)) {
        std::lock_guard lock(mu);
        claimed.insert(job->asset_id);
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(claimed.size(), expected.size());
  EXPECT_EQ(std::set<std::string>(claimed.begin(), claimed.end()), expected);
}

TEST_P(MetadataContract, ConcurrentClaimsOnOneStoreHandOutEachJobOnce) {
  expect_each_job_claimed_once(*store_, {store_.get(), store_.get(), store_.get(), store_.get()}, 60,
                               [&](int64_t t) { return new_queued_asset(t); });
}

TEST_P(MetadataContract, ConcurrentClaimsFromTwoStoresHandOutEachJobOnce) {
  // Two instances on one database stand in for two worker processes.
  auto a = open(), b = open();
  expect_each_job_claimed_once(*store_, {a.get(), b.get(), a.get(), b.get()}, 60,
                               [&](int64_t t) { return new_queued_asset(t); });
}

TEST_P(MetadataContract, ExpiredLockIsReclaimedWithAttemptsIncremented) {
  auto other = open();
  new_queued_asset();
  auto first = store_->claim_job("w1", 1000, kT0);
  ASSERT_TRUE(first);
  EXPECT_FALSE(other->claim_job("w2", 1000, kT0 + 1000)) << "lock still valid at its last millisecond";

  auto second = other->claim_job("w2", 1000, kT0 + 1001);
  ASSERT_TRUE(second);
  EXPECT_EQ(second->id, first->id);
  EXPECT_EQ(second->attempts, 2);
  EXPECT_EQ(second->locked_by, "w2");

  EXPECT_FALSE(store_->heartbeat_job(first->id, "w1", 1000, kT0 + 1002)) << "w1 lost the job";
  store_->complete_job(first->id, "w1", kT0 + 1003);
  EXPECT_EQ(store_->pending_job_count(), 1) << "a stale worker cannot complete another's job";
  other->complete_job(second->id, "w2", kT0 + 1004);
  EXPECT_EQ(store_->pending_job_count(), 0);
}

TEST_P(MetadataContract, HeartbeatExtendsLockOnlyForHolder) {
  new_queued_asset();
  auto job = store_->claim_job("w1", 1000, kT0);
  ASSERT_TRUE(job);
  EXPECT_TRUE(store_->heartbeat_job(job->id, "w1", 1000, kT0 + 900));
  EXPECT_FALSE(store_->claim_job("w2", 1000, kT0 + 1500)) << "heartbeat moved the lock to kT0+1900";
  EXPECT_FALSE(store_->heartbeat_job(job->id, "w2", 1000, kT0 + 1500));
  EXPECT_FALSE(store_->heartbeat_job("job_missing", "w1", 1000, kT0 + 1500));
  auto reclaimed = store_->claim_job("w2", 1000, kT0 + 1901);
  ASSERT_TRUE(reclaimed);
  EXPECT_EQ(reclaimed->attempts, 2);
}

TEST_P(MetadataContract, ReleasedJobIsClaimableAtOnceWithoutCostingAnAttempt) {
  new_queued_asset();
  auto job = store_->claim_job("w1", 60000, kT0);
  ASSERT_TRUE(job);
  EXPECT_FALSE(store_->release_job(job->id, "w2")) << "only the holder may release";
  EXPECT_TRUE(store_->release_job(job->id, "w1"));
  EXPECT_FALSE(store_->release_job(job->id, "w1")) << "already released";
  auto again = store_->claim_job("w2", 60000, kT0 + 1);
  ASSERT_TRUE(again);
  EXPECT_EQ(again->id, job->id);
  EXPECT_EQ(again->attempts, 1);
}

TEST_P(MetadataContract, EdgeHeartbeatsRegisterAndRefresh) {
  EXPECT_TRUE(store_->list_edges().empty());
  using store::EdgeHeartbeat;
  EXPECT_EQ(store_->heartbeat_edge({"edge-b", "london", "http://b:4102", "v1", 0, kT0, 10, 1}, kT0, 16),
            EdgeHeartbeat::recorded);
  EXPECT_EQ(store_->heartbeat_edge({"edge-a", "us-east", "http://a:4101", "v1", 0, kT0 + 1, 0, 0}, kT0, 16),
            EdgeHeartbeat::recorded);
  // edge-b's record is stale by kT0 + 5000 (fresh since kT0 + 1): its new URL takes over.
  EXPECT_EQ(store_->heartbeat_edge({"edge-b", "london", "https://b.example", "v2", 0, kT0 + 5000, 2048, 3}, kT0 + 1,
                                   16),
            EdgeHeartbeat::taken_over);
  auto edges = store_->list_edges();
  ASSERT_EQ(edges.size(), 2u);
  EXPECT_EQ(edges[0].edge_id, "edge-a");
  const auto& b = edges[1];
  EXPECT_EQ(b.edge_id, "edge-b");
  EXPECT_EQ(b.registered_at_ms, kT0) << "registration time is kept";
  EXPECT_EQ(b.last_heartbeat_at_ms, kT0 + 5000);
  EXPECT_EQ(b.base_url, "https://b.example");
  EXPECT_EQ(b.version, "v2");
  EXPECT_EQ(b.cache_bytes, 2048);
  EXPECT_EQ(b.cache_objects, 3);
  EXPECT_EQ(open()->list_edges().size(), 2u) << "another process sees the registry";
}

TEST_P(MetadataContract, ResumableUploadProgressNeedsTheClaimAndIsSeenByAnotherProcess) {
  Asset a;
  a.id = core::new_id("ast");
  a.visibility = "public";
  a.account_id = kAccount;
  a.owner_key_id = "key_owner";
  a.created_at_ms = kT0;
  a.expected_bytes = 12 << 20;
  Upload u{core::new_id("upl"), a.id, a.expected_bytes, "pending", kT0};
  u.protocol = "tus";
  u.expires_at_ms = kT0 + 86'400'000;
  u.multipart_handle = "handle-1";
  u.direct_origin = "https://app.example";
  store_->create_upload(a, u);

  auto got = open()->get_upload(u.id);
  ASSERT_TRUE(got);
  EXPECT_EQ(got->protocol, "tus");
  EXPECT_EQ(got->expires_at_ms, kT0 + 86'400'000);
  EXPECT_EQ(got->multipart_handle, "handle-1");
  EXPECT_EQ(got->direct_origin, "https://app.example");
  EXPECT_EQ(got->progress.offset, 0);
  EXPECT_TRUE(got->progress.parts.empty());

  UploadProgress p{(5 << 20) + 3, {{5 << 20, "\"etag-1\""}}, {{3, "uploads/x/tail-5242880"}}};
  EXPECT_FALSE(store_->save_upload_progress(u.id, "c1", p)) << "no claim held";
  ASSERT_TRUE(store_->claim_upload(u.id, "c1", kT0, 20'000));
  EXPECT_FALSE(store_->save_upload_progress(u.id, "c2", p)) << "another claim";
  EXPECT_TRUE(store_->save_upload_progress(u.id, "c1", p));
  got = open()->get_upload(u.id);
  ASSERT_TRUE(got);
  EXPECT_EQ(got->progress.offset, (5 << 20) + 3);
  EXPECT_EQ(got->progress.parts, p.parts);
  EXPECT_EQ(got->progress.tail, p.tail);

  // A PUT upload stays a PUT upload: the defaults.
  auto [pa, pu] = new_upload();
  got = store_->get_upload(pu.id);
  EXPECT_EQ(got->protocol, "put");
  EXPECT_FALSE(got->expires_at_ms);
  EXPECT_EQ(got->direct_origin, "");
}

TEST_P(MetadataContract, StartResumableUploadTurnsAnUntouchedPutSlotIntoATusUpload) {
  auto [a, u] = new_upload();
  EXPECT_TRUE(store_->start_resumable_upload(u.id, 4242, "h", kT0 + 1000));
  auto got = store_->get_upload(u.id);
  EXPECT_EQ(got->protocol, "tus");
  EXPECT_EQ(got->expected_bytes, 4242);
  EXPECT_EQ(got->multipart_handle, "h");
  EXPECT_EQ(got->expires_at_ms, kT0 + 1000);
  EXPECT_EQ(store_->get_asset(a.id)->expected_bytes, 4242);
  EXPECT_FALSE(store_->start_resumable_upload(u.id, 1, "h2", kT0)) << "only once";
  auto [b, v] = new_upload();
  ASSERT_TRUE(store_->claim_upload(v.id, "c", kT0, 20'000));
  EXPECT_FALSE(store_->start_resumable_upload(v.id, 1, "h", kT0)) << "a PUT is receiving it";
}

TEST_P(MetadataContract, ExpiredUploadsAreListedAndEndedOnlyUnderTheirClaim) {
  auto make = [&](int64_t expires) {
    auto [a, u] = new_upload();
    EXPECT_TRUE(store_->start_resumable_upload(u.id, 1000, "h", expires));
    return std::pair{a, u};
  };
  auto [a1, u1] = make(kT0 + 1000);
  auto [a2, u2] = make(kT0 + 500);
  auto [a3, u3] = make(kT0 + 5000);
  auto [a4, u4] = new_upload();  // a PUT upload never expires
  auto listed = store_->expired_uploads(kT0 + 2000, 10);
  ASSERT_EQ(listed.size(), 2u);
  EXPECT_EQ(listed[0].id, u2.id) << "oldest expiry first";
  EXPECT_EQ(listed[1].id, u1.id);
  EXPECT_EQ(store_->expired_uploads(kT0 + 2000, 1).size(), 1u);

  EXPECT_FALSE(store_->end_upload(u2.id, "c", "expired", kT0 + 2000)) << "not claimed";
  ASSERT_TRUE(store_->claim_upload(u2.id, "c", kT0 + 2000, 20'000));
  EXPECT_TRUE(store_->end_upload(u2.id, "c", "expired", kT0 + 2000));
  EXPECT_EQ(store_->get_upload(u2.id)->status, "expired");
  auto asset = open()->get_asset(a2.id);
  EXPECT_EQ(asset->status, "failed");
  EXPECT_EQ(asset->error_code, "upload_expired");
  EXPECT_FALSE(store_->claim_upload(u2.id, "d", kT0 + 3000, 20'000)) << "no longer pending";
  ASSERT_EQ(store_->expired_uploads(kT0 + 2000, 10).size(), 1u);

  ASSERT_TRUE(store_->claim_upload(u3.id, "t", kT0, 20'000));
  EXPECT_TRUE(store_->end_upload(u3.id, "t", "terminated", kT0 + 10));
  EXPECT_EQ(store_->get_upload(u3.id)->status, "terminated");
  EXPECT_EQ(store_->get_asset(a3.id)->status, "deleted");
  EXPECT_THROW(store_->end_upload(u1.id, "x", "complete", kT0), StoreError);
  EXPECT_TRUE(store_->expired_uploads(kT0 + 1'000'000, 10).size() == 1u) << "only u1 is left pending with an expiry";
}

TEST_P(MetadataContract, OnePutAtATimeClaimsAnUpload) {
  auto [a, u] = new_upload();
  constexpr int64_t kLease = 60'000;
  EXPECT_TRUE(store_->claim_upload(u.id, "c1", kT0, kLease));
  auto other = open();  // another API process
  EXPECT_FALSE(other->claim_upload(u.id, "c2", kT0 + 1, kLease)) << "held by c1";
  EXPECT_FALSE(store_->claim_upload(u.id, "c1", kT0 + 1, kLease)) << "not re-entrant either";
  EXPECT_TRUE(store_->renew_upload_claim(u.id, "c1", kT0 + 50'000, kLease));
  EXPECT_FALSE(other->claim_upload(u.id, "c2", kT0 + 70'000, kLease)) << "renewed until kT0 + 110 s";
  EXPECT_FALSE(other->renew_upload_claim(u.id, "c2", kT0 + 70'000, kLease));

  // Released after a failed PUT: the next one gets it at once.
  other->release_upload_claim(u.id, "c2");  // not the holder: no effect
  EXPECT_FALSE(other->claim_upload(u.id, "c2", kT0 + 70'000, kLease));
  store_->release_upload_claim(u.id, "c1");
  EXPECT_TRUE(other->claim_upload(u.id, "c2", kT0 + 70'001, kLease));
  EXPECT_FALSE(store_->renew_upload_claim(u.id, "c1", kT0 + 70'002, kLease)) << "c1 lost it";

  // An expired claim (its API process died) may be taken over; the old holder then
  // cannot renew.
  EXPECT_TRUE(store_->claim_upload(u.id, "c3", kT0 + 70'001 + kLease + 1, kLease));
  EXPECT_FALSE(other->renew_upload_claim(u.id, "c2", kT0 + 70'001 + kLease + 2, kLease));

  store_->complete_upload(u.id, 1000, kT0 + 200'000);
  EXPECT_FALSE(store_->claim_upload(u.id, "c4", kT0 + 10'000'000, kLease)) << "complete";
  EXPECT_FALSE(store_->renew_upload_claim(u.id, "c3", kT0 + 200'001, kLease)) << "complete";
  EXPECT_FALSE(store_->claim_upload("upl_missing", "c5", kT0, kLease));
}

TEST_P(MetadataContract, ConcurrentClaimsHaveOneWinner) {
  auto [a, u] = new_upload();
  std::atomic<int> wins{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 8; ++i)
    threads.emplace_back([&, i, id = u.id] {
      auto s = open();
      if (s->claim_upload(id, "c" + std::to_string(i), kT0, 60'000)) ++wins;
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(wins.load(), 1);
}

TEST_P(MetadataContract, CheckedEdgeHeartbeatsRefuseAFreshIdTakeOverAStaleOneAndStayBounded) {
  constexpr int64_t kWindow = 60'000;
  auto beat = [&](EdgeNode e, int64_t now, uint64_t max_edges = 3) {
    e.last_heartbeat_at_ms = now;
    return store_->heartbeat_edge(e, now - kWindow, max_edges);
  };
  const EdgeNode a{"edge-a", "eu", "https://a.example", "v1", 0, 0, 0, 0};
  EXPECT_EQ(beat(a, kT0), EdgeHeartbeat::recorded);
  EXPECT_EQ(beat(a, kT0 + 1000), EdgeHeartbeat::recorded) << "the same edge keeps beating";
  auto rogue = a;
  rogue.base_url = "https://rogue.example";
  auto moved = a;
  moved.region = "us";
  EXPECT_EQ(beat(rogue, kT0 + 2000), EdgeHeartbeat::conflict);
  EXPECT_EQ(beat(moved, kT0 + 2000), EdgeHeartbeat::conflict);
  auto edges = store_->list_edges();
  ASSERT_EQ(edges.size(), 1u);
  EXPECT_EQ(edges[0].base_url, "https://a.example") << "a conflict changes nothing";
  EXPECT_EQ(edges[0].region, "eu");
  EXPECT_EQ(edges[0].last_heartbeat_at_ms, kT0 + 1000);

  // Once the record is stale, the id may be taken over (an edge moved hosts).
  const int64_t later = kT0 + 1000 + kWindow + 1;
  EXPECT_EQ(beat(rogue, later), EdgeHeartbeat::taken_over);
  EXPECT_EQ(store_->list_edges()[0].base_url, "https://rogue.example");

  // The size bound: three ids known; a fourth fits only once a stale one is dropped.
  const EdgeNode b{"edge-b", "eu", "https://b.example", "v1", 0, 0, 0, 0};
  const EdgeNode c{"edge-c", "eu", "https://c.example", "v1", 0, 0, 0, 0};
  const EdgeNode d{"edge-d", "eu", "https://d.example", "v1", 0, 0, 0, 0};
  const EdgeNode e{"edge-e", "eu", "https://e.example", "v1", 0, 0, 0, 0};
  EXPECT_EQ(beat(b, later), EdgeHeartbeat::recorded);
  EXPECT_EQ(beat(c, later), EdgeHeartbeat::recorded);
  EXPECT_EQ(beat(d, later), EdgeHeartbeat::registry_full) << "edge-a, b and c are all fresh";
  const int64_t much_later = later + kWindow / 2;
  EXPECT_EQ(beat(b, much_later), EdgeHeartbeat::recorded);
  EXPECT_EQ(beat(c, much_later), EdgeHeartbeat::recorded);
  const int64_t a_stale = later + kWindow + 1;  // edge-a stopped beating at `later`
  EXPECT_EQ(beat(d, a_stale), EdgeHeartbeat::recorded);
  EXPECT_EQ(beat(e, a_stale), EdgeHeartbeat::registry_full);
  EXPECT_EQ(beat(b, a_stale), EdgeHeartbeat::recorded) << "known ids keep beating when the registry is full";
  std::vector<std::string> ids;
  for (const auto& x : open()->list_edges()) ids.push_back(x.edge_id);
  EXPECT_EQ(ids, (std::vector<std::string>{"edge-b", "edge-c", "edge-d"}));
}

TEST_P(MetadataContract, JobLostTooOftenFailsItsAsset) {
  auto asset_id = new_queued_asset();
  int64_t now = kT0;
  for (int attempt = 1; attempt <= 5; ++attempt) {
    auto job = store_->claim_job("w", 1000, now);
    ASSERT_TRUE(job) << attempt;
    EXPECT_EQ(job->attempts, attempt);
    now += 1001;  // the worker dies; its lock expires
  }
  EXPECT_FALSE(store_->claim_job("w", 1000, now));
  EXPECT_EQ(store_->pending_job_count(), 0);
  auto asset = store_->get_asset(asset_id);
  EXPECT_EQ(asset->status, "failed");
  EXPECT_EQ(asset->error_code, "transcode_failed");
  EXPECT_EQ(asset->error_message, "worker lost too many times");
  EXPECT_EQ(asset->failed_at_ms, now);
}

TEST_P(MetadataContract, AbandonedJobDoesNotHideTheNextOne) {
  new_queued_asset(kT0);
  int64_t now = kT0;
  for (int attempt = 1; attempt <= 5; ++attempt, now += 1001) ASSERT_TRUE(store_->claim_job("w", 1000, now));
  auto next = new_queued_asset(now);
  auto job = store_->claim_job("w", 1000, now);
  ASSERT_TRUE(job);
  EXPECT_EQ(job->asset_id, next);
}

TEST_P(MetadataContract, FailJobIsTerminal) {
  new_queued_asset();
  auto job = store_->claim_job("w1", 1000, kT0);
  ASSERT_TRUE(job);
  store_->fail_job(job->id, "w1", "not a video", kT0 + 1);
  EXPECT_EQ(store_->pending_job_count(), 0);
  EXPECT_FALSE(store_->claim_job("w2", 1000, kT0 + 5000));
}

// Caches of asset rows (api::AssetCache) drop an entry on this notice: every write to
// an asset row through the store must send it, with that asset's id, once the new row
// is what readers get; another store object (another process) hears nothing.
TEST_P(MetadataContract, AssetListenersHearEveryWriteToAnAssetRow) {
  std::mutex mu;
  std::vector<std::string> heard;  // asset ids, in order
  auto other = open();
  std::vector<std::string> other_heard;
  const int handle = store_->add_asset_listener([&](const std::string& id) {
    std::lock_guard lock(mu);
    heard.push_back(id);
  });
  other->add_asset_listener([&](const std::string& id) { other_heard.push_back(id); });
  auto count = [&](const std::string& id) {
    std::lock_guard lock(mu);
    return std::count(heard.begin(), heard.end(), id);
  };
  const std::vector<Tier> ladder{{"360p", 640, 360, 800'000}};
  auto [a, u] = new_upload();
  long n = count(a.id);
  auto step = [&](const char* what, bool ok) {
    EXPECT_TRUE(ok) << what;
    EXPECT_EQ(count(a.id), ++n) << what << " sent no notice";
  };
  ASSERT_TRUE(store_->start_resumable_upload(u.id, 2000, "handle", kT0 + 60'000));
  EXPECT_EQ(count(a.id), ++n) << "start_resumable_upload (expected_bytes) sent no notice";
  store_->complete_upload(u.id, 1000, kT0);
  EXPECT_EQ(count(a.id), ++n) << "complete_upload sent no notice";
  step("mark_processing", store_->mark_processing(a.id, kT0 + 1));
  step("set_source_info", store_->set_source_info(a.id, 2.0, 640, 360));
  step("set_progress", store_->set_progress(a.id, 0.5));
  step("mark_playable", store_->mark_playable(a.id, ladder, "720p", kT0 + 2));
  step("mark_hls_ready", store_->mark_hls_ready(a.id, ladder, "720p", kT0 + 3));
  step("mark_deleted", store_->mark_deleted(a.id, kT0 + 4));
  EXPECT_FALSE(store_->mark_failed(a.id, "x", "y", kT0 + 5));
  EXPECT_EQ(count(a.id), n) << "no notice for a write that changed nothing";

  auto b = new_queued_asset();
  n = count(b);
  EXPECT_TRUE(store_->mark_failed(b, "corrupt_input", "bad", kT0 + 1));
  EXPECT_EQ(count(b), n + 1) << "mark_failed sent no notice";

  auto [c, cu] = new_upload();
  ASSERT_TRUE(store_->claim_upload(cu.id, "claim", kT0, 20'000));
  ASSERT_TRUE(store_->end_upload(cu.id, "claim", "terminated", kT0 + 1));
  EXPECT_EQ(count(c.id), 1) << "end_upload (the asset deleted) sent no notice";

  // A job whose worker keeps dying: the claim that gives up fails its asset (the
  // queue holds the other assets' jobs too, claimed and expiring alike).
  auto d = new_queued_asset();
  n = count(d);
  int64_t now = kT0;
  for (int i = 0; i < 100 && store_->get_asset(d)->status != "failed"; ++i, now += 10) store_->claim_job("w", 1, now);
  ASSERT_EQ(store_->get_asset(d)->status, "failed");
  EXPECT_EQ(count(d), n + 1) << "claim_job failing an abandoned job's asset sent no notice";

  EXPECT_TRUE(other_heard.empty()) << "another store object (process) heard this one's writes";
  store_->remove_asset_listener(handle);
  auto e = new_queued_asset();
  EXPECT_TRUE(store_->mark_processing(e, kT0));
  EXPECT_EQ(count(e), 0) << "a removed listener was called";
}

TEST_P(MetadataContract, StatusTransitionsSetTimestampsAndNeverLeaveDeleted) {
  auto id = new_queued_asset();
  const std::vector<Tier> ladder{{"360p", 640, 360, 800'000}, {"720p", 1280, 720, 2'800'000}};

  EXPECT_TRUE(store_->mark_processing(id, kT0 + 1));
  EXPECT_TRUE(store_->set_source_info(id, 12.5, 1920, 1080));
  EXPECT_TRUE(store_->mark_playable(id, {ladder[0]}, "720p", kT0 + 2));
  auto a = store_->get_asset(id);
  EXPECT_EQ(a->status, "playable");
  EXPECT_EQ(a->processing_at_ms, kT0 + 1);
  EXPECT_EQ(a->playable_at_ms, kT0 + 2);
  EXPECT_EQ(a->duration_s, 12.5);
  EXPECT_EQ(a->width, 1920);
  EXPECT_EQ(a->height, 1080);
  ASSERT_EQ(a->tiers.size(), 1u);
  EXPECT_TRUE(store_->mark_playable(id, {ladder[0]}, "720p", kT0 + 9)) << "a re-run job publishes again";
  EXPECT_EQ(store_->get_asset(id)->playable_at_ms, kT0 + 2) << "the first playable time is kept";

  EXPECT_FALSE(store_->get_asset(id)->progress) << "no progress before the worker reports any";
  EXPECT_TRUE(store_->set_progress(id, 0.42));
  EXPECT_DOUBLE_EQ(*store_->get_asset(id)->progress, 0.42);
  EXPECT_TRUE(store_->mark_hls_ready(id, ladder, "1080p", kT0 + 3));
  a = store_->get_asset(id);
  EXPECT_DOUBLE_EQ(a->progress.value_or(0), 1.0) << "hls_ready means done";
  EXPECT_EQ(a->status, "hls_ready");
  EXPECT_EQ(a->hls_ready_at_ms, kT0 + 3);
  EXPECT_EQ(a->billing_tier, "1080p");
  ASSERT_EQ(a->tiers.size(), 2u);
  EXPECT_EQ(a->tiers[1].name, "720p");
  EXPECT_EQ(a->tiers[1].width, 1280);
  EXPECT_EQ(a->tiers[1].height, 720);
  EXPECT_EQ(a->tiers[1].bandwidth, 2'800'000);
  EXPECT_FALSE(a->failed_at_ms);
  EXPECT_FALSE(a->deleted_at_ms);

  EXPECT_TRUE(store_->mark_deleted(id, kT0 + 4));
  EXPECT_FALSE(store_->mark_deleted(id, kT0 + 5));
  EXPECT_FALSE(store_->mark_processing(id, kT0 + 5));
  EXPECT_FALSE(store_->set_source_info(id, 1, 2, 3));
  EXPECT_FALSE(store_->mark_playable(id, ladder, "720p", kT0 + 5));
  EXPECT_FALSE(store_->mark_hls_ready(id, ladder, "720p", kT0 + 5));
  EXPECT_FALSE(store_->mark_failed(id, "corrupt_input", "x", kT0 + 5));
  a = store_->get_asset(id);
  EXPECT_EQ(a->status, "deleted");
  EXPECT_EQ(a->deleted_at_ms, kT0 + 4);
  EXPECT_FALSE(a->failed_at_ms);
  EXPECT_EQ(a->duration_s, 12.5);

  EXPECT_FALSE(store_->mark_processing("ast_missing", kT0));
  EXPECT_FALSE(store_->mark_deleted("ast_missing", kT0));
  EXPECT_FALSE(store_->get_asset("ast_missing"));
  EXPECT_FALSE(store_->get_upload("upl_missing"));
}

TEST_P(MetadataContract, StoredMinutesSumHeldAssetsPerAccountAndTier) {
  store_->create_account({"acc_other", "other", kT0});
  const std::vector<Tier> ladder{{"720p", 1280, 720, 2'800'000}};
  // An asset of `account` through the worker's transitions up to `status`.
  auto held = [&](const std::string& account, double duration_s, const std::string& tier, const std::string& status) {
    auto [a, u] = new_upload(kT0, account);
    store_->complete_upload(u.id, 1000, kT0);
    EXPECT_TRUE(store_->mark_processing(a.id, kT0 + 1));
    EXPECT_TRUE(store_->set_source_info(a.id, duration_s, 1280, 720));
    if (status == "processing") return a.id;
    EXPECT_TRUE(store_->mark_playable(a.id, ladder, tier, kT0 + 2));
    if (status == "hls_ready") {
      EXPECT_TRUE(store_->mark_hls_ready(a.id, ladder, tier, kT0 + 3));
    }
    return a.id;
  };
  EXPECT_TRUE(store_->stored_minutes().empty());

  held(kAccount, 90, "720p", "playable");
  held(kAccount, 30, "720p", "hls_ready");
  held(kAccount, 12, "4k", "hls_ready");
  held(kAccount, 600, "720p", "processing");  // not playable yet: holds nothing billable
  auto gone = held(kAccount, 600, "720p", "hls_ready");
  ASSERT_TRUE(store_->mark_deleted(gone, kT0 + 4));
  auto failed = held(kAccount, 600, "1080p", "processing");
  ASSERT_TRUE(store_->mark_failed(failed, "corrupt_input", "x", kT0 + 4));
  held("acc_other", 6, "1080p", "playable");
  new_upload(kT0, "acc_other");  // waiting for its bytes

  auto rows = store_->stored_minutes();
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[0].account_id, "acc_other");
  EXPECT_EQ(rows[0].billing_tier, "1080p");
  EXPECT_DOUBLE_EQ(rows[0].minutes, 0.1);
  EXPECT_EQ(rows[1].account_id, kAccount);
  EXPECT_EQ(rows[1].billing_tier, "4k");
  EXPECT_DOUBLE_EQ(rows[1].minutes, 0.2);
  EXPECT_EQ(rows[2].account_id, kAccount);
  EXPECT_EQ(rows[2].billing_tier, "720p");
  EXPECT_DOUBLE_EQ(rows[2].minutes, 2.0) << "90 s + 30 s; the deleted and unfinished assets hold nothing";
}

TEST_P(MetadataContract, MarkFailedRecordsReason) {
  auto id = new_queued_asset();
  EXPECT_TRUE(store_->mark_failed(id, "not_a_video", "no video stream", kT0 + 7));
  auto a = store_->get_asset(id);
  EXPECT_EQ(a->status, "failed");
  EXPECT_EQ(a->error_code, "not_a_video");
  EXPECT_EQ(a->error_message, "no video stream");
  EXPECT_EQ(a->failed_at_ms, kT0 + 7);
}

TEST_P(MetadataContract, ListPaginatesNewestFirstWithoutDuplicates) {
  // Two pairs share a timestamp, so the id tie-break is exercised across pages.
  const int64_t times[] = {kT0, kT0 + 1, kT0 + 1, kT0 + 2, kT0 + 3, kT0 + 3, kT0 + 4};
  std::vector<std::pair<int64_t, std::string>> created;
  for (int64_t t : times) created.emplace_back(t, new_upload(t).first.id);
  store_->create_account({"acc_someone_else", "", kT0});
  new_upload(kT0 + 2, "acc_someone_else");
  std::sort(created.rbegin(), created.rend());

  std::vector<size_t> sizes;
  std::vector<std::string> seen;
  std::optional<std::string> cursor;
  do {
    auto page = store_->list_assets(kAccount, 3, cursor, false);
    sizes.push_back(page.assets.size());
    for (const auto& a : page.assets) seen.push_back(a.id);
    cursor = page.next_cursor;
  } while (cursor && sizes.size() < 10);

  EXPECT_EQ(sizes, (std::vector<size_t>{3, 3, 1}));
  ASSERT_EQ(seen.size(), created.size());
  for (size_t i = 0; i < seen.size(); ++i) EXPECT_EQ(seen[i], created[i].second) << i;
}

TEST_P(MetadataContract, ListHidesDeletedUnlessAskedAndClampsLimit) {
  for (int i = 0; i < 3; ++i) new_upload(kT0 + i);
  auto gone = new_upload(kT0 + 10).first.id;
  store_->mark_deleted(gone, kT0 + 11);

  auto live = store_->list_assets(kAccount, 100, std::nullopt, false);
  EXPECT_EQ(live.assets.size(), 3u);
  EXPECT_FALSE(live.next_cursor);
  auto all = store_->list_assets(kAccount, 100, std::nullopt, true);
  ASSERT_EQ(all.assets.size(), 4u);
  EXPECT_EQ(all.assets[0].id, gone);

  EXPECT_EQ(store_->list_assets(kAccount, 0, std::nullopt, true).assets.size(), 1u);
  EXPECT_EQ(store_->list_assets(kAccount, -5, std::nullopt, true).assets.size(), 1u);
  EXPECT_TRUE(store_->list_assets("acc_nobody", 10, std::nullopt, true).assets.empty());
}

TEST_P(MetadataContract, ListClampsLimitToOneHundred) {
  for (int i = 0; i < 101; ++i) new_upload(kT0 + i);
  auto page = store_->list_assets(kAccount, 1000, std::nullopt, false);
  EXPECT_EQ(page.assets.size(), 100u);
  EXPECT_TRUE(page.next_cursor);
}

TEST_P(MetadataContract, MalformedCursorIsRejected) {
  new_upload();
  const std::vector<std::string> malformed{"%%%",
                                           "",
                                           core::base64url_encode("no-colon"),
                                           core::base64url_encode("x:ast_1"),
                                           core::base64url_encode("12:"),
                                           core::base64url_encode(":ast_1"),
                                           core::base64url_encode("12a:ast_1")};
  for (const auto& bad : malformed)
    EXPECT_THROW(store_->list_assets(kAccount, 3, bad, false), std::invalid_argument) << bad;
}

TEST_P(MetadataContract, AccountsAreCreatedFoundAndListedOldestFirst) {
  store_->create_account({"acc_later", "later", kT0 + 5});
  store_->create_account({"acc_early", "early", kT0 - 5});
  auto a = store_->get_account("acc_later");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->name, "later");
  EXPECT_EQ(a->created_at_ms, kT0 + 5);
  EXPECT_FALSE(store_->get_account("acc_missing"));
  EXPECT_THROW(store_->create_account({"acc_later", "again", kT0}), StoreError) << "duplicate id";
  EXPECT_EQ(store_->get_account("acc_later")->name, "later");

  std::vector<std::string> ids;
  for (const auto& acc : store_->list_accounts()) ids.push_back(acc.id);
  EXPECT_EQ(ids, (std::vector<std::string>{"acc_early", kAccount, "acc_later"}));
}

TEST_P(MetadataContract, KeyOfAnUnknownAccountIsRefusedAndNothingIsCreated) {
  ApiKey k{core::new_id("key"), "ci", core::sha256_hex("orphan"), {"read"}, kT0, std::nullopt, "acc_missing"};
  EXPECT_THROW(store_->create_api_key(k), StoreError);
  EXPECT_FALSE(store_->find_api_key_by_hash(k.secret_hash));
  EXPECT_TRUE(store_->list_api_keys(std::nullopt).empty());
  k.account_id = "";
  EXPECT_THROW(store_->create_api_key(k), StoreError);
  EXPECT_TRUE(store_->list_api_keys(std::nullopt).empty());
}

TEST_P(MetadataContract, KeysAreListedPerAccountWithoutTheirHashes) {
  store_->create_account({"acc_other", "other", kT0});
  ApiKey a1{"key_a1", "first", core::sha256_hex("a1"), {"read"}, kT0 + 1, std::nullopt, kAccount};
  ApiKey a2{"key_a2", "second", core::sha256_hex("a2"), {"read", "upload"}, kT0 + 2, std::nullopt, kAccount};
  ApiKey b1{"key_b1", "theirs", core::sha256_hex("b1"), {"read"}, kT0, std::nullopt, "acc_other"};
  for (const auto& k : {a2, b1, a1}) store_->create_api_key(k);
  ASSERT_TRUE(store_->revoke_api_key("key_a1", kT0 + 9));

  auto mine = store_->list_api_keys(kAccount);
  ASSERT_EQ(mine.size(), 2u);
  EXPECT_EQ(mine[0].id, "key_a1");
  EXPECT_EQ(mine[0].revoked_at_ms, kT0 + 9);
  EXPECT_EQ(mine[1].id, "key_a2");
  EXPECT_EQ(mine[1].name, "second");
  EXPECT_EQ(mine[1].scopes, (std::vector<std::string>{"read", "upload"}));
  EXPECT_EQ(mine[1].created_at_ms, kT0 + 2);
  EXPECT_FALSE(mine[1].revoked_at_ms);
  auto all = store_->list_api_keys(std::nullopt);
  ASSERT_EQ(all.size(), 3u);
  EXPECT_EQ(all[0].id, "key_b1");
  EXPECT_EQ(all[0].account_id, "acc_other");
  for (const auto& k : all) EXPECT_TRUE(k.secret_hash.empty()) << k.id;
  EXPECT_TRUE(store_->list_api_keys("acc_missing").empty());
}

TEST_P(MetadataContract, AssetsBelongToTheAccountWhicheverKeyUploadedThem) {
  auto first = new_upload(kT0, kAccount, nullptr, "key_first").first.id;
  auto second = new_upload(kT0 + 1, kAccount, nullptr, "key_second").first.id;
  store_->create_account({"acc_other", "other", kT0});
  new_upload(kT0 + 2, "acc_other", nullptr, "key_first");  // ids are opaque: only the account counts
  store_->revoke_api_key("key_first", kT0 + 3);

  auto page = store_->list_assets(kAccount, 10, std::nullopt, false);
  ASSERT_EQ(page.assets.size(), 2u);
  EXPECT_EQ(page.assets[0].id, second);
  EXPECT_EQ(page.assets[0].owner_key_id, "key_second");
  EXPECT_EQ(page.assets[1].id, first);
  EXPECT_EQ(page.assets[1].owner_key_id, "key_first");
  EXPECT_EQ(page.assets[1].account_id, kAccount);
}

TEST_P(MetadataContract, UploadForAnUnknownAccountIsRefusedAndNothingIsCreated) {
  Asset a;
  a.id = core::new_id("ast");
  a.visibility = "public";
  a.account_id = "acc_missing";
  a.owner_key_id = "key_owner";
  a.created_at_ms = kT0;
  Upload u{core::new_id("upl"), a.id, std::nullopt, "pending", kT0};
  EXPECT_THROW(store_->create_upload(a, u), StoreError);
  EXPECT_FALSE(store_->get_asset(a.id));
  EXPECT_FALSE(store_->get_upload(u.id));
}

TEST_P(MetadataContract, MigrationMovesEachKeyAndItsAssetsIntoAnAccountOfTheirOwn) {
  testing::TempDir old_dir;
  // Keys as `rend keys create` made them before accounts, one revoked and one with
  // an empty name; assets of each, one of a key whose row an operator pruned, one
  // deleted; an upload and a job referencing an asset (its table is rebuilt).
  const std::string ka = "key_aaaaaaaaaaaaaaaaaaaaaaaaaa", kb = "key_bbbbbbbbbbbbbbbbbbbbbbbbbb",
                    kc = "key_cccccccccccccccccccccccccc", gone = "key_gggggggggggggggggggggggggg";
  auto key = [](const std::string& id, const std::string& name, const std::string& hash, const std::string& revoked) {
    return "INSERT INTO {t}api_keys (id, name, secret_hash, scopes, created_at_ms, revoked_at_ms) VALUES ('" + id +
           "', '" + name + "', '" + hash + "', '[\"read\", \"upload\"]', 1000, " + revoked + ")";
  };
  auto asset = [](const std::string& id, const std::string& owner, const std::string& status, int64_t at) {
    return "INSERT INTO {t}assets (id, status, visibility, owner_key_id, created_at_ms, duration_s, billing_tier)"
           " VALUES ('" +
           id + "', '" + status + "', 'private', '" + owner + "', " + std::to_string(at) + ", 12.5, '1080p')";
  };
  if (!GetParam().seed_before_accounts(
          old_dir.path(),
          {key(ka, "alice", core::sha256_hex("a"), "NULL"), key(kb, "", core::sha256_hex("b"), "NULL"),
           key(kc, "carol", core::sha256_hex("c"), "2000"), asset("ast_a1", ka, "hls_ready", 1100),
           asset("ast_a2", ka, "deleted", 1200), asset("ast_b1", kb, "queued", 1300),
           asset("ast_c1", kc, "playable", 1400), asset("ast_g1", gone, "hls_ready", 900),
           asset("ast_g2", gone, "failed", 950),
           "INSERT INTO {t}uploads (id, asset_id, status, created_at_ms) VALUES ('upl_a1', 'ast_a1', 'complete', 1100)",
           "INSERT INTO {t}jobs (id, asset_id, kind, status, created_at_ms) VALUES ('job_b1', 'ast_b1', 'transcode',"
           " 'queued', 1300)"}))
    GTEST_SKIP() << GetParam().name << " is not available";

  auto migrated = GetParam().open(old_dir.path());
  migrated->migrate();
  migrated->migrate();  // idempotent

  auto ids = [&](const std::string& account) {
    std::vector<std::string> out;
    for (const auto& a : migrated->list_assets(account, 100, std::nullopt, true).assets) out.push_back(a.id);
    return out;
  };
  struct Expect {
    std::string key, hash_of, account, name;
    std::vector<std::string> assets;
  };
  for (const auto& e : {Expect{ka, "a", "acc_aaaaaaaaaaaaaaaaaaaaaaaaaa", "alice", {"ast_a2", "ast_a1"}},
                        Expect{kb, "b", "acc_bbbbbbbbbbbbbbbbbbbbbbbbbb", kb, {"ast_b1"}},
                        Expect{kc, "c", "acc_cccccccccccccccccccccccccc", "carol", {"ast_c1"}}}) {
    auto k = migrated->find_api_key_by_hash(core::sha256_hex(e.hash_of));
    ASSERT_TRUE(k) << e.key;
    EXPECT_EQ(k->id, e.key);
    EXPECT_EQ(k->account_id, e.account) << e.key;
    EXPECT_EQ(k->scopes, (std::vector<std::string>{"read", "upload"}));
    auto acc = migrated->get_account(e.account);
    ASSERT_TRUE(acc) << e.account;
    EXPECT_EQ(acc->name, e.name);
    EXPECT_EQ(acc->created_at_ms, 1000);
    EXPECT_EQ(ids(e.account), e.assets) << e.key;
  }
  EXPECT_EQ(migrated->find_api_key_by_hash(core::sha256_hex("c"))->revoked_at_ms, 2000);
  auto orphan = migrated->get_account("acc_gggggggggggggggggggggggggg");
  ASSERT_TRUE(orphan) << "the assets of a pruned key got no account";
  EXPECT_EQ(orphan->name, gone);
  EXPECT_EQ(orphan->created_at_ms, 900);
  EXPECT_EQ(ids(orphan->id), (std::vector<std::string>{"ast_g2", "ast_g1"}));
  EXPECT_EQ(migrated->list_accounts().size(), 4u);

  // Nothing else about an asset changed, and what references assets still resolves.
  auto a1 = migrated->get_asset("ast_a1");
  ASSERT_TRUE(a1);
  EXPECT_EQ(a1->owner_key_id, ka);
  EXPECT_EQ(a1->status, "hls_ready");
  EXPECT_EQ(a1->duration_s, 12.5);
  EXPECT_EQ(a1->billing_tier, "1080p");
  EXPECT_EQ(a1->created_at_ms, 1100);
  EXPECT_FALSE(a1->name) << "assets from before names have none";
  EXPECT_FALSE(a1->source_filename);
  EXPECT_TRUE(migrated->set_asset_name("ast_a1", std::string("named after the upgrade")));
  EXPECT_EQ(migrated->get_asset("ast_a1")->name, "named after the upgrade");
  ASSERT_TRUE(migrated->get_upload("upl_a1"));
  auto job = migrated->claim_job("w1", kLock, kT0);
  ASSERT_TRUE(job);
  EXPECT_EQ(job->asset_id, "ast_b1");

  // And the migrated schema takes new keys and assets, refusing unknown accounts.
  migrated->create_api_key(
      {"key_new", "new", core::sha256_hex("n"), {"read"}, kT0, std::nullopt, "acc_aaaaaaaaaaaaaaaaaaaaaaaaaa"});
  EXPECT_EQ(migrated->list_api_keys("acc_aaaaaaaaaaaaaaaaaaaaaaaaaa").size(), 2u);
  new_upload(kT0, "acc_aaaaaaaaaaaaaaaaaaaaaaaaaa", migrated.get());
  EXPECT_EQ(ids("acc_aaaaaaaaaaaaaaaaaaaaaaaaaa").size(), 3u);
  EXPECT_THROW(new_upload(kT0, "acc_missing", migrated.get()), StoreError);
}

// ---- Webhooks: the outbox and the delivery queue ----

Webhook new_webhook(MetadataStore& store, const std::string& account, std::vector<std::string> events) {
  Webhook w{
      core::new_id("whk"), account, "https://example.com/hook", std::move(events), "whsec_one", std::nullopt, 0, kT0};
  store.create_webhook(w);
  return w;
}

// Claims every due delivery (delivering each) and returns their event types in order.
std::vector<std::string> drain_types(MetadataStore& store, const std::string& webhook_id, int64_t now_ms) {
  std::vector<std::string> types;
  while (auto d = store.claim_webhook_delivery("disp", now_ms, 60'000)) {
    if (d->webhook_id == webhook_id) types.push_back(d->event_type);
    EXPECT_TRUE(store.finish_webhook_delivery(d->id, "disp", {"delivered", 200, 5, std::nullopt, now_ms, now_ms}));
  }
  return types;
}

TEST_P(MetadataContract, StatusChangesWriteOneWebhookEventEachInOrder) {
  auto all = new_webhook(*store_, kAccount, webhook_event_types());
  auto ready_only = new_webhook(*store_, kAccount, {"asset.ready"});
  store_->create_account({"acc_other", "other", kT0});
  auto others = new_webhook(*store_, "acc_other", webhook_event_types());

  auto [a, u] = new_upload(kT0);
  store_->complete_upload(u.id, 1000, kT0 + 1);
  EXPECT_TRUE(store_->mark_processing(a.id, kT0 + 2));  // not an event
  std::vector<Tier> tiers{{"720p", 1280, 720, 2'800'000}};
  EXPECT_TRUE(store_->mark_playable(a.id, tiers, "720p", kT0 + 3));
  EXPECT_TRUE(store_->mark_playable(a.id, tiers, "720p", kT0 + 4));  // a re-run job: no second event
  EXPECT_TRUE(store_->mark_hls_ready(a.id, tiers, "720p", kT0 + 5));
  EXPECT_TRUE(store_->mark_deleted(a.id, kT0 + 6));
  EXPECT_FALSE(store_->mark_failed(a.id, "x", "y", kT0 + 7));  // deleted: no transition, no event

  auto listed = store_->list_webhook_deliveries(all.id, 100);
  ASSERT_EQ(listed.size(), 5u);
  EXPECT_EQ(listed.front().event_type, "asset.deleted");  // newest first
  EXPECT_EQ(listed.front().asset_id, a.id);
  EXPECT_EQ(listed.front().account_id, kAccount);
  EXPECT_EQ(listed.front().status, "pending");
  EXPECT_TRUE(listed.front().event_id.starts_with("evt_"));
  EXPECT_EQ(store_->list_webhook_deliveries(ready_only.id, 100).size(), 1u);
  EXPECT_TRUE(store_->list_webhook_deliveries(others.id, 100).empty());
  // One event, one id, whichever webhook it goes to.
  EXPECT_EQ(store_->list_webhook_deliveries(ready_only.id, 100)[0].event_id, listed[1].event_id);

  EXPECT_EQ(drain_types(*store_, all.id, kT0 + 10),
            (std::vector<std::string>{"asset.created", "asset.uploaded", "asset.playable", "asset.ready",
                                      "asset.deleted"}));
}

TEST_P(MetadataContract, FailedTransitionAndUploadExpiredAreEvents) {
  auto w = new_webhook(*store_, kAccount, {"asset.failed", "upload.expired"});
  auto [a, u] = new_upload(kT0);
  EXPECT_TRUE(store_->record_upload_expired(u.id, kT0 + 1));
  EXPECT_FALSE(store_->record_upload_expired("upl_missing", kT0 + 1));
  EXPECT_TRUE(store_->mark_failed(a.id, "not_a_video", "no", kT0 + 2));
  EXPECT_EQ(drain_types(*store_, w.id, kT0 + 3), (std::vector<std::string>{"upload.expired", "asset.failed"}));
}

// The tus sweeper and tus termination end uploads through end_upload: their events
// are written in the same transaction.
TEST_P(MetadataContract, EndingAnUploadWritesItsWebhookEvents) {
  auto w = new_webhook(*store_, kAccount, {"upload.expired", "asset.failed", "asset.deleted"});
  auto [a1, u1] = new_upload(kT0);
  ASSERT_TRUE(store_->start_resumable_upload(u1.id, 1000, "h", kT0 + 10));
  ASSERT_TRUE(store_->claim_upload(u1.id, "c", kT0 + 20, 20'000));
  ASSERT_TRUE(store_->end_upload(u1.id, "c", "expired", kT0 + 20));
  auto [a2, u2] = new_upload(kT0);
  ASSERT_TRUE(store_->start_resumable_upload(u2.id, 1000, "h", kT0 + 10'000));
  ASSERT_TRUE(store_->claim_upload(u2.id, "t", kT0 + 30, 20'000));
  ASSERT_TRUE(store_->end_upload(u2.id, "t", "terminated", kT0 + 30));
  EXPECT_EQ(drain_types(*store_, w.id, kT0 + 40),
            (std::vector<std::string>{"upload.expired", "asset.failed", "asset.deleted"}));
}

TEST_P(MetadataContract, WebhooksAreCreatedListedRotatedAndDeletedWithTheirDeliveries) {
  EXPECT_THROW(new_webhook(*store_, "acc_missing", {"asset.ready"}), StoreError);
  auto w = new_webhook(*store_, kAccount, {"asset.created", "asset.ready"});
  auto got = store_->get_webhook(w.id);
  ASSERT_TRUE(got);
  EXPECT_EQ(got->url, w.url);
  EXPECT_EQ(got->events, (std::vector<std::string>{"asset.created", "asset.ready"}));
  EXPECT_EQ(got->secret, "whsec_one");
  EXPECT_FALSE(got->previous_secret);
  EXPECT_EQ(store_->list_webhooks(kAccount).size(), 1u);
  EXPECT_TRUE(store_->list_webhooks("acc_nobody").empty());

  EXPECT_TRUE(store_->rotate_webhook_secret(w.id, "whsec_two", kT0 + 1000));
  got = store_->get_webhook(w.id);
  EXPECT_EQ(got->secret, "whsec_two");
  EXPECT_EQ(got->previous_secret, std::optional<std::string>("whsec_one"));
  EXPECT_EQ(got->previous_secret_until_ms, kT0 + 1000);
  EXPECT_FALSE(store_->rotate_webhook_secret("whk_missing", "s", 0));

  new_upload(kT0);
  EXPECT_EQ(store_->list_webhook_deliveries(w.id, 10).size(), 1u);
  EXPECT_TRUE(store_->delete_webhook(w.id));
  EXPECT_FALSE(store_->delete_webhook(w.id));
  EXPECT_FALSE(store_->get_webhook(w.id));
  EXPECT_TRUE(store_->list_webhook_deliveries(w.id, 10).empty());
  EXPECT_FALSE(store_->claim_webhook_delivery("disp", kT0 + 10, 1000));
}

TEST_P(MetadataContract, WebhookDeliveryClaimHoldsItsLeaseAndRetriesWaitTheirTime) {
  auto w = new_webhook(*store_, kAccount, {"asset.created"});
  new_upload(kT0);
  auto d = store_->claim_webhook_delivery("p1", kT0, 1000);
  ASSERT_TRUE(d);
  EXPECT_EQ(d->attempts, 0);
  // In flight: nobody else gets it, the retry route says so.
  EXPECT_FALSE(store_->claim_webhook_delivery("p2", kT0 + 999, 1000));
  EXPECT_EQ(store_->retry_webhook_delivery(w.id, d->id, kT0 + 10), WebhookRetry::in_flight);
  // The lease expired (p1 died): another process takes it; p1's late result is refused.
  auto again = store_->claim_webhook_delivery("p2", kT0 + 1001, 1000);
  ASSERT_TRUE(again);
  EXPECT_EQ(again->id, d->id);
  EXPECT_FALSE(store_->finish_webhook_delivery(d->id, "p1", {"delivered", 200, 1, std::nullopt, kT0, kT0}));
  // A failed attempt: pending again, not due before its next attempt.
  EXPECT_TRUE(store_->finish_webhook_delivery(d->id, "p2", {"pending", 500, 42, "http_500", kT0 + 1100, kT0 + 5000}));
  EXPECT_FALSE(store_->claim_webhook_delivery("p2", kT0 + 4999, 1000));
  auto listed = store_->list_webhook_deliveries(w.id, 10);
  ASSERT_EQ(listed.size(), 1u);
  EXPECT_EQ(listed[0].attempts, 1);
  EXPECT_EQ(listed[0].last_status_code, std::optional<int64_t>(500));
  EXPECT_EQ(listed[0].last_latency_ms, std::optional<int64_t>(42));
  EXPECT_EQ(listed[0].last_error, std::optional<std::string>("http_500"));
  EXPECT_EQ(listed[0].next_attempt_at_ms, kT0 + 5000);
  // A manual retry makes it due now.
  EXPECT_EQ(store_->retry_webhook_delivery(w.id, d->id, kT0 + 2000), WebhookRetry::queued);
  EXPECT_EQ(store_->retry_webhook_delivery("whk_other", d->id, kT0 + 2000), WebhookRetry::not_found);
  auto third = store_->claim_webhook_delivery("p3", kT0 + 2000, 1000);
  ASSERT_TRUE(third);
  EXPECT_TRUE(store_->finish_webhook_delivery(third->id, "p3", {"failed", 500, 1, "http_500", kT0 + 2001, kT0 + 2001}));
  // failed and delivered are terminal for the dispatcher.
  EXPECT_FALSE(store_->claim_webhook_delivery("p3", kT0 + 100'000, 1000));
  EXPECT_EQ(store_->list_webhook_deliveries(w.id, 10)[0].status, "failed");
}

TEST_P(MetadataContract, ConcurrentDispatchersNeverClaimOneDeliveryTwice) {
  new_webhook(*store_, kAccount, {"asset.created"});
  constexpr int kDeliveries = 30;
  for (int i = 0; i < kDeliveries; ++i) new_upload(kT0 + i);
  std::mutex mu;
  std::vector<std::string> claimed;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      auto mine = open();  // its own connection, like another API process
      const std::string who = "proc" + std::to_string(t);
      while (auto d = mine->claim_webhook_delivery(who, kT0 + 1000, 60'000)) {
        std::lock_guard lock(mu);
        claimed.push_back(d->id);
      }
    });
  for (auto& th : threads) th.join();
  std::set<std::string> unique(claimed.begin(), claimed.end());
  EXPECT_EQ(claimed.size(), size_t(kDeliveries));
  EXPECT_EQ(unique.size(), size_t(kDeliveries));
}

INSTANTIATE_TEST_SUITE_P(Embedded, MetadataContract, ::testing::ValuesIn(kBackends), testing::ParamName());

}  // namespace
}  // namespace rend::store
