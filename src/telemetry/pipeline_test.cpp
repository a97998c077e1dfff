#include "telemetry/pipeline.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <filesystem>
#include <future>
#include <map>
#include <mutex>
#include <set>
#include <span>
#include <sstream>
#include <thread>

#include "core/clock.h"
#include "http/server.h"
#include "store/test_util.h"
#include "telemetry/wire.h"

namespace fs = std::filesystem;
using namespace rend::telemetry;
using rend::core::FakeClock;
using rend::store::PlaybackEvent;
using rend::store::testing::TempDir;
using RealClock = std::chrono::steady_clock;
using namespace std::chrono_literals;

namespace {

// The pipeline's time is a FakeClock: flush intervals, backoffs and the stop grace pass
// only when a test advances it. What its threads do meanwhile is polled in real time:

// Waits for a condition the pipeline's threads reach on their own (fake time stands
// still); the assertion is on the condition, the deadline only bounds a broken run.
template <class F>
bool eventually(F&& f, std::chrono::milliseconds deadline = 15s) {
  const auto end = RealClock::now() + deadline;
  while (RealClock::now() < end) {
    if (f()) return true;
    std::this_thread::sleep_for(1ms);  // a poll of other threads' progress, not a timer
  }
  return f();
}

// The same while time passes: every poll moves the clock by `step`, so partial batches
// leave on the flush interval and a failed API is probed again after its backoff.
template <class F>
bool eventually(FakeClock& clock, F&& f, std::chrono::milliseconds step = 5ms) {
  return eventually([&] {
    if (f()) return true;
    clock.advance(step);
    return false;
  });
}

PlaybackEvent event(int64_t seq) {
  PlaybackEvent e;
  e.ts_ms = 1'700'000'000'000 + seq;
  e.edge_id = "edge-1";
  e.asset_id = "ast_test";
  e.artifact = "720p/seg_" + std::to_string(seq) + ".ts";
  e.kind = "segment";
  e.status = 200;
  e.bytes = seq;  // the test's sequence number, carried through the encoder
  return e;
}

// Test wire format: "<batch_id>\n<event_id>:<seq>,<event_id>:<seq>,..."
std::string encode(const std::string& batch_id, std::span<const PlaybackEvent> events) {
  std::string body = batch_id + "\n";
  for (auto& e : events) {
    if (e.event_id.empty()) throw std::logic_error("event without an id");
    body += e.event_id + ":" + std::to_string(e.bytes) + ",";
  }
  return body;
}

struct Delivered {
  std::string batch_id;
  std::vector<std::pair<std::string, int64_t>> events;  // (event_id, seq)
};

Delivered decode(const std::string& body) {
  Delivered d;
  auto nl = body.find('\n');
  d.batch_id = body.substr(0, nl);
  std::stringstream in(body.substr(nl + 1));
  std::string item;
  while (std::getline(in, item, ',')) {
    auto colon = item.rfind(':');
    d.events.emplace_back(item.substr(0, colon), std::stoll(item.substr(colon + 1)));
  }
  return d;
}

// An in-process ingest API whose answer the test controls.
struct FakeApi {
  std::mutex mu;
  std::condition_variable cv;
  SendResult mode = SendResult::ok;
  bool hang = false;                     // block every call until released (or 20 s)
  std::map<std::string, int> delivered;  // event_id -> times acknowledged
  std::vector<int64_t> order;            // seqs in acknowledgement order
  std::set<std::string> batches;
  int calls = 0;
  std::atomic<int> in_flight{0};
  std::chrono::milliseconds delay{0};  // each call takes this long on `clock`
  FakeClock* clock = nullptr;

