#include "telemetry/ingest_buffer.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <future>
#include <set>

#include "core/clock.h"
#include "store/metadata.h"
#include "telemetry/spool.h"
#include "telemetry/wire.h"

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
  void insert_packed(const std::vector<store::PackedRows>& batches) override {
    {
      std::lock_guard lock(mu_);
      packed_calls_ += 1;
      for (const auto& b : batches) batch_ids_.insert(std::string(b.batch_id));
    }
    AnalyticsStore::insert_packed(batches);  // unpacks into insert()
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
  int started() {
    std::lock_guard lock(mu_);
    return started_;
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
  int packed_calls() {
    std::lock_guard lock(mu_);
    return packed_calls_;
  }
  std::set<std::string> batch_ids() {
    std::lock_guard lock(mu_);
    return batch_ids_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool fail_ = false, hold_ = false;
  int started_ = 0;
  std::vector<size_t> inserts_;
  std::set<std::string> ids_;
  int packed_calls_ = 0;
  std::set<std::string> batch_ids_;
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

// ---- journal mode: a batch is answered once it is on the API's disk; the store gets
// the journaled events later, in large inserts ----

// Valid events (they are decoded again when the journal is replayed) and their wire body.
struct Batch {
  std::vector<store::PlaybackEvent> events;
  std::string body;
};
Batch valid_batch(const std::string& prefix, size_t n) {
  Batch b;
  for (size_t i = 0; i < n; ++i) {
    store::PlaybackEvent e;
    e.event_id = prefix + std::to_string(i);
    e.batch_id = "bat_" + prefix;  // as decode_batch sets it
    e.ts_ms = 1800000000000;
    e.edge_id = "edge-a";
    e.region = "eu";
    e.kind = "segment";
    e.status = 200;
    e.cache = "HIT";
    b.events.push_back(std::move(e));
  }
  b.body = encode_batch("bat_" + prefix, b.events);
  return b;
}

bool submit(IngestBuffer& buf, Batch b) {
  auto t = admit(buf);
  return buf.submit(t, std::move(b.events), b.body);
}

class JournalDir : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("rend-ingest-journal-" + std::to_string(::getpid()) + "-" +
                                                     ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  IngestBuffer::Options opts() const {
    auto o = kSlow;
    o.min_interval = milliseconds(0);
    o.max_delay = milliseconds(0);
    o.journal_dir = dir_.string();
    o.insert_events = 100;
    o.insert_delay = seconds(1);
    o.retry_delay = seconds(2);
    return o;
  }
  size_t journal_files() const {
    size_t n = 0;
    if (std::filesystem::exists(dir_))
      for (auto& f : std::filesystem::directory_iterator(dir_)) n += f.path().extension() == ".spool";
    return n;
  }
  std::filesystem::path dir_;
};

TEST_F(JournalDir, AnswersOnceJournaledAndInsertsInOneLargeBlock) {
  FakeClock clock;
  FakeStore s;
  IngestBuffer buf(s, opts(), clock);
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(submit(buf, valid_batch("j" + std::to_string(i) + "_", 20)));
  // Answered, yet nothing inserted: below insert_events and before insert_delay.
  EXPECT_EQ(s.inserts(), std::vector<size_t>{});
  EXPECT_GE(journal_files(), 1u);
  ASSERT_TRUE(clock.await_timed_waiters(1));
  clock.advance(seconds(1));
  EXPECT_TRUE(buf.sync(seconds(10)));
  EXPECT_EQ(s.inserts(), (std::vector<size_t>{60}));
  EXPECT_EQ(s.distinct_ids(), 60u);
  EXPECT_EQ(journal_files(), 0u);  // stored: the journal is drained
}

TEST_F(JournalDir, InsertsOnceIngestIsQuietForQuietDelay) {
  FakeClock clock;
  FakeStore s;
  auto o = opts();
  o.quiet_delay = milliseconds(20);
  IngestBuffer buf(s, o, clock);
  EXPECT_TRUE(submit(buf, valid_batch("a", 10)));
  std::optional<Ticket> busy = admit(buf);  // a batch on its way: not quiet
  ASSERT_TRUE(clock.await_timed_waiters(1));
  clock.advance(milliseconds(20));
  ASSERT_TRUE(clock.await_timed_waiters(1));
  EXPECT_EQ(s.inserts(), std::vector<size_t>{});
  auto b = valid_batch("b", 10);
  EXPECT_TRUE(buf.submit(*busy, std::move(b.events), b.body));
  busy.reset();  // answered: from now on nothing is admitted
  ASSERT_TRUE(clock.await_timed_waiters(1));
  clock.advance(milliseconds(19));  // quiet for 19 ms
  ASSERT_TRUE(clock.await_timed_waiters(1));
  EXPECT_EQ(s.inserts(), std::vector<size_t>{});
  clock.advance(milliseconds(1));  // 20 ms without a request: long before insert_delay
  for (int i = 0; i < 1000 && s.inserts().empty(); ++i) std::this_thread::sleep_for(milliseconds(1));
  EXPECT_EQ(s.inserts(), (std::vector<size_t>{20}));
}

TEST_F(JournalDir, InsertsAtOnceOnceInsertEventsAreJournaled) {
  FakeClock clock;
  FakeStore s;
  IngestBuffer buf(s, opts(), clock);
  EXPECT_TRUE(submit(buf, valid_batch("a", 60)));
  EXPECT_TRUE(submit(buf, valid_batch("b", 60)));  // 120 >= insert_events: no time passes
  EXPECT_TRUE(buf.sync(seconds(10)));
  EXPECT_EQ(s.inserts(), (std::vector<size_t>{120}));
}

TEST_F(JournalDir, ALargeInsertIsSplitIntoParallelInserts) {
  FakeClock clock;
  FakeStore s;
  auto o = opts();
  o.insert_events = 50;
  o.parallel_inserts = 2;
  IngestBuffer buf(s, o, clock);
  s.hold(true);  // each insert stays in progress until released: both must start
  EXPECT_TRUE(submit(buf, valid_batch("big", 120)));
  bool both = false;
  for (int i = 0; i < 5000 && !both; ++i) {
    both = s.started() >= 2;
    if (!both) std::this_thread::sleep_for(milliseconds(1));
  }
  s.hold(false);
  EXPECT_TRUE(both) << "the two parts were not inserted concurrently";
  EXPECT_TRUE(buf.sync(seconds(10)));
  auto got = s.inserts();
  std::sort(got.begin(), got.end());
  EXPECT_EQ(got, (std::vector<size_t>{60, 60}));
  EXPECT_EQ(s.distinct_ids(), 120u);
  EXPECT_EQ(journal_files(), 0u);
}

TEST_F(JournalDir, AFailedPartFailsTheWholeInsert) {
  FakeClock clock;
  FakeStore s;
  auto o = opts();
  o.insert_events = 50;
  o.parallel_inserts = 2;
  IngestBuffer buf(s, o, clock);
  s.set_fail(true);
  EXPECT_TRUE(submit(buf, valid_batch("big", 120)));
  EXPECT_FALSE(buf.sync(seconds(10)));
  s.set_fail(false);
  ASSERT_TRUE(clock.await_timed_waiters(1));
  clock.advance(seconds(2));  // retry_delay
  EXPECT_TRUE(buf.sync(seconds(10)));
  EXPECT_EQ(s.distinct_ids(), 120u);  // all of it, after the retry
  EXPECT_EQ(journal_files(), 0u);
}

TEST_F(JournalDir, SyncInsertsWhatWasAnsweredBeforeIt) {
  FakeClock clock;
  FakeStore s;
  IngestBuffer buf(s, opts(), clock);
  EXPECT_TRUE(submit(buf, valid_batch("x", 5)));
  EXPECT_TRUE(buf.sync(seconds(10)));  // no time passes: a reader does not wait out insert_delay
  EXPECT_EQ(s.inserts(), (std::vector<size_t>{5}));
}

TEST_F(JournalDir, AnsweredEventsSurviveTheStoreBeingAwayAndARestart) {
  FakeClock clock;
  FakeStore down;
  down.set_fail(true);
  {
    IngestBuffer buf(down, opts(), clock);
    EXPECT_TRUE(submit(buf, valid_batch("kept", 7)));
    // The store is away: the buffer keeps the events in its journal (its last attempt,
    // at shutdown, fails too).
  }
  EXPECT_EQ(down.inserts(), std::vector<size_t>{});
  EXPECT_GE(journal_files(), 1u);
  FakeStore up;
  IngestBuffer again(up, opts(), clock);
  EXPECT_TRUE(again.sync(seconds(10)));  // replayed before anything new is taken
  EXPECT_EQ(up.inserts(), (std::vector<size_t>{7}));
  EXPECT_EQ(up.distinct_ids(), 7u);
  EXPECT_EQ(journal_files(), 0u);
  EXPECT_TRUE(submit(again, valid_batch("new", 3)));
  EXPECT_TRUE(again.sync(seconds(10)));
  EXPECT_EQ(up.inserts(), (std::vector<size_t>{7, 3}));
}

TEST_F(JournalDir, ProcessesSharingADataDirectoryEachTakeASlotAndACrashedSlotIsReplayed) {
  FakeClock clock;
  FakeStore down, up;
  down.set_fail(true);
  IngestBuffer first(up, opts(), clock);  // holds the configured directory
  {
    IngestBuffer second(down, opts(), clock);  // "<dir>.1", its store away
    EXPECT_TRUE(submit(second, valid_batch("second", 4)));
  }
  EXPECT_TRUE(std::filesystem::exists(dir_.string() + ".1/lock"));
  EXPECT_TRUE(submit(first, valid_batch("first", 2)));
  EXPECT_TRUE(first.sync(seconds(10)));
  EXPECT_EQ(up.distinct_ids(), 2u);
  // A process started while the first still runs takes the free slot and replays it.
  IngestBuffer restarted(up, opts(), clock);
  EXPECT_TRUE(restarted.sync(seconds(10)));
  EXPECT_EQ(up.distinct_ids(), 6u);
  std::filesystem::remove_all(dir_.string() + ".1");
}

TEST_F(JournalDir, AFailedInsertRefusesNewBatchesUntilTheStoreIsBack) {
  FakeClock clock;
  FakeStore s;
  IngestBuffer buf(s, opts(), clock);
  s.set_fail(true);
  EXPECT_TRUE(submit(buf, valid_batch("before", 4)));  // journaled: answered
  EXPECT_FALSE(buf.sync(seconds(10)));                 // the insert it starts fails
  s.wait_started(1);
  // Refused while the store is failing: edges keep such batches in their own spool.
  ASSERT_TRUE(clock.await_timed_waiters(1));  // the inserter waits out retry_delay
  EXPECT_FALSE(submit(buf, valid_batch("during", 4)));
  s.set_fail(false);
  clock.advance(seconds(2));
  EXPECT_TRUE(buf.sync(seconds(10)));
  EXPECT_EQ(s.inserts(), (std::vector<size_t>{4}));
  EXPECT_TRUE(submit(buf, valid_batch("after", 4)));
  EXPECT_TRUE(buf.sync(seconds(10)));
  EXPECT_EQ(s.inserts(), (std::vector<size_t>{4, 4}));
  EXPECT_EQ(s.distinct_ids(), 8u);
}

TEST_F(JournalDir, RefusesBeyondMaxUnstoredEvents) {
  FakeClock clock;
  FakeStore s;
  auto o = opts();
  o.max_unstored_events = 10;
  o.insert_events = 1000;
  IngestBuffer buf(s, o, clock);
  EXPECT_TRUE(submit(buf, valid_batch("a", 10)));
  EXPECT_FALSE(submit(buf, valid_batch("b", 1)));
  EXPECT_TRUE(buf.sync(seconds(10)));
  EXPECT_TRUE(submit(buf, valid_batch("c", 1)));
}

bool submit_binary(IngestBuffer& buf, const Batch& b) {
  const std::string body = encode_batch_binary(b.events.front().batch_id, b.events);
  auto checked = check_binary_batch(body, 100000);
  EXPECT_TRUE(checked.ok()) << checked.error;
  auto t = admit(buf);
  return buf.submit(t, checked.rows, body);
}

TEST_F(JournalDir, BinaryBatchesAreJournaledAsTheyArrivedAndInsertedPacked) {
  FakeClock clock;
  FakeStore s;
  IngestBuffer buf(s, opts(), clock);
  EXPECT_TRUE(submit_binary(buf, valid_batch("p", 30)));
  EXPECT_TRUE(submit(buf, valid_batch("j", 20)));  // JSON from an older edge, same path
  EXPECT_TRUE(buf.sync(seconds(10)));
  EXPECT_EQ(s.packed_calls(), 1);  // one insert, of packed rows
  EXPECT_EQ(s.inserts(), (std::vector<size_t>{50}));
  EXPECT_EQ(s.distinct_ids(), 50u);
  EXPECT_EQ(s.batch_ids(), (std::set<std::string>{"bat_p", "bat_j"}));
  EXPECT_EQ(journal_files(), 0u);
}

TEST_F(JournalDir, APackedInsertSplitsBetweenRowsOfOneBatch) {
  FakeClock clock;
  FakeStore s;
  auto o = opts();
  o.insert_events = 50;
  o.parallel_inserts = 2;
  IngestBuffer buf(s, o, clock);
  s.hold(true);
  EXPECT_TRUE(submit_binary(buf, valid_batch("big", 121)));
  for (int i = 0; i < 5000 && s.started() < 2; ++i) std::this_thread::sleep_for(milliseconds(1));
  s.hold(false);
  EXPECT_TRUE(buf.sync(seconds(10)));
  auto got = s.inserts();
  std::sort(got.begin(), got.end());
  EXPECT_EQ(got, (std::vector<size_t>{60, 61}));
  EXPECT_EQ(s.distinct_ids(), 121u);
}

TEST_F(JournalDir, AJournalOfJsonBodiesFromBeforeTheUpgradeIsReplayed) {
  {
    // What an API before the binary format journaled: JSON bodies, each framed u32 LE.
    Spool old(SpoolOptions{.dir = dir_.string()});
    std::string record;
    for (const char* p : {"old1_", "old2_"}) {
      const std::string body = valid_batch(p, 3).body;
      const uint32_t n = uint32_t(body.size());
      record.append(reinterpret_cast<const char*>(&n), 4);
      record += body;
    }
    ASSERT_EQ(old.append(record), Spool::AppendResult::ok);
  }
  FakeClock clock;
  FakeStore s;
  IngestBuffer buf(s, opts(), clock);
  EXPECT_TRUE(buf.sync(seconds(10)));
  EXPECT_EQ(s.distinct_ids(), 6u);
  EXPECT_EQ(journal_files(), 0u);
}

TEST(IngestBuffer, BinaryBatchesWithoutAJournalAreInsertedAsEvents) {
  FakeClock clock;
  FakeStore s;
  IngestBuffer buf(s, kSlow, clock);
  auto b = valid_batch("emb", 4);
  EXPECT_TRUE(submit_binary(buf, b));
  EXPECT_EQ(s.inserts(), (std::vector<size_t>{4}));
  EXPECT_EQ(s.packed_calls(), 0);
}

TEST(IngestBuffer, SyncWithoutAJournalHasNothingToWaitFor) {
  FakeClock clock;
  FakeStore s;
  IngestBuffer buf(s, kSlow, clock);
  EXPECT_TRUE(buf.sync(milliseconds(0)));
}

}  // namespace
}  // namespace rend::telemetry
