// The pool's retry rule after a lost connection, made deterministic: the test ends
// the connection's server process itself at a chosen point of a call and waits until
// it is gone, then lets the call go on.
#include "store/postgres/pg.h"

#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "store/postgres/test_support.h"
#include "store/test_util.h"

namespace rend::store::postgres {
namespace {

class PostgresPool : public ::testing::Test {
 protected:
  void SetUp() override {
    if (testing::admin_url().empty()) GTEST_SKIP() << "REND_TEST_POSTGRES_URL is not set";
    url_ = testing::database_url_for(dir_.path());
    target_ = parse_target(url_);
    Connection c(url_, target_);
    c.exec("CREATE TABLE t (v INTEGER NOT NULL)");
  }

  int64_t rows() {
    Connection c(url_, target_);
    return c.exec("SELECT count(*) FROM t").int64(0, 0);
  }

  // Ends the server process behind `c` and returns once it has exited, so the next
  // statement on `c` finds the connection lost.
  void kill_backend_of(Connection& c) {
    const std::string pid = c.exec("SELECT pg_backend_pid()").text(0, 0);
    testing::admin_exec("SELECT pg_terminate_backend(" + pid + ")");
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (std::chrono::steady_clock::now() < deadline) {
      Connection admin(testing::admin_url(), parse_target(testing::admin_url()));
      if (admin.exec("SELECT count(*) FROM pg_stat_activity WHERE pid = " + pid).int64(0, 0) == 0) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    FAIL() << "backend " << pid << " did not exit";
  }

  rend::store::testing::TempDir dir_;
  std::string url_;
  Target target_;
};

TEST_F(PostgresPool, ATransactionLostBeforeCommitIsRetriedWholeOnAFreshConnection) {
  Pool pool(url_, target_, 2);
  int attempts = 0;
  pool.run([&](Connection& c) {
    ++attempts;
    Transaction tx(c);
    c.exec("INSERT INTO t VALUES (1)");
    if (attempts == 1) kill_backend_of(c);
    c.exec("INSERT INTO t VALUES (2)");
    tx.commit();
  });
  EXPECT_EQ(attempts, 2);
  // The first attempt's row went with its session; the second attempt's two stayed.
  EXPECT_EQ(rows(), 2);
}

TEST_F(PostgresPool, ALossOnCommitIsNotRetried) {
  Pool pool(url_, target_, 2);
  int attempts = 0;
  try {
    pool.run([&](Connection& c) {
      ++attempts;
      Transaction tx(c);
      c.exec("INSERT INTO t VALUES (1)");
      kill_backend_of(c);
      tx.commit();
    });
    FAIL() << "a COMMIT on a lost connection reported success";
  } catch (const PgError& e) {
    EXPECT_TRUE(e.connection_lost) << e.what();
  }
  EXPECT_EQ(attempts, 1);
  // The pool recovers for the next call.
  EXPECT_EQ(pool.run([](Connection& c) { return c.exec("SELECT 1").int64(0, 0); }), 1);
}

TEST_F(PostgresPool, ALossAfterAnAutocommitStatementRanIsNotRetried) {
  Pool pool(url_, target_, 2);
  int attempts = 0;
  EXPECT_THROW(pool.run([&](Connection& c) {
    ++attempts;
    c.exec("INSERT INTO t VALUES (1)");  // committed on its own
    kill_backend_of(c);
    c.exec("INSERT INTO t VALUES (2)");
  }),
               PgError);
  EXPECT_EQ(attempts, 1);
  EXPECT_EQ(rows(), 1);
}

// Every pooled connection dead at once (a failover): the pool may hand out one that
// does not look dead yet, and the retry must not pick another of the same kind.
TEST_F(PostgresPool, EveryPooledConnectionTerminatedAtOnce) {
  Pool pool(url_, target_, 4);
  const std::string db = target_.dbname;
  for (int round = 0; round < 40; ++round) {
    SCOPED_TRACE(round);
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t)
      threads.emplace_back([&] {
        pool.run([](Connection& c) {
          c.exec("SELECT pg_sleep(0.01)");
        });
      });
    for (auto& th : threads) th.join();
    testing::admin_exec("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '" + db + "'");
    EXPECT_NO_THROW(pool.run([](Connection& c) {
      Transaction tx(c);
      c.exec("INSERT INTO t VALUES (1)");
      tx.commit();
    }));
    testing::admin_exec("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '" + db + "'");
    EXPECT_NO_THROW(pool.run([](Connection& c) { c.exec("SELECT count(*) FROM t"); }));
  }
  EXPECT_EQ(rows(), 40);
}

}  // namespace
}  // namespace rend::store::postgres