  Sender sender() {
    return [this](const std::string& body) {
      std::unique_lock lk(mu);
      ++calls;
      ++in_flight;
      cv.wait_for(lk, 20s, [&] { return !hang; });
      if (delay.count()) {
        lk.unlock();
        clock->advance(delay);
        lk.lock();
      }
      --in_flight;
      if (mode != SendResult::ok) return mode;
      auto d = decode(body);
      batches.insert(d.batch_id);
      for (auto& [id, seq] : d.events) {
        ++delivered[id];
        order.push_back(seq);
      }
      return SendResult::ok;
    };
  }
  void set(SendResult m) {
    std::lock_guard lk(mu);
    mode = m;
  }
  void set_hang(bool h) {
    {
      std::lock_guard lk(mu);
      hang = h;
    }
    cv.notify_all();
  }
  int call_count() {
    std::lock_guard lk(mu);
    return calls;
  }
  size_t unique() {
    std::lock_guard lk(mu);
    return delivered.size();
  }
  bool no_duplicates() {
    std::lock_guard lk(mu);
    return std::all_of(delivered.begin(), delivered.end(), [](auto& kv) { return kv.second == 1; });
  }
  std::set<std::string> ids() {
    std::lock_guard lk(mu);
    std::set<std::string> s;
    for (auto& [id, n] : delivered) s.insert(id);
    return s;
  }
};

// Records every event id the pipeline assigned (the encoder sees each batch once).
struct IdLog {
  std::mutex mu;
  std::set<std::string> ids;
  Encoder encoder() {
    return [this](const std::string& batch_id, std::span<const PlaybackEvent> events) {
      std::lock_guard lk(mu);
      for (auto& e : events) ids.insert(e.event_id);
      return encode(batch_id, events);
    };
  }
  std::set<std::string> get() {
    std::lock_guard lk(mu);
    return ids;
  }
};

Options options(const TempDir& dir) {
  Options o;
  o.queue_capacity = 10000;
  o.batch_size = 100;
  o.flush_interval = 20ms;
  o.request_timeout = 1000ms;
  o.spool_dir = (dir.path() / "spool").string();
  o.spool_max_bytes = 64 << 20;
  o.backoff_initial = 20ms;
  o.backoff_max = 100ms;
  o.stop_grace = 2000ms;
  return o;
}

size_t spool_file_count(const Options& o) {
  size_t n = 0;
  for ([[maybe_unused]] auto& e : fs::directory_iterator(o.spool_dir)) ++n;
  return n;
}

void enqueue_range(Pipeline& p, int64_t from, int64_t to) {
  for (int64_t i = from; i < to; ++i) p.enqueue(event(i));
}

}  // namespace

TEST(Pipeline, DeliversEveryEventExactlyOnceInBatches) {
  TempDir dir;
  FakeClock clock;
  FakeApi api;
  IdLog ids;
  Pipeline p(options(dir), ids.encoder(), api.sender(), clock);
  p.start();
  const int n = 1050;
  enqueue_range(p, 0, n - 1);
  // An event that already has an id keeps it.
  auto preset = event(n - 1);
  preset.event_id = "evt_preset";
  EXPECT_TRUE(p.enqueue(std::move(preset)));

  ASSERT_TRUE(eventually(clock, [&] { return p.stats().sent_total == n; })) << p.stats().sent_total;
  EXPECT_EQ(api.unique(), size_t(n));
  EXPECT_TRUE(api.no_duplicates());
  EXPECT_EQ(api.ids(), ids.get());
  EXPECT_EQ(api.ids().count("evt_preset"), 1u);
  for (auto& id : api.ids()) {
    if (id == "evt_preset") continue;
    EXPECT_EQ(id.rfind("evt_", 0), 0u) << id;
    EXPECT_TRUE(std::all_of(id.begin(), id.end(), [](char c) {
      return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
    })) << id;
  }
  {
    std::lock_guard lk(api.mu);
    EXPECT_GE(api.batches.size(), 11u);  // at most batch_size events per batch
    EXPECT_TRUE(std::is_sorted(api.order.begin(), api.order.end()));
  }
  auto s = p.stats();
  EXPECT_EQ(s.enqueued_total, uint64_t(n));
  EXPECT_EQ(s.queued, 0u);
  EXPECT_EQ(s.dropped_total, 0u);
  EXPECT_EQ(s.spooled_total, 0u);
  EXPECT_EQ(s.spool_bytes, 0u);
  EXPECT_EQ(s.replayed_total, 0u);
}

