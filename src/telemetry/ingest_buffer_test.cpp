#include "telemetry/ingest_buffer.h"

#include <gtest/gtest.h>

#include <future>
#include <set>

#include "core/clock.h"
#include "store/metadata.h"

namespace rend::telemetry {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using Ticket = IngestBuffer::Ticket;
using core::FakeClock;

// Records each insert(); can be told to fail or to hold an insert until released.
class FakeStore : public store::AnalyticsStore {
 public:
  void ensure_schema() override {}
  bool healthy() override { return true; }
  void insert(const std::vector<store::PlaybackEvent>& events) override {
    std::unique_lock lock(mu_);
    started_ += 1;
    cv_.notify_all();
    cv_.wait(lock, [&] { return !hold_; });
    if (fail_) throw store::StoreError("clickhouse: connection refused");
    inserts_.push_back(events.size());
    for (const auto& e : events) ids_.insert(e.event_id);
  }
  std::optional<store::UsageSummary> asset_summary(const std::string&, int64_t, int64_t) override { return {}; }
  std::vector<store::UsageSummary> edge_summaries(int64_t, int64_t) override { return {}; }
  std::vector<store::AssetDelivery> delivered_seconds(int64_t, int64_t) override { return {}; }
  std::optional<int64_t> earliest_unbilled_ingest_ms(int64_t) override { return {}; }

  void set_fail(bool f) {
    std::lock_guard lock(mu_);
    fail_ = f;
  }
  void hold(bool h) {
    std::lock_guard lock(mu_);
    hold_ = h;
    cv_.notify_all();
  }
  void wait_started(int n) {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return started_ >= n; });
  }
  std::vector<size_t> inserts() {
    std::lock_guard lock(mu_);
    return inserts_;
  }
  size_t distinct_ids() {
    std::lock_guard lock(mu_);
    return ids_.size();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool fail_ = false, hold_ = false;
  int started_ = 0;
  std::vector<size_t> inserts_;
  std::set<std::string> ids_;
};

std::vector<store::PlaybackEvent> batch(const std::string& prefix, size_t n) {
  std::vector<store::PlaybackEvent> v(n);
  for (size_t i = 0; i < n; ++i) v[i].event_id = prefix + std::to_string(i);
  return v;
}

Ticket admit(IngestBuffer& buf) {
  auto t = buf.admit();
  EXPECT_TRUE(t);
  return std::move(*t);
}

// submit() on its own thread; the ticket goes with it and is released when submit()
// returns (not when the future is destroyed, which may be after the buffer).
std::future<bool> submit_async(IngestBuffer& buf, Ticket t, std::vector<store::PlaybackEvent> events) {
  return std::async(std::launch::async, [&buf, t = std::move(t), events = std::move(events)]() mutable {
    Ticket mine = std::move(t);
    return buf.submit(mine, std::move(events));
  });
}

bool submit(IngestBuffer& buf, std::vector<store::PlaybackEvent> events) {
  auto t = admit(buf);
  return buf.submit(t, std::move(events));
}

constexpr IngestBuffer::Options kSlow{.max_admitted = 100,
                                      .flush_events = 100000,
                                      .min_interval = seconds(30),
                                      .max_delay = seconds(30)};

// Time is a FakeClock: it moves only when a test advances it, so "not yet flushed" is
// a state the test can look at, not a race against a sleep. Each test waits until the
// flusher and the submitters are parked on the clock (they all wait through it) before
// it looks or moves time.

// The flusher holds pending events back (it waits with a deadline: the next
// min_interval or max_delay) and `submitters` requests wait for their answer.
bool held_back(const FakeClock& clock, size_t submitters) {
  return clock.await_timed_waiters(1) && clock.await_waiters(1 + submitters);
}
bool finished(std::future<bool>& f) { return f.wait_for(seconds(0)) == std::future_status::ready; }
// A bounded real-time wait for a submitter the test expects to be answered now. When
// it is not, time runs out for whatever the buffer holds back, so the failing test ends
// (its futures join their submitters) instead of hanging.
bool answered(FakeClock& clock, std::future<bool>& f) {
  if (f.wait_for(seconds(10)) == std::future_status::ready) return true;
  clock.advance(std::chrono::hours(24));
  return false;
}

TEST(IngestBuffer, ALoneBatchIsWrittenAtOnce) {
  FakeClock clock;
  FakeStore s;
  IngestBuffer buf(s, kSlow, clock);
  // An idle buffer waits for nothing: there is no previous flush to space it from. No
  // time passes in this test.
  auto f = submit_async(buf, admit(buf), batch("a", 3));
  ASSERT_TRUE(answered(clock, f));
  EXPECT_TRUE(f.get());
  EXPECT_EQ(s.inserts(), std::vector<size_t>{3});
}

