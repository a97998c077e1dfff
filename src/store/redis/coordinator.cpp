#include "store/redis/coordinator.h"
#include "store/wakeup.h"

#include <fcntl.h>
#include <poll.h>
#include <unistd.h>
#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <thread>
#include <utility>
#include <vector>

#include "core/crypto.h"
#include "core/log.h"
#include "store/redis/connection.h"
#include "store/redis/url.h"

namespace rend::store::redis {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

constexpr auto kConnectTimeout = 2000ms;
constexpr auto kCommandTimeout = 2000ms;
// readyz must answer quickly even when Redis is black-holed.
constexpr auto kHealthTimeout = 1000ms;
// After a failure, calls fail fast for this long instead of each paying a connect
// timeout: during an outage the API keeps answering (rate limits fail open).
constexpr auto kCommandBackoff = 500ms;
// Subscriber reconnect delay, doubling up to the max while Redis stays down.
constexpr auto kSubscribeBackoffMin = 100ms;
constexpr auto kSubscribeBackoffMax = 2000ms;
// A subscribed connection is silent while no job arrives; a PING every interval
// (unanswered by the next one: the connection is dead) catches a half-open socket
// sooner than TCP keepalive.
constexpr auto kSubscriberPingEvery = 15000ms;
// Idle command connections kept for reuse; more concurrent callers open extra ones
// that are closed after use.
constexpr size_t kMaxIdle = 8;
// Rate-limit keys outlive their window by this much, so API servers whose clocks
// are a little apart still count into the same live key.
constexpr int64_t kRateKeySlackSecs = 10;

// INCR and EXPIRE must be atomic: a crash (or a dropped connection) between them
// would leave a key that never expires. A script is one round trip (MULTI/EXEC
// would be three), and EXPIRE only on the first hit keeps the TTL pinned to the
// window instead of sliding with every request.
constexpr std::string_view kRateScript = R"lua(
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
return n
)lua";

// Cross-process wake-up uses PUBLISH/SUBSCRIBE, with one subscriber thread per
// coordinator, rather than LPUSH + BLPOP:
// - one notify must wake every waiter (the contract), including several worker
//   threads or processes; a list token wakes exactly one BLPOP, and one lost to a
//   worker that then finds the job already taken leaves the others asleep;
// - one subscriber connection per process instead of one blocked connection per
//   waiting thread;
// - nothing piles up in Redis when nobody is waiting.
// What Pub/Sub lacks — remembering a notify nobody was waiting for — is done per
// process exactly as in the in-process coordinator (store/wakeup.h), and notifies lost
// while the subscriber is disconnected are covered by a wake on resubscribe plus
// the worker's poll interval, which stays the fallback.
class RedisCoordinator final : public Coordinator {
 public:
  RedisCoordinator(RedisUrl url, std::string prefix)
      : url_(std::move(url)),
        prefix_(std::move(prefix)),
        channel_(prefix_ + "jobs:wake"),
        instance_id_(core::hex_encode(core::random_bytes(8))),
        client_name_(client_name_for_prefix(prefix_)) {
    int fds[2];
    if (pipe2(fds, O_CLOEXEC | O_NONBLOCK) != 0) throw std::runtime_error("redis coordinator: pipe2 failed");
    stop_read_ = fds[0];
    stop_write_ = fds[1];
  }

  ~RedisCoordinator() override {
    {
      std::lock_guard lock(sub_mu_);
      stopping_ = true;
    }
    // Wakes the subscriber out of poll() at once.
    [[maybe_unused]] auto n = ::write(stop_write_, "x", 1);
    if (subscriber_.joinable()) subscriber_.join();
    ::close(stop_read_);
    ::close(stop_write_);
  }

  void notify_job() override {
    // Waiters in this process need no round trip through Redis, and still wake
    // while Redis is down; the subscriber skips our own messages (instance_id_) so
    // a notify is not delivered twice.
    deliver_locally();
    try {
      run({"PUBLISH", channel_, instance_id_}, kConnectTimeout, kCommandTimeout);
      note_success();
    } catch (const std::exception& e) {
      note_failure("notify_job", e);
    }
  }

  void wait_for_job(std::chrono::milliseconds max_wait) override {
    ensure_subscriber();
    // Whatever happens to Redis, this is a plain timed wait on a local condition:
    // it returns after max_wait at the latest and never throws or spins.
    wakeup_.wait(max_wait);
  }