TEST(Pipeline, BatchesAreCutAtBatchSize) {
  TempDir dir;
  FakeClock clock;  // never advanced: only full batches leave before stop()
  FakeApi api;
  std::mutex mu;
  std::vector<size_t> sizes;
  auto o = options(dir);
  Pipeline p(
      o,
      [&](const std::string& id, std::span<const PlaybackEvent> ev) {
        std::lock_guard lk(mu);
        sizes.push_back(ev.size());
        return encode(id, ev);
      },
      api.sender(), clock);
  p.start();
  enqueue_range(p, 0, 350);
  ASSERT_TRUE(eventually([&] { return p.stats().sent_total == 300; }));
  EXPECT_EQ(p.stats().queued, 50u);
  p.stop();
  EXPECT_EQ(p.stats().sent_total, 350u);
  std::lock_guard lk(mu);
  EXPECT_EQ(sizes, (std::vector<size_t>{100, 100, 100, 50}));
}

TEST(Pipeline, APartialBatchLeavesOnTheFlushInterval) {
  TempDir dir;
  FakeClock clock;
  FakeApi api;
  std::atomic<int> encoded{0};
  auto o = options(dir);
  o.flush_interval = 1000ms;
  Pipeline p(
      o,
      [&](const std::string& id, std::span<const PlaybackEvent> ev) {
        ++encoded;
        return encode(id, ev);
      },
      api.sender(), clock);
  p.start();
  ASSERT_TRUE(clock.await_timed_waiters(1));  // the flusher, its first tick set
  enqueue_range(p, 0, 50);
  clock.advance(999ms);
  // The flusher re-checked and went back to sleep (had it flushed, it would have
  // encoded the batch before sleeping again).
  ASSERT_TRUE(clock.await_timed_waiters(1));
  EXPECT_EQ(encoded.load(), 0);
  EXPECT_EQ(p.stats().queued, 50u);
  clock.advance(1ms);
  ASSERT_TRUE(eventually([&] { return p.stats().sent_total == 50; }));
  EXPECT_EQ(encoded.load(), 1);
}

TEST(Pipeline, SpoolsWhileFailingThenDrainsOldestFirst) {
  TempDir dir;
  FakeClock clock;
  FakeApi api;
  IdLog ids;
  api.set(SendResult::retry);
  auto o = options(dir);
  Pipeline p(o, ids.encoder(), api.sender(), clock);
  p.start();
  const int n = 500;
  enqueue_range(p, 0, n);
  ASSERT_TRUE(eventually([&] { return p.stats().spooled_total == n; })) << p.stats().spooled_total;
  auto s = p.stats();
  EXPECT_EQ(s.queued, 0u);
  EXPECT_GT(s.spool_bytes, 0u);
  EXPECT_EQ(s.dropped_total, 0u);
  EXPECT_EQ(s.sent_total, 0u);
  EXPECT_GE(s.send_failures_total, 1u);
  EXPECT_GT(spool_file_count(o), 0u);

  api.set(SendResult::ok);
  ASSERT_TRUE(eventually(clock, [&] { return p.stats().spool_bytes == 0 && p.stats().sent_total == n; }));
  s = p.stats();
  EXPECT_EQ(s.replayed_total, uint64_t(n));
  EXPECT_EQ(s.dropped_total, 0u);
  EXPECT_EQ(api.ids(), ids.get());
  EXPECT_EQ(api.unique(), size_t(n));
  EXPECT_TRUE(api.no_duplicates());
  {
    std::lock_guard lk(api.mu);
    EXPECT_TRUE(std::is_sorted(api.order.begin(), api.order.end()));
  }
  EXPECT_EQ(spool_file_count(o), 0u);

  // Healthy again: new events go straight out, not through the spool.
  enqueue_range(p, n, n + 100);
  ASSERT_TRUE(eventually([&] { return p.stats().sent_total == n + 100; }));
  EXPECT_EQ(p.stats().spooled_total, uint64_t(n));
}

