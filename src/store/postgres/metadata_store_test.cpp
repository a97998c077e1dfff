// Postgres-specific behaviour beyond the shared contract (metadata_contract_test.cpp):
// several processes on one database, concurrent migrations, losing connections.
#include "store/postgres/metadata_store.h"

#include <gtest/gtest.h>

#include <chrono>
#include <latch>
#include <mutex>
#include <set>
#include <thread>

#include "core/ids.h"
#include "store/postgres/migrations.h"
#include "store/postgres/pg.h"
#include "store/postgres/test_support.h"
#include "store/test_util.h"

namespace rend::store::postgres {
namespace {

constexpr int64_t kT0 = 1'800'000'000'000;
constexpr int64_t kLock = 30'000;

class PostgresStore : public ::testing::Test {
 protected:
  void SetUp() override {
    if (testing::admin_url().empty()) GTEST_SKIP() << "REND_TEST_POSTGRES_URL is not set";
    url_ = testing::database_url_for(dir_.path());
    dbname_ = parse_target(url_).dbname;
  }

  std::unique_ptr<MetadataStore> open(bool migrate = true) {
    auto s = open_postgres_metadata_store(url_);
    if (migrate) s->migrate();
    return s;
  }

  // A queued transcode job, as the API leaves it after an upload; returns the asset id.
  static std::string queue_job(MetadataStore& s, int64_t now_ms) {
    Asset a;
    a.id = core::new_id("ast");
    a.visibility = "private";
    a.owner_key_id = "key_owner";
    a.account_id = "acc_owner";
    if (!s.get_account(a.account_id)) s.create_account({a.account_id, "owner", now_ms});
    a.created_at_ms = now_ms;
    Upload u{core::new_id("upl"), a.id, std::nullopt, "pending", now_ms};
    s.create_upload(a, u);
    s.complete_upload(u.id, 1000, now_ms);
    return a.id;
  }

  // A query on the test database from outside the store.
  int64_t count(const std::string& sql) {
    const Target t = parse_target(url_);
    Connection c(url_, t);
    return c.exec(sql).int64(0, 0);
  }

  void terminate_store_connections() {
    testing::admin_exec("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '" + dbname_ + "'");
  }

  // pg_terminate_backend only signals; wait until the server processes are gone.
  void wait_until_no_connections() {
    for (int i = 0; i < 500; ++i) {
      const Target t = parse_target(testing::admin_url());
      Connection admin(testing::admin_url(), t);
      if (admin.exec("SELECT count(*) FROM pg_stat_activity WHERE datname = $1", Params().add(dbname_)).int64(0, 0) ==
          0)
        return;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    FAIL() << "connections to " << dbname_ << " did not go away";
  }

  rend::store::testing::TempDir dir_;
  std::string url_, dbname_;
};

TEST_F(PostgresStore, TwoWorkersWithSeveralThreadsEachClaimEveryJobOnce) {
  auto setup = open();
  constexpr int kJobs = 40;
  std::set<std::string> expected;
  for (int i = 0; i < kJobs; ++i) expected.insert(queue_job(*setup, kT0 + i));

  // Two store instances stand in for two worker processes, each with its own pool.
  auto worker_a = open(), worker_b = open();
  std::mutex mu;
  std::multiset<std::string> claimed;
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    MetadataStore* store = t % 2 ? worker_b.get() : worker_a.get();
    threads.emplace_back([&, store, t] {
      const std::string worker = "w" + std::to_string(t);
      while (auto job = store->claim_job(worker, kLock, kT0 + kJobs)) {
        {
          std::lock_guard lock(mu);
          claimed.insert(job->asset_id);
        }
        store->complete_job(job->id, worker, kT0 + kJobs + 1);
      }
    });
  }
  for (auto& th : threads) th.join();

  EXPECT_EQ(claimed.size(), size_t(kJobs)) << "a job was claimed twice";
  EXPECT_EQ(std::set<std::string>(claimed.begin(), claimed.end()), expected);
  EXPECT_EQ(setup->pending_job_count(), 0);
}

TEST_F(PostgresStore, ConcurrentMigrationsFromTwoInstancesApplyEachVersionOnce) {
  auto a = open(false), b = open(false);
  std::latch start(4);
  std::mutex mu;
  std::vector<std::string> errors;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    MetadataStore* store = t % 2 ? b.get() : a.get();
    threads.emplace_back([&, store] {
      start.arrive_and_wait();
      try {
        store->migrate();
      } catch (const std::exception& e) {
        std::lock_guard lock(mu);
        errors.push_back(e.what());
      }
    });
  }
  for (auto& th : threads) th.join();