  RateDecision rate_limit(const std::string& key, int64_t limit, int64_t window_secs, int64_t now_secs) override {
    if (window_secs <= 0) throw std::invalid_argument("rate_limit: window_secs must be positive");
    // Floor division, so a (test) clock before 1970 still gets whole windows.
    const int64_t index = now_secs / window_secs - (now_secs % window_secs < 0 ? 1 : 0);
    const int64_t window_end = (index + 1) * window_secs;
    const int64_t retry_after = std::max<int64_t>(1, window_end - now_secs);
    if (limit <= 0) return {false, retry_after};

    const std::string redis_key = prefix_ + "rl:" + key + ":" + std::to_string(index);
    try {
      Reply r = run({"EVAL", kRateScript, "1", redis_key, std::to_string(retry_after + kRateKeySlackSecs)},
                    kConnectTimeout, kCommandTimeout);
      if (r->type != REDIS_REPLY_INTEGER) throw Error("redis rate_limit: unexpected reply type");
      note_success();
      if (r->integer <= limit) return {true, 0};
      return {false, retry_after};
    } catch (const std::exception& e) {
      // Fail open: the limit protects capacity against abusive clients, while
      // refusing every request while Redis is down would turn a Redis outage into a
      // full API outage. The failure is logged and /readyz reports it.
      note_failure("rate_limit", e);
      return {true, 0};
    }
  }

  bool healthy() override {
    try {
      Reply r = run({"PING"}, kHealthTimeout, kHealthTimeout);
      const bool ok = r->type == REDIS_REPLY_STATUS && reply_str(*r) == "PONG";
      if (ok) note_success();
      return ok;
    } catch (const std::exception&) {
      // Not logged: readyz polls this, and the failure is its answer.
      return false;
    }
  }

 private:
  // ---- command connections ----

  struct Lease {
    Connection conn;
    bool reused;
  };

  Lease acquire(bool allow_reuse, std::chrono::milliseconds connect_timeout) {
    {
      std::lock_guard lock(pool_mu_);
      if (allow_reuse && !idle_.empty()) {
        Lease l{std::move(idle_.back()), true};
        idle_.pop_back();
        return l;
      }
      if (Clock::now() < retry_at_) throw Error(last_error_ + " (retrying shortly)");
    }
    try {
      return {Connection::open(url_, {connect_timeout, kCommandTimeout, client_name_}), false};
    } catch (const Error& e) {
      back_off(e.what());
      throw;
    }
  }

  void release(Connection conn) {
    if (conn.broken()) return;
    std::lock_guard lock(pool_mu_);
    if (idle_.size() < kMaxIdle) idle_.push_back(std::move(conn));
  }

  void back_off(const std::string& error) {
    std::lock_guard lock(pool_mu_);
    retry_at_ = Clock::now() + kCommandBackoff;
    last_error_ = error;
  }

  // One command on a pooled connection. A pooled connection the server closed
  // meanwhile (Redis restarted, CLIENT KILL, its idle timeout) fails on first use;
  // that is retried once on a fresh connection, so the first call after a restart
  // already works. Throws Error.
  Reply run(std::initializer_list<std::string_view> args, std::chrono::milliseconds connect_timeout,
            std::chrono::milliseconds command_timeout) {
    for (bool allow_reuse = true;; allow_reuse = false) {
      Lease lease = acquire(allow_reuse, connect_timeout);
      if (command_timeout != kCommandTimeout) lease.conn.set_timeout(command_timeout);
      try {
        Reply r = lease.conn.command(args);
        if (command_timeout != kCommandTimeout) lease.conn.set_timeout(kCommandTimeout);
        release(std::move(lease.conn));
        return r;
      } catch (const Error& e) {
        if (!lease.conn.broken()) {  // an error reply: the connection is fine
          if (command_timeout != kCommandTimeout) lease.conn.set_timeout(kCommandTimeout);
          release(std::move(lease.conn));
          throw;
        }
        if (lease.reused && lease.conn.closed_by_peer()) {
          // The other idle connections were most likely closed by the same event.
          std::lock_guard lock(pool_mu_);
          idle_.clear();
          continue;
        }
        back_off(e.what());
        throw;
      }
    }
  }

  // Logs the first failure of a burst and the recovery, not every call: during an
  // outage every API request would otherwise log.
  void note_failure(const char* op, const std::exception& e) {
    if (!failing_.exchange(true))
      core::log::warn("redis_unavailable", {{"op", op}, {"server", url_.server()}, {"error", e.what()}});
  }
  void note_success() {
    if (failing_.exchange(false)) core::log::info("redis_recovered", {{"server", url_.server()}});
  }

  // ---- wake-ups ----

  void deliver_locally() { wakeup_.notify(); }

  // Started by the first wait_for_job, so API-only processes (which only notify)
  // hold no subscriber connection or thread.
  void ensure_subscriber() {
    std::lock_guard lock(sub_mu_);
    if (subscriber_started_ || stopping_) return;
    try {
      subscriber_ = std::thread([this] { subscriber_loop(); });
      subscriber_started_ = true;
    } catch (const std::exception& e) {
      // Waits still time out normally; only the prompt wake-up is missing.
      core::log::error("redis_subscriber_start_failed", {{"error", e.what()}});
    }
  }