TEST(Pipeline, BacksOffWhileApiIsDown) {
  TempDir dir;
  FakeClock clock;
  FakeApi api;
  api.set(SendResult::retry);
  auto o = options(dir);
  o.batch_size = 10;
  o.backoff_initial = 300ms;
  o.backoff_max = 600ms;
  Pipeline p(o, encode, api.sender(), clock);
  p.start();
  enqueue_range(p, 0, 1000);  // 100 batches
  ASSERT_TRUE(eventually([&] { return p.stats().spooled_total == 1000; }));
  // One failed send, then nothing until the backoff has passed: not one request (and
  // one timeout) per batch. Both threads wait on the clock: the flusher for its tick,
  // the shipper for its next probe.
  ASSERT_TRUE(clock.await_timed_waiters(2));
  EXPECT_EQ(api.call_count(), 1);
  auto probe_after = [&](std::chrono::milliseconds backoff, int calls_before) {
    clock.advance(backoff - 1ms);
    ASSERT_TRUE(clock.await_timed_waiters(2));
    EXPECT_EQ(api.call_count(), calls_before) << "probed before the backoff of " << backoff.count() << " ms";
    clock.advance(1ms);
    ASSERT_TRUE(eventually([&] { return api.call_count() == calls_before + 1; }));
    ASSERT_TRUE(clock.await_timed_waiters(2));  // asleep again until the next probe
  };
  probe_after(300ms, 1);  // backoff_initial
  probe_after(600ms, 2);  // doubled
  probe_after(600ms, 3);  // capped at backoff_max
  EXPECT_EQ(p.stats().send_failures_total, 4u);
  EXPECT_EQ(p.stats().sent_total, 0u);
}

TEST(Pipeline, RestartReplaysSpoolFromEarlierProcess) {
  TempDir dir;
  FakeClock clock;
  IdLog ids;
  auto o = options(dir);
  const int n = 420;
  {
    FakeApi down;
    down.set(SendResult::retry);
    Pipeline p(o, ids.encoder(), down.sender(), clock);
    p.start();
    enqueue_range(p, 0, n);
    ASSERT_TRUE(eventually(clock, [&] { return p.stats().spooled_total == n; }));
    // Destroyed with everything spooled: the "restart".
  }
  ASSERT_GT(spool_file_count(o), 0u);
  FakeApi api;
  Pipeline p(o, encode, api.sender(), clock);
  EXPECT_GT(p.stats().spool_bytes, 0u);
  p.start();
  ASSERT_TRUE(eventually([&] { return p.stats().replayed_total == n; }));
  auto s = p.stats();
  EXPECT_EQ(s.sent_total, uint64_t(n));
  EXPECT_EQ(s.spool_bytes, 0u);
  EXPECT_EQ(api.ids(), ids.get());  // the ids first assigned, not new ones
  EXPECT_TRUE(api.no_duplicates());
  EXPECT_EQ(spool_file_count(o), 0u);
}

TEST(Pipeline, StopFlushesQueueToApi) {
  TempDir dir;
  FakeClock clock;  // never advanced: no flush interval passes
  FakeApi api;
  auto o = options(dir);
  o.batch_size = 1000;
  Pipeline p(o, encode, api.sender(), clock);
  p.start();
  enqueue_range(p, 0, 150);  // less than a batch
  p.stop();
  EXPECT_EQ(p.stats().sent_total, 150u);
  EXPECT_EQ(api.unique(), 150u);
  EXPECT_EQ(p.stats().queued, 0u);
  // After stop(): dropped, counted.
  EXPECT_FALSE(p.enqueue(event(999)));
  EXPECT_EQ(p.stats().dropped_total, 1u);
}

TEST(Pipeline, StopSpoolsQueueWhenApiFailsAndNextRunSendsIt) {
  TempDir dir;
  FakeClock clock;
  auto o = options(dir);
  o.batch_size = 1000;
  {
    FakeApi down;
    down.set(SendResult::retry);
    Pipeline p(o, encode, down.sender(), clock);
    p.start();
    enqueue_range(p, 0, 150);
    p.stop();
    auto s = p.stats();
    EXPECT_EQ(s.spooled_total, 150u);
    EXPECT_EQ(s.queued, 0u);
    EXPECT_EQ(s.dropped_total, 0u);
  }
  FakeApi api;
  Pipeline p(o, encode, api.sender(), clock);
  p.start();
  ASSERT_TRUE(eventually([&] { return p.stats().replayed_total == 150; }));
  EXPECT_EQ(api.unique(), 150u);
}