  EXPECT_TRUE(errors.empty()) << errors.front();
  EXPECT_EQ(count("SELECT count(*) FROM rend.schema_migrations"), int64_t(migrations().size()));
  EXPECT_EQ(count("SELECT count(DISTINCT version) FROM rend.schema_migrations"), int64_t(migrations().size()));
  EXPECT_EQ(count("SELECT count(*) FROM information_schema.tables WHERE table_schema = 'rend' AND table_name IN"
                  " ('api_keys', 'assets', 'uploads', 'jobs', 'edge_nodes', 'schema_migrations')"),
            6);
  EXPECT_TRUE(a->healthy());
  EXPECT_TRUE(b->healthy());
}

TEST_F(PostgresStore, EdgeRegistryTableMatchesTheSpec) {
  open();
  EXPECT_EQ(count("SELECT count(*) FROM information_schema.columns WHERE table_schema = 'rend' AND"
                  " table_name = 'edge_nodes' AND (column_name, data_type) IN (('edge_id', 'text'),"
                  " ('region', 'text'), ('base_url', 'text'), ('version', 'text'), ('registered_at', 'bigint'),"
                  " ('last_heartbeat_at', 'bigint'), ('cache_bytes', 'bigint'), ('cache_objects', 'bigint'),"
                  " ('stats', 'jsonb'))"),
            9);
}

TEST_F(PostgresStore, SurvivesItsConnectionsBeingTerminated) {
  auto store = open();
  // Many rounds: whether the server's goodbye reaches a pooled socket before or after
  // the pool looks at it is down to timing, and every ordering must work.
  for (int round = 0; round < 25; ++round) {
    SCOPED_TRACE(round);
    // Open several pooled connections, so more than one is dead afterwards.
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) threads.emplace_back([&] { store->pending_job_count(); });
    for (auto& th : threads) th.join();

    terminate_store_connections();
    // No waiting: the very next calls must work, whether the store notices the dead
    // connection before using it or only when its first statement fails.
    auto asset = queue_job(*store, kT0 + round);
    EXPECT_TRUE(store->get_asset(asset));
    terminate_store_connections();
    EXPECT_TRUE(store->healthy());
    terminate_store_connections();
    auto job = store->claim_job("w", kLock, kT0 + 10);
    ASSERT_TRUE(job);
    EXPECT_EQ(job->asset_id, asset);
    store->complete_job(job->id, "w", kT0 + 11);
  }
  EXPECT_EQ(store->pending_job_count(), 0);
}

TEST_F(PostgresStore, UnhealthyWhileTheDatabaseIsUnreachableAndRecoversAfter) {
  auto store = open();
  auto asset = queue_job(*store, kT0);
  // Refusing connections to the database and ending the current ones is what a
  // Postgres restart looks like to the store.
  testing::admin_exec("ALTER DATABASE " + dbname_ + " ALLOW_CONNECTIONS false");
  terminate_store_connections();
  wait_until_no_connections();

  EXPECT_FALSE(store->healthy());
  EXPECT_FALSE(store->healthy());
  EXPECT_THROW(store->get_asset(asset), StoreError);

  testing::admin_exec("ALTER DATABASE " + dbname_ + " ALLOW_CONNECTIONS true");
  EXPECT_TRUE(store->healthy());
  auto a = store->get_asset(asset);
  ASSERT_TRUE(a);
  EXPECT_EQ(a->status, "queued");
}

TEST_F(PostgresStore, QueryErrorsDoNotQuoteRowValues) {
  auto store = open();
  store->create_account({"acc_ci", "ci", kT0});
  ApiKey k{core::new_id("key"), "ci", "feedface-secret-hash", {"read"}, kT0, std::nullopt, "acc_ci"};
  store->create_api_key(k);
  k.id = core::new_id("key");
  try {
    store->create_api_key(k);
    FAIL() << "duplicate secret_hash accepted";
  } catch (const StoreError& e) {
    // Postgres' DETAIL line would say "Key (secret_hash)=(feedface-secret-hash) already exists".
    EXPECT_EQ(std::string(e.what()).find("feedface"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("23505"), std::string::npos) << e.what();
  }
}

// No server needed: nothing listens on port 1.
TEST(PostgresUrl, ErrorsNeverIncludeThePassword) {
  const std::string pw = "hunter2-Secret";
  auto store = open_postgres_metadata_store("postgres://rend:" + pw + "@127.0.0.1:1/renddb");
  EXPECT_FALSE(store->healthy());
  try {
    store->migrate();
    FAIL() << "migrate() without a server";
  } catch (const StoreError& e) {
    const std::string what = e.what();
    EXPECT_EQ(what.find(pw), std::string::npos) << what;
    EXPECT_NE(what.find("127.0.0.1:1/renddb"), std::string::npos) << what;
  }

  // libpq's own parse errors quote the offending token, here the password.
  for (const std::string& bad : {"postgres://rend:" + pw + "%zz@127.0.0.1/renddb",
                                 "postgresql://rend:" + pw + "@127.0.0.1:port/renddb?bogus=" + pw}) {
    try {
      open_postgres_metadata_store(bad);
      FAIL() << "accepted a malformed URL";
    } catch (const std::invalid_argument& e) {
      EXPECT_EQ(std::string(e.what()).find(pw), std::string::npos) << e.what();
    }
  }
  EXPECT_THROW(open_postgres_metadata_store("mysql://rend:" + pw + "@db/rend"), std::invalid_argument);
  EXPECT_THROW(open_postgres_metadata_store("host=db password=" + pw), std::invalid_argument);
  EXPECT_NO_THROW(open_postgres_metadata_store("postgresql://rend@127.0.0.1:1/renddb"));
}

TEST(PostgresUrl, DescribesWhereItConnects) {
  auto t = parse_target("postgres://rend:pw@db.internal:6543/media?sslmode=disable");
  EXPECT_EQ(t.describe(), "db.internal:6543/media");
  EXPECT_EQ(parse_target("postgresql://rend@db").describe(), "db:5432/rend");
}

}  // namespace
}  // namespace rend::store::postgres