  // Sleeps for `d` unless the coordinator is being destroyed. Returns false to stop.
  bool pause(std::chrono::milliseconds d) {
    pollfd p{stop_read_, POLLIN, 0};
    return ::poll(&p, 1, static_cast<int>(d.count())) == 0;
  }

  void subscriber_loop() {
    bool subscribed_before = false;
    bool failing = false;
    bool connected = false;
    auto backoff = std::chrono::milliseconds(kSubscribeBackoffMin);
    while (true) {
      {
        std::lock_guard lock(sub_mu_);
        if (stopping_) return;
      }
      try {
        Connection conn = Connection::open(url_, {kConnectTimeout, kCommandTimeout, client_name_});
        conn.command({"SUBSCRIBE", channel_});
        if (failing) core::log::info("redis_subscriber_recovered", {{"server", url_.server()}});
        failing = false;
        backoff = kSubscribeBackoffMin;
        // Notifies published while we were disconnected are lost; wake the waiters
        // once so they look at the queue now rather than at the next poll.
        if (subscribed_before) deliver_locally();
        subscribed_before = true;
        connected = true;
        if (!read_messages(conn)) return;
      } catch (const std::exception& e) {
        if (!failing)
          core::log::warn("redis_subscriber_disconnected", {{"server", url_.server()}, {"error", e.what()}});
        failing = true;
        // A subscription that was working is re-established at once (the server
        // just dropped us, e.g. CLIENT KILL or its restart is already done); only
        // failed connects back off, so a down Redis is not hammered.
        if (std::exchange(connected, false)) continue;
        if (!pause(backoff)) return;
        backoff = std::min<std::chrono::milliseconds>(backoff * 2, kSubscribeBackoffMax);
      }
    }
  }

  // Delivers messages until the connection fails (throws Error) or the coordinator
  // is destroyed (returns false).
  bool read_messages(Connection& conn) {
    bool awaiting_pong = false;
    while (true) {
      while (Reply r = conn.next_reply()) handle_message(*r, awaiting_pong);
      pollfd fds[2] = {{conn.fd(), POLLIN, 0}, {stop_read_, POLLIN, 0}};
      const int n = ::poll(fds, 2, static_cast<int>(kSubscriberPingEvery.count()));
      if (n < 0) {
        if (errno == EINTR) continue;
        throw Error("redis subscriber: poll failed");
      }
      if (fds[1].revents) return false;
      if (n == 0) {
        if (awaiting_pong) throw Error("redis " + url_.server() + ": subscriber PING unanswered");
        conn.send({"PING"});
        awaiting_pong = true;
        continue;
      }
      conn.read_some();
    }
  }

  void handle_message(const redisReply& r, bool& awaiting_pong) {
    // Subscribed replies are arrays: ["message", channel, payload],
    // ["subscribe", channel, count] or ["pong", ""].
    if (r.type != REDIS_REPLY_ARRAY || r.elements < 1 || !r.element[0]) return;
    const auto kind = reply_str(*r.element[0]);
    if (kind == "pong") {
      awaiting_pong = false;
    } else if (kind == "message" && r.elements == 3 && r.element[2]) {
      if (reply_str(*r.element[2]) != instance_id_) deliver_locally();
    }
  }

  const RedisUrl url_;
  const std::string prefix_;
  // Pub/Sub channels are not per database (SELECT does not scope them), so the key
  // prefix is what keeps deployments sharing a Redis apart.
  const std::string channel_;
  const std::string instance_id_;
  const std::string client_name_;

  std::mutex pool_mu_;
  std::vector<Connection> idle_;
  Clock::time_point retry_at_{};
  std::string last_error_;
  std::atomic<bool> failing_{false};

  Wakeup wakeup_;

  std::mutex sub_mu_;
  bool subscriber_started_ = false;
  bool stopping_ = false;
  std::thread subscriber_;
  int stop_read_ = -1;
  int stop_write_ = -1;
};

}  // namespace

std::string client_name_for_prefix(const std::string& key_prefix) {
  // Redis refuses spaces and newlines in a client name; keep it readable.
  std::string name = "rend";
  if (!key_prefix.empty()) name += "-";
  for (char c : key_prefix) name += (c > ' ' && c < 127) ? c : '_';
  return name;
}

std::unique_ptr<Coordinator> open_redis_coordinator(const std::string& url, const std::string& key_prefix) {
  return std::make_unique<RedisCoordinator>(parse_redis_url(url), key_prefix);
}

}  // namespace rend::store::redis