TEST(Pipeline, StopIsBoundedWhenApiIsSlow) {
  TempDir dir;
  FakeClock clock;
  FakeApi api;
  api.clock = &clock;
  api.delay = 100ms;   // every request takes 100 ms of the clock
  api.set_hang(true);  // ... and none ends before stop() has begun
  auto o = options(dir);
  o.batch_size = 10;
  o.stop_grace = 250ms;
  Pipeline p(o, encode, api.sender(), clock);
  p.start();
  enqueue_range(p, 0, 400);  // 40 batches at 100 ms each: far beyond the grace
  ASSERT_TRUE(eventually([&] { return api.in_flight.load() == 1; }));
  const auto t0 = clock.steady_now();
  const auto r0 = RealClock::now();
  auto stopped = std::async(std::launch::async, [&] { p.stop(); });
  // Once stop() refuses events its grace is running; fake time has not moved since t0.
  ASSERT_TRUE(eventually([&] { return !p.enqueue(event(-1)); }));
  api.set_hang(false);
  ASSERT_EQ(stopped.wait_for(10s), std::future_status::ready);
  // The grace, plus the request in flight when it ran out.
  EXPECT_LE(clock.steady_now() - t0, o.stop_grace + api.delay);
  EXPECT_LT(RealClock::now() - r0, 2s);
  auto s = p.stats();
  // Nothing lost: sent within the grace, the rest spooled (replays are both).
  // (The probe events offered before stop() began are part of it.)
  EXPECT_EQ(s.sent_total - s.replayed_total + s.spooled_total, s.enqueued_total - s.dropped_total);
  EXPECT_GE(s.enqueued_total - s.dropped_total, 400u);
  EXPECT_GT(s.spooled_total, 0u);
  EXPECT_EQ(s.queued, 0u);
}

TEST(Pipeline, DropsCountedWhenQueueAndSpoolAreFull) {
  TempDir dir;
  FakeClock clock;
  FakeApi api;
  api.set(SendResult::retry);
  auto o = options(dir);
  o.queue_capacity = 100;
  o.batch_size = 10;
  o.spool_max_bytes = 4096;  // a few batches
  Pipeline p(o, encode, api.sender(), clock);
  p.start();
  int64_t next = 0;
  // Offer events a batch at a time so the spool fills first, then the queue.
  for (int round = 0; round < 400 && p.stats().dropped_total == 0; ++round) {
    enqueue_range(p, next, next + 10);
    next += 10;
    eventually([&] { return p.stats().queued == 0; }, 20ms);
  }
  auto s = p.stats();
  ASSERT_GT(s.dropped_total, 0u);
  EXPECT_GT(s.spooled_total, 0u);
  EXPECT_LE(s.spool_bytes, o.spool_max_bytes);
  EXPECT_GT(s.spool_bytes, o.spool_max_bytes / 2);
  EXPECT_LE(s.queued, o.queue_capacity);
  EXPECT_EQ(s.sent_total, 0u);

  api.set(SendResult::ok);
  const uint64_t offered = uint64_t(next);
  ASSERT_TRUE(eventually(clock,
                         [&] {
                           auto t = p.stats();
                           return t.queued == 0 && t.spool_bytes == 0 && t.sent_total + t.dropped_total == offered;
                         }))
      << p.stats().sent_total << " + " << p.stats().dropped_total << " != " << offered;
  s = p.stats();
  EXPECT_EQ(s.enqueued_total, offered);
  EXPECT_EQ(api.unique(), s.sent_total);
  EXPECT_TRUE(api.no_duplicates());
}