TEST(IngestBuffer, BatchesArrivingDuringAnInsertShareTheNextOne) {
  FakeClock clock;
  FakeStore s;
  auto opts = kSlow;
  opts.min_interval = milliseconds(200);
  IngestBuffer buf(s, opts, clock);
  s.hold(true);  // the first insert stays in progress while the others arrive
  auto first = submit_async(buf, admit(buf), batch("first", 1));
  s.wait_started(1);
  // Admitted up front: until the last of them has submitted, the flusher knows more
  // events are on their way and waits for them.
  std::vector<Ticket> tickets;
  for (int i = 0; i < 8; ++i) tickets.push_back(admit(buf));
  std::vector<std::future<bool>> rest;
  for (int i = 0; i < 8; ++i)
    rest.push_back(submit_async(buf, std::move(tickets[i]), batch("r" + std::to_string(i) + "_", 10)));
  s.hold(false);
  ASSERT_TRUE(answered(clock, first));
  EXPECT_TRUE(first.get());
  // The 8 submitters and the flusher (spacing the next insert by min_interval) wait.
  ASSERT_TRUE(held_back(clock, 8));
  EXPECT_EQ(s.inserts(), (std::vector<size_t>{1}));
  clock.advance(milliseconds(200));
  for (auto& x : rest) {
    ASSERT_TRUE(answered(clock, x));
    EXPECT_TRUE(x.get());
  }
  EXPECT_EQ(s.inserts(), (std::vector<size_t>{1, 80}));
  EXPECT_EQ(s.distinct_ids(), 81u);
}

TEST(IngestBuffer, WaitsForAdmittedBatchesStillBeingDecoded) {
  FakeClock clock;
  FakeStore s;
  auto opts = kSlow;
  opts.min_interval = milliseconds(0);
  IngestBuffer buf(s, opts, clock);
  EXPECT_TRUE(submit(buf, batch("warm", 1)));
  auto slow = admit(buf);
  auto early = submit_async(buf, admit(buf), batch("early", 10));
  ASSERT_TRUE(held_back(clock, 1));  // `early` and the flusher, waiting for `slow`
  clock.advance(seconds(29));        // below max_delay
  ASSERT_TRUE(held_back(clock, 1));
  EXPECT_FALSE(finished(early));
  EXPECT_EQ(s.inserts(), (std::vector<size_t>{1}));
  EXPECT_TRUE(buf.submit(slow, batch("slow", 10)));
  ASSERT_TRUE(answered(clock, early));
  EXPECT_TRUE(early.get());
  EXPECT_EQ(s.inserts(), (std::vector<size_t>{1, 20}));
}

TEST(IngestBuffer, ARefusedBatchDoesNotHoldTheFlush) {
  FakeClock clock;
  FakeStore s;
  auto opts = kSlow;
  opts.min_interval = milliseconds(0);
  IngestBuffer buf(s, opts, clock);
  EXPECT_TRUE(submit(buf, batch("warm", 1)));
  std::optional<Ticket> refused = admit(buf);
  auto good = submit_async(buf, admit(buf), batch("good", 10));
  ASSERT_TRUE(held_back(clock, 1));  // `good` and the flusher, waiting for `refused`
  EXPECT_FALSE(finished(good));
  refused.reset();  // e.g. its body did not decode: released without a submit
  ASSERT_TRUE(answered(clock, good));
  EXPECT_TRUE(good.get());
  EXPECT_EQ(s.inserts(), (std::vector<size_t>{1, 10}));
}

TEST(IngestBuffer, MaxDelayBoundsTheWaitForSlowDecoders) {
  FakeClock clock;
  FakeStore s;
  auto opts = kSlow;
  opts.max_delay = milliseconds(200);
  IngestBuffer buf(s, opts, clock);
  EXPECT_TRUE(submit(buf, batch("warm", 1)));
  auto slow = admit(buf);  // never submits
  auto x = submit_async(buf, admit(buf), batch("x", 5));
  ASSERT_TRUE(held_back(clock, 1));
  clock.advance(milliseconds(199));
  ASSERT_TRUE(held_back(clock, 1));
  EXPECT_FALSE(finished(x));
  clock.advance(milliseconds(1));
  ASSERT_TRUE(answered(clock, x));
  EXPECT_TRUE(x.get());
  EXPECT_EQ(s.inserts(), (std::vector<size_t>{1, 5}));
}

