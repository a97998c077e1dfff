#include "control/edge_control.h"

#include <gtest/gtest.h>

#include <atomic>
#include <future>

namespace rend::control {
namespace {

using namespace std::chrono_literals;

// A sender that holds every call until the gate opens, recording concurrency.
struct GatedSender {
  std::mutex mu;
  std::condition_variable cv;
  bool open = false;
  int running = 0, max_running = 0, started = 0;
  std::vector<std::string> urls;

  ControlDispatcher::Send fn() {
    return [this](const ControlCall& c) {
      std::unique_lock lock(mu);
      ++started;
      max_running = std::max(max_running, ++running);
      urls.push_back(c.url);
      cv.notify_all();
      cv.wait(lock, [&] { return open; });
      --running;
    };
  }
  bool wait_started(int n) {
    std::unique_lock lock(mu);
    return cv.wait_for(lock, 5s, [&] { return started >= n; });
  }
  void release() {
    std::lock_guard lock(mu);
    open = true;
    cv.notify_all();
  }
};

ControlCall call(int i) { return {"edge_purge", "http://e" + std::to_string(i) + "/internal/purge", "t", "ast_x", 1s}; }

TEST(ControlDispatcher, AFixedNumberOfThreadsAndABoundedQueueDropBeyondIt) {
  GatedSender s;
  ControlDispatcher d(2, 3, s.fn());
  EXPECT_TRUE(d.submit(call(0)));
  EXPECT_TRUE(d.submit(call(1)));
  ASSERT_TRUE(s.wait_started(2));
  for (int i = 2; i < 5; ++i) EXPECT_TRUE(d.submit(call(i))) << "queued while both threads are busy";
  EXPECT_FALSE(d.submit(call(5))) << "the queue holds 3";
  EXPECT_EQ(d.dropped(), 1u);
  s.release();
  auto deadline = std::chrono::steady_clock::now() + 5s;
  while (d.sent() < 5 && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(1ms);
  EXPECT_EQ(d.sent(), 5u);
  std::lock_guard lock(s.mu);
  EXPECT_EQ(s.max_running, 2) << "never more calls in flight than threads";
  EXPECT_EQ(std::count(s.urls.begin(), s.urls.end(), call(5).url), 0);
}

TEST(ControlDispatcher, StopWaitsForCallsInFlightDropsQueuedOnesAndRefusesNewOnes) {
  GatedSender s;
  ControlDispatcher d(1, 10, s.fn());
  ASSERT_TRUE(d.submit(call(0)));
  ASSERT_TRUE(s.wait_started(1));
  ASSERT_TRUE(d.submit(call(1)));
  ASSERT_TRUE(d.submit(call(2)));
  auto stopped = std::async(std::launch::async, [&] { d.stop(); });
  EXPECT_EQ(stopped.wait_for(100ms), std::future_status::timeout) << "stop waits for the call in flight";
  s.release();
  ASSERT_EQ(stopped.wait_for(5s), std::future_status::ready);
  EXPECT_EQ(d.sent(), 1u);
  EXPECT_EQ(d.dropped(), 2u) << "queued calls are dropped at shutdown, counted";
  EXPECT_FALSE(d.submit(call(3)));
  EXPECT_EQ(d.dropped(), 3u);
  d.stop();  // idempotent
}

TEST(ControlDispatcher, ASenderThatThrowsDoesNotKillItsThread) {
  std::atomic<int> calls{0};
  ControlDispatcher d(1, 4, [&](const ControlCall&) {
    if (calls++ == 0) throw std::runtime_error("boom");
  });
  ASSERT_TRUE(d.submit(call(0)));
  ASSERT_TRUE(d.submit(call(1)));
  auto deadline = std::chrono::steady_clock::now() + 5s;
  while (d.sent() < 2 && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(1ms);
  EXPECT_EQ(calls.load(), 2);
}

}  // namespace
}  // namespace rend::control