TEST(Pipeline, RejectedBatchesAreCountedAndNotRetried) {
  TempDir dir;
  FakeClock clock;
  FakeApi api;
  api.set(SendResult::rejected);
  Pipeline p(options(dir), encode, api.sender(), clock);
  p.start();
  enqueue_range(p, 0, 250);
  ASSERT_TRUE(eventually(clock, [&] { return p.stats().rejected_total == 250; }));
  auto s = p.stats();
  EXPECT_EQ(s.queued, 0u);
  EXPECT_EQ(s.sent_total, 0u);
  EXPECT_EQ(s.spooled_total, 0u);
  EXPECT_EQ(s.dropped_total, 0u);
  EXPECT_EQ(s.send_failures_total, 0u);
  EXPECT_EQ(api.call_count(), 3);  // one per batch, never retried
  // Rejection means the API is up: later batches still go out.
  api.set(SendResult::ok);
  enqueue_range(p, 250, 300);
  ASSERT_TRUE(eventually(clock, [&] { return p.stats().sent_total == 50; }));
}

TEST(Pipeline, RejectedSpooledBatchIsDroppedNotReplayedForever) {
  TempDir dir;
  FakeClock clock;
  FakeApi api;
  api.set(SendResult::retry);
  Pipeline p(options(dir), encode, api.sender(), clock);
  p.start();
  enqueue_range(p, 0, 200);
  ASSERT_TRUE(eventually([&] { return p.stats().spooled_total == 200; }));
  api.set(SendResult::rejected);
  ASSERT_TRUE(eventually(clock, [&] { return p.stats().rejected_total == 200 && p.stats().spool_bytes == 0; }));
  EXPECT_EQ(p.stats().replayed_total, 0u);
}

TEST(Pipeline, EnqueueNeverBlocksWhileSenderHangs) {
  TempDir dir;
  FakeClock clock;
  FakeApi api;
  api.set_hang(true);
  auto o = options(dir);
  o.queue_capacity = 1000;
  Pipeline p(o, encode, api.sender(), clock);
  p.start();
  enqueue_range(p, 0, 100);
  ASSERT_TRUE(eventually([&] { return api.in_flight.load() == 1; }));  // the shipper is stuck

  // Many more events than the queue holds, offered while the request hangs.
  auto worst = RealClock::duration::zero();
  const auto t0 = RealClock::now();
  int64_t next = 100;
  for (int round = 0; round < 30; ++round) {
    for (int i = 0; i < 100; ++i) {
      const auto a = RealClock::now();
      p.enqueue(event(next++));
      worst = std::max(worst, RealClock::now() - a);
    }
    // Give the flusher a moment, as real traffic would (the assertion is below).
    eventually([&] { return p.stats().queued <= 800; }, 200ms);
  }
  const auto total = RealClock::now() - t0;
  EXPECT_LT(worst, 20ms) << "an enqueue waited";
  EXPECT_LT(total, 8s);
  auto s = p.stats();
  EXPECT_EQ(s.dropped_total, 0u) << "a hung request must not make the queue overflow: batches spill to the spool";
  EXPECT_GT(s.spooled_total, 0u);

  api.set_hang(false);
  ASSERT_TRUE(eventually(clock, [&] { return p.stats().sent_total == uint64_t(next); }));
  EXPECT_EQ(api.unique(), size_t(next));
  EXPECT_EQ(p.stats().spool_bytes, 0u);
}

TEST(Pipeline, EnqueueIsCheap) {
  // Not a benchmark: a guard against a lock held across I/O or per-event syscalls
  // sneaking into the hot path (1e5 enqueues take a few ms; the bound is generous).
  TempDir dir;
  FakeClock clock;
  FakeApi api;
  auto o = options(dir);
  o.queue_capacity = 200000;
  o.batch_size = 1000;
  Pipeline p(o, encode, api.sender(), clock);
  p.start();
  std::vector<PlaybackEvent> events;
  for (int i = 0; i < 100000; ++i) events.push_back(event(i));
  const auto t0 = RealClock::now();
  for (auto& e : events) p.enqueue(std::move(e));
  const auto took = RealClock::now() - t0;
  RecordProperty("enqueue_ns_per_event",
                 int(std::chrono::duration_cast<std::chrono::nanoseconds>(took).count() / 100000));
  EXPECT_LT(took, 1s);
  ASSERT_TRUE(eventually([&] { return p.stats().sent_total == 100000; }));
}

TEST(Pipeline, BadOptionsAreRefused) {
  TempDir dir;
  FakeClock clock;
  auto o = options(dir);
  o.batch_size = 0;
  EXPECT_THROW(Pipeline(o, encode, FakeApi().sender(), clock), std::invalid_argument);
}