TEST(IngestBuffer, FlushesWhenEnoughEventsArePending) {
  FakeClock clock;
  FakeStore s;
  auto opts = kSlow;
  opts.flush_events = 25;
  IngestBuffer buf(s, opts, clock);
  EXPECT_TRUE(submit(buf, batch("warm", 1)));
  std::vector<Ticket> tickets;
  for (int i = 0; i < 4; ++i) tickets.push_back(admit(buf));  // the 4th never submits
  std::vector<std::future<bool>> f;
  for (int i = 0; i < 3; ++i)
    f.push_back(submit_async(buf, std::move(tickets[i]), batch("e" + std::to_string(i) + "_", 10)));
  for (auto& x : f) {
    ASSERT_TRUE(answered(clock, x));
    EXPECT_TRUE(x.get());
  }
  // 10 + 10 is below the threshold; the third batch crosses it: one insert of 30,
  // although a fourth admitted request is still on its way (and no time passed).
  EXPECT_EQ(s.inserts(), (std::vector<size_t>{1, 30}));
}

TEST(IngestBuffer, FlushesAfterTheIntervalBelowTheThresholds) {
  FakeClock clock;
  FakeStore s;
  auto opts = kSlow;
  opts.min_interval = milliseconds(100);
  IngestBuffer buf(s, opts, clock);
  EXPECT_TRUE(submit(buf, batch("warm", 1)));
  auto x = submit_async(buf, admit(buf), batch("x", 5));
  ASSERT_TRUE(held_back(clock, 1));
  clock.advance(milliseconds(99));
  ASSERT_TRUE(held_back(clock, 1));
  EXPECT_FALSE(finished(x));
  EXPECT_EQ(s.inserts(), (std::vector<size_t>{1}));
  clock.advance(milliseconds(1));
  ASSERT_TRUE(answered(clock, x));
  EXPECT_TRUE(x.get());
  EXPECT_EQ(s.inserts(), (std::vector<size_t>{1, 5}));
}

TEST(IngestBuffer, FlushesAtOnceWhenNoMoreRequestsCanBeAdmitted) {
  FakeClock clock;
  FakeStore s;
  auto opts = kSlow;
  opts.max_admitted = 3;
  IngestBuffer buf(s, opts, clock);
  EXPECT_TRUE(submit(buf, batch("warm", 1)));
  std::vector<std::future<bool>> f;
  for (int i = 0; i < 3; ++i) f.push_back(submit_async(buf, admit(buf), batch("w" + std::to_string(i) + "_", 10)));
  for (auto& x : f) {
    ASSERT_TRUE(answered(clock, x));  // no time passes: not spaced by min_interval
    EXPECT_TRUE(x.get());
  }
  EXPECT_EQ(s.inserts(), (std::vector<size_t>{1, 30}));
}

TEST(IngestBuffer, AdmitsAtMostMaxAdmitted) {
  FakeClock clock;
  FakeStore s;
  auto opts = kSlow;
  opts.max_admitted = 2;
  IngestBuffer buf(s, opts, clock);
  std::optional<Ticket> a = buf.admit(), b = buf.admit();
  ASSERT_TRUE(a && b);
  EXPECT_FALSE(buf.admit());
  a.reset();
  EXPECT_TRUE(buf.admit());
}

TEST(IngestBuffer, AFailedInsertFailsEveryBatchInIt) {
  FakeClock clock;
  FakeStore s;
  auto opts = kSlow;
  opts.max_admitted = 3;
  IngestBuffer buf(s, opts, clock);
  EXPECT_TRUE(submit(buf, batch("warm", 1)));
  s.set_fail(true);
  std::vector<std::future<bool>> f;
  for (int i = 0; i < 3; ++i) f.push_back(submit_async(buf, admit(buf), batch("f" + std::to_string(i) + "_", 2)));
  for (auto& x : f) EXPECT_FALSE(x.get());
  // The buffer keeps working once the store is back.
  s.set_fail(false);
  f.clear();
  for (int i = 0; i < 3; ++i) f.push_back(submit_async(buf, admit(buf), batch("ok" + std::to_string(i) + "_", 2)));
  for (auto& x : f) EXPECT_TRUE(x.get());
  EXPECT_EQ(s.inserts(), (std::vector<size_t>{1, 6}));
}

TEST(IngestBuffer, DestructionWritesWhatIsPending) {
  FakeClock clock;
  FakeStore s;
  std::future<bool> late;
  {
    IngestBuffer buf(s, kSlow, clock);
    EXPECT_TRUE(submit(buf, batch("warm", 1)));
    late = submit_async(buf, admit(buf), batch("late", 7));
    // The submitter has queued its events (had it not, submit() would return false
    // rather than hang) and the flusher waits out min_interval.
    ASSERT_TRUE(held_back(clock, 1));
    EXPECT_EQ(s.inserts(), (std::vector<size_t>{1}));
  }
  EXPECT_TRUE(late.get());
  EXPECT_EQ(s.inserts(), (std::vector<size_t>{1, 7}));
}

}  // namespace
}  // namespace rend::telemetry
