// The Coordinator contract, written once and run against every backend.
// Adding a backend (e.g. Redis) is one more entry in kBackends below.
#include <gtest/gtest.h>

#include <functional>
#include <future>

#include "store/coord.h"
#include "store/factory.h"
#include "store/test_util.h"

namespace rend::store {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

struct CoordBackend {
  std::string name;
  std::function<std::unique_ptr<Coordinator>()> open;
  friend void PrintTo(const CoordBackend& b, std::ostream* os) { *os << b.name; }
};

const CoordBackend kBackends[] = {
    {"memory", [] { return make_memory_coordinator(); }},
};

class CoordContract : public ::testing::TestWithParam<CoordBackend> {
 protected:
  void SetUp() override { coord_ = GetParam().open(); }

  // How long wait_for_job(max_wait) blocked.
  Clock::duration timed_wait(std::chrono::milliseconds max_wait) {
    auto start = Clock::now();
    coord_->wait_for_job(max_wait);
    return Clock::now() - start;
  }

  std::unique_ptr<Coordinator> coord_;
};

TEST_P(CoordContract, NotifyWakesWaiterPromptly) {
  auto waited = std::async(std::launch::async, [&] { return timed_wait(10s); });
  std::this_thread::sleep_for(100ms);
  coord_->notify_job();
  ASSERT_EQ(waited.wait_for(5s), std::future_status::ready);
  EXPECT_LT(waited.get(), 5s);
}

TEST_P(CoordContract, NotifyWakesEveryWaiter) {
  auto a = std::async(std::launch::async, [&] { return timed_wait(10s); });
  auto b = std::async(std::launch::async, [&] { return timed_wait(10s); });
  std::this_thread::sleep_for(100ms);
  coord_->notify_job();
  ASSERT_EQ(a.wait_for(5s), std::future_status::ready);
  ASSERT_EQ(b.wait_for(5s), std::future_status::ready);
}

TEST_P(CoordContract, NotifyWithNobodyWaitingWakesTheNextWait) {
  coord_->notify_job();
  EXPECT_LT(timed_wait(10s), 5s);
  // Consumed: the one after that sleeps its full time again.
  EXPECT_GE(timed_wait(100ms), 90ms);
}

TEST_P(CoordContract, WaitWithoutNotifyTimesOut) {
  auto waited = timed_wait(150ms);
  EXPECT_GE(waited, 140ms);
  EXPECT_LT(waited, 5s);
}

TEST_P(CoordContract, RateLimitAllowsLimitThenDenies) {
  const int64_t now = 1'800'000'010;  // 10 s into a 60 s window
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(coord_->rate_limit("ip:1", 3, 60, now).allowed) << i;
  auto denied = coord_->rate_limit("ip:1", 3, 60, now + 1);
  EXPECT_FALSE(denied.allowed);
  EXPECT_GT(denied.retry_after_secs, 0);
  EXPECT_LE(denied.retry_after_secs, 60);
  EXPECT_TRUE(coord_->rate_limit("ip:2", 3, 60, now).allowed) << "keys are independent";

  auto next_window = now + denied.retry_after_secs + 1;
  EXPECT_TRUE(coord_->rate_limit("ip:1", 3, 60, next_window).allowed);
}

TEST_P(CoordContract, ZeroLimitAlwaysDenies) {
  auto d = coord_->rate_limit("k", 0, 10, 1'800'000'000);
  EXPECT_FALSE(d.allowed);
  EXPECT_GT(d.retry_after_secs, 0);
}

INSTANTIATE_TEST_SUITE_P(Embedded, CoordContract, ::testing::ValuesIn(kBackends), testing::ParamName());

}  // namespace
}  // namespace rend::store