// ---------------------------------------------------------------- http_sender

namespace {

struct IngestServer {
  std::shared_ptr<rend::http::Router> router = std::make_shared<rend::http::Router>();
  std::unique_ptr<rend::http::Server> server;
  std::string base;
  std::mutex mu;
  std::set<std::string> received;
  std::atomic<int> bad_auth{0};

  IngestServer() {
    using rend::http::Request;
    using rend::http::Response;
    router->add("POST", "/internal/telemetry", [this](Request& r) {
      if (r.header("authorization") != std::optional<std::string_view>("Bearer s3cret") ||
          r.header("content-type") != std::optional<std::string_view>("application/json")) {
        ++bad_auth;
        return Response::text(401, "no");
      }
      auto d = decode(r.body);
      std::lock_guard lk(mu);
      for (auto& [id, seq] : d.events) received.insert(id);
      return Response::text(200, "{}");
    });
    for (int status : {400, 401, 403, 404, 413, 429, 500, 503}) {
      router->add("POST", "/status/" + std::to_string(status),
                  [status](Request&) { return Response::text(status, "x"); });
    }
    router->add("POST", "/slow", [](Request&) {
      std::this_thread::sleep_for(800ms);
      return Response::text(200, "late");
    });
    rend::http::ServerOptions so;
    so.port = 0;
    server = std::make_unique<rend::http::Server>(so, router);
    base = "http://127.0.0.1:" + std::to_string(server->start());
  }
  ~IngestServer() { server->stop(); }
};

}  // namespace

TEST(HttpSender, MapsStatusesAndSendsBearer) {
  IngestServer srv;
  auto send_to = [&](const std::string& path, const std::string& token = "s3cret") {
    return http_sender(srv.base + path, token, 1000ms)("bat_x\nevt_1:1,");
  };
  EXPECT_EQ(send_to("/internal/telemetry"), SendResult::ok);
  EXPECT_EQ(srv.bad_auth.load(), 0);
  EXPECT_EQ(send_to("/internal/telemetry", "wrong"), SendResult::rejected);
  for (int s : {400, 401, 403, 404, 413}) EXPECT_EQ(send_to("/status/" + std::to_string(s)), SendResult::rejected) << s;
  for (int s : {429, 500, 503}) EXPECT_EQ(send_to("/status/" + std::to_string(s)), SendResult::retry) << s;
  // Timeout and connection refused are transport errors: retry.
  const auto t0 = RealClock::now();
  EXPECT_EQ(http_sender(srv.base + "/slow", "s3cret", 200ms)("x"), SendResult::retry);
  EXPECT_LT(RealClock::now() - t0, 700ms);
  EXPECT_EQ(http_sender("http://127.0.0.1:1/internal/telemetry", "s3cret", 500ms)("x"), SendResult::retry);
}

TEST(HttpSender, PipelineDeliversToRealServer) {
  IngestServer srv;
  TempDir dir;
  auto o = options(dir);
  IdLog ids;
  FakeClock clock;
  Pipeline p(o, ids.encoder(), http_sender(srv.base + "/internal/telemetry", "s3cret", o.request_timeout), clock);
  p.start();
  enqueue_range(p, 0, 350);
  ASSERT_TRUE(eventually(clock, [&] { return p.stats().sent_total == 350; }));
  p.stop();
  std::lock_guard lk(srv.mu);
  EXPECT_EQ(srv.received, ids.get());
  EXPECT_EQ(srv.received.size(), 350u);
}

