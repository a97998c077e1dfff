// The pool's retry rule after a lost connection, made deterministic: the test ends
// the connection's server process itself at a chosen point of a call and waits until
// it is gone, then lets the call go on.
#include "store/postgres/pg.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <latch>
#include <mutex>
#include <thread>
#include <vector>

#include "store/postgres/test_support.h"
#include "store/test_util.h"

namespace rend::store::postgres {
namespace {

// A TCP proxy in front of Postgres that can make every connection through it die
// the way a failover or a network cut does to an idle client: the server side is
// closed at once, while the client side stays open and silent (nothing to read, so
// the pool's readability check sees a healthy connection) until the client sends
// something, and is only then closed. This makes "the pool hands out a dead
// connection" happen on every connection, every time.
class SilentCutProxy {
 public:
  explicit SilentCutProxy(int upstream_port) : upstream_port_(upstream_port) {
    listen_fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(listen_fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || listen(listen_fd_, 16) != 0)
      throw std::runtime_error("proxy: cannot listen");
    socklen_t len = sizeof a;
    getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    acceptor_ = std::thread([this] { accept_loop(); });
  }
  ~SilentCutProxy() {
    stop_ = true;
    acceptor_.join();
    std::lock_guard lock(mu_);
    for (auto& t : pumps_) t.join();
    close(listen_fd_);
  }
  int port() const { return port_; }
  // Cuts every connection open now and returns once each has stopped forwarding
  // (none can still pass on a statement already sent); later ones pass normally.
  // Call it while no connection is being opened.
  void cut_all() {
    ++generation_;
    while (forwarding_ > 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }

 private:
  void accept_loop() {
    while (!stop_) {
      pollfd p{listen_fd_, POLLIN, 0};
      if (poll(&p, 1, 20) <= 0) continue;
      const int client = accept(listen_fd_, nullptr, nullptr);
      if (client < 0) continue;
      const int upstream = socket(AF_INET, SOCK_STREAM, 0);
      sockaddr_in a{};
      a.sin_family = AF_INET;
      a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      a.sin_port = htons(uint16_t(upstream_port_));
      if (connect(upstream, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
        close(upstream);
        close(client);
        continue;
      }
      std::lock_guard lock(mu_);
      ++forwarding_;
      pumps_.emplace_back([this, client, upstream, gen = generation_.load()] { pump(client, upstream, gen); });
    }
  }

  void pump(int client, int upstream, uint64_t gen) {
    char buf[16384];
    for (;;) {
      if (stop_) break;
      if (generation_ != gen) {
        close(upstream);  // the server sees EOF and ends the session
        upstream = -1;
        --forwarding_;
        // Silent until the client speaks; then it learns the connection is gone.
        pollfd p{client, POLLIN, 0};
        while (!stop_ && poll(&p, 1, 20) == 0) {
        }
        break;
      }
      pollfd p[2] = {{client, POLLIN, 0}, {upstream, POLLIN, 0}};
      if (poll(p, 2, 20) <= 0) continue;
      bool done = false;
      for (int i = 0; i < 2 && !done; ++i) {
        if (!p[i].revents) continue;
        const ssize_t n = read(p[i].fd, buf, sizeof buf);
        done = n <= 0 || write(p[1 - i].fd, buf, size_t(n)) != n;
      }
      if (done) break;
    }
    if (upstream >= 0) {
      close(upstream);
      --forwarding_;
    }
    close(client);
  }

  const int upstream_port_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> generation_{0};
  std::atomic<int> forwarding_{0};  // pumps not (yet) cut
  std::thread acceptor_;
  std::mutex mu_;
  std::vector<std::thread> pumps_;
};

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
      threads.emplace_back([&] { pool.run([](Connection& c) { c.exec("SELECT pg_sleep(0.01)"); }); });
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

// Deterministic form of the failover race: every pooled connection is dead but none
// looks it. The first statement fails on one; the retry must not take another.
TEST_F(PostgresPool, EveryPooledConnectionCutSilentlyTheNextCallStillSucceeds) {
  SilentCutProxy proxy(std::stoi(target_.port));
  const std::string from = ":" + target_.port + "/";
  std::string url = url_;
  url.replace(url.find(from), from.size(), ":" + std::to_string(proxy.port()) + "/");
  const Target target = parse_target(url);
  Pool pool(url, target, 4);
  for (int round = 0; round < 3; ++round) {
    SCOPED_TRACE(round);
    // Four connections in the pool: each call holds one until all four are taken.
    std::latch all_leased(4);
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t)
      threads.emplace_back([&] {
        pool.run([&](Connection& c) {
          c.exec("SELECT 1");
          all_leased.arrive_and_wait();
        });
      });
    for (auto& th : threads) th.join();
    proxy.cut_all();
    EXPECT_NO_THROW(pool.run([](Connection& c) {
      Transaction tx(c);
      c.exec("INSERT INTO t VALUES (1)");
      tx.commit();
    }));
    proxy.cut_all();
    EXPECT_NO_THROW(pool.run([](Connection& c) { return c.exec("SELECT count(*) FROM t").int64(0, 0); }));
  }
  EXPECT_EQ(rows(), 3);
}

}  // namespace
}  // namespace rend::store::postgres