namespace {
PlaybackEvent varied_event(int t, int i) {
  PlaybackEvent e;
  e.ts_ms = 1'700'000'000'000 + i;
  e.edge_id = "edge-1";
  e.region = (i % 2) ? "eu-west-a-long-region-name" : "r1";
  e.asset_id = "ast_" + std::string(26, char('a' + t));
  e.artifact = std::to_string(t) + "/" + std::to_string(i) + ((i % 3) ? "/a-much-longer-artifact-path.ts" : ".ts");
  e.kind = (i % 2) ? "segment" : "playlist";
  e.tier = (i % 4 == 0) ? "" : "1080p";
  e.session_id = (i % 5 == 0) ? "" : "sess_" + std::to_string(t * 100000 + i);
  e.status = (i % 2) ? 206 : 200;
  e.bytes = i + 1;
  e.cache = (i % 3) ? "HIT" : "MISS";
  e.ttfb_ms = i % 7;
  e.duration_ms = i % 11;
  e.media_seconds = (i % 2) ? 4.0 : 0;
  if (i % 9 == 0) e.event_id = "evt_preset_" + std::to_string(t) + "_" + std::to_string(i);
  return e;
}
}  // namespace

// Events copied into the queue's reused slots (enqueue(const&), the edge's path) from
// several threads at once, in batches of 7 so that every slot is reused hundreds of
// times: each event arrives once, through the real wire codec, with exactly its own
// fields (none left over from an earlier event in the same slot, empty ones included).
TEST(Pipeline, ConcurrentCopiedEventsArriveOnceWithExactlyTheirOwnFields) {
  TempDir dir;
  FakeClock clock;
  std::mutex mu;
  std::map<std::string, PlaybackEvent> got;  // by artifact (unique per event)
  std::set<std::string> event_ids;
  int duplicates = 0;
  std::string error;
  Sender sender = [&](const std::string& body) {
    auto b = decode_batch(body, 100000);
    std::lock_guard lk(mu);
    if (!b.ok()) {
      error = b.error;
      return SendResult::rejected;
    }
    for (auto& e : b.events) {
      if (!event_ids.insert(e.event_id).second) ++duplicates;
      if (!got.emplace(e.artifact, e).second) ++duplicates;
    }
    return SendResult::ok;
  };
  Options o = options(dir);
  o.batch_size = 7;
  o.queue_capacity = 100000;
  Pipeline p(
      o, [](const std::string& id, std::span<const PlaybackEvent> events) { return encode_batch_binary(id, events); },
      sender, clock);
  p.start();
  constexpr int kThreads = 4, kPerThread = 2500;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&p, t] {
      for (int i = 0; i < kPerThread; ++i) {
        const PlaybackEvent e = varied_event(t, i);
        p.enqueue(e);
      }
    });
  for (auto& th : threads) th.join();
  const uint64_t n = kThreads * kPerThread;
  ASSERT_TRUE(eventually(clock, [&] { return p.stats().sent_total == n; })) << p.stats().sent_total;
  p.stop();
  std::lock_guard lk(mu);
  EXPECT_EQ(error, "");
  EXPECT_EQ(duplicates, 0);
  ASSERT_EQ(got.size(), size_t(n));
  for (int t = 0; t < kThreads; ++t)
    for (int i = 0; i < kPerThread; ++i) {
      const auto want = varied_event(t, i);
      auto it = got.find(want.artifact);
      ASSERT_NE(it, got.end()) << want.artifact;
      const auto& e = it->second;
      if (!want.event_id.empty()) EXPECT_EQ(e.event_id, want.event_id);
      else EXPECT_EQ(e.event_id.rfind("evt_", 0), 0u) << e.event_id;
      EXPECT_EQ(e.ts_ms, want.ts_ms);
      EXPECT_EQ(e.edge_id, want.edge_id);
      EXPECT_EQ(e.region, want.region) << want.artifact;
      EXPECT_EQ(e.asset_id, want.asset_id);
      EXPECT_EQ(e.kind, want.kind);
      EXPECT_EQ(e.tier, want.tier) << want.artifact;
      EXPECT_EQ(e.session_id, want.session_id) << want.artifact;
      EXPECT_EQ(e.status, want.status);
      EXPECT_EQ(e.bytes, want.bytes);
      EXPECT_EQ(e.cache, want.cache);
      EXPECT_EQ(e.ttfb_ms, want.ttfb_ms);
      EXPECT_EQ(e.duration_ms, want.duration_ms);
      EXPECT_EQ(e.media_seconds, want.media_seconds);
    }
  auto s = p.stats();
  EXPECT_EQ(s.enqueued_total, n);
  EXPECT_EQ(s.dropped_total, 0u);
}
