#pragma once
// Group commit for telemetry ingest: batches POSTed by several edges at about the same
// time are merged into one AnalyticsStore::insert().
//
// Why: every insert is a new part on disk for ClickHouse (and a transaction with an
// fsync for SQLite). Measured on ClickHouse 18.16, an insert costs ~15 ms of server
// CPU (part files, then merges) plus ~3 µs a row: thousands of small inserts a second
// would swamp it, a few large ones are what it is built for.
//
// Each request blocks until the insert that carried its events has finished, because
// the HTTP answer is the edge's acknowledgement: it deletes its spooled copy on 2xx,
// so a 200 must never precede the store accepting the events.
//
// Use: admit() before decoding the body (a Ticket, or nothing when max_admitted
// requests already hold one: answer 503), then submit() the decoded events with it.
// The ticket tells the flusher that more events are on their way.
//
// A flush starts when something is pending and
//   - at least `flush_events` events are pending, or
//   - every admitted request is waiting and either `min_interval` has passed since the
//     previous flush started or no further request can be admitted, or
//   - `max_delay` has passed since the previous flush started.
// So an idle buffer writes a lone batch at once; edges that always have a batch ready
// are gathered into one insert each round instead of being split between rounds; and
// below the size threshold there are at most 1/min_interval inserts a second.
// One flusher thread: inserts never overlap, and the next flush takes everything that
// arrived while the previous one ran.
//
// Time: every wait and interval is on the given clock (core::FakeClock in tests).
//
// Threading: every method may be called from any thread. The destructor flushes what
// is pending, answers its waiters, joins the flusher, then waits for the last live
// Ticket: a submitter that was just answered still releases its Ticket after
// submit() returned, and that must not touch a destroyed buffer.
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <utility>
#include <vector>

#include "core/clock.h"
#include "store/analytics.h"

namespace rend::telemetry {

class IngestBuffer {
 public:
  struct Options {
    size_t max_admitted = 12;
    size_t flush_events = 10000;
    std::chrono::milliseconds min_interval{50};
    std::chrono::milliseconds max_delay{100};
  };

  // One request's place in the buffer, from admission until it has its answer.
  class Ticket {
   public:
    Ticket(Ticket&& o) noexcept : buf_(std::exchange(o.buf_, nullptr)), submitted_(o.submitted_) {}
    Ticket& operator=(Ticket&&) = delete;
    ~Ticket();

   private:
    friend class IngestBuffer;
    explicit Ticket(IngestBuffer* b) : buf_(b) {}
    IngestBuffer* buf_;
    bool submitted_ = false;
  };

  // `clock` must outlive the buffer.
  IngestBuffer(store::AnalyticsStore& store, Options opts, const core::Clock& clock);
  ~IngestBuffer();
  IngestBuffer(const IngestBuffer&) = delete;
  IngestBuffer& operator=(const IngestBuffer&) = delete;

  std::optional<Ticket> admit();

  // Queues the events for the next flush and waits for it (once per ticket). True once
  // they are stored; false when that insert failed or the buffer is shutting down (the
  // caller answers 503 and the edge retries; the store deduplicates by event_id, so a
  // partly applied insert is harmless).
  bool submit(Ticket& ticket, std::vector<store::PlaybackEvent> events);

 private:
  // One flush's outcome, shared by the submitters whose events it carries.
  struct Flush {
    bool done = false;
    bool ok = false;
  };

  void release(Ticket& t);
  bool due(core::SteadyTime now) const;
  void run();
  void record(bool ok, size_t requests, size_t events, core::SteadyTime::duration took);

  store::AnalyticsStore& store_;
  const Options opts_;
  const core::Clock& clock_;
  std::mutex mu_;
  std::condition_variable work_cv_;      // flusher: something changed
  std::condition_variable done_cv_;      // submitters: a flush finished
  std::condition_variable released_cv_;  // the destructor: a Ticket was released
  std::vector<store::PlaybackEvent> pending_;
  std::shared_ptr<Flush> next_ = std::make_shared<Flush>();
  size_t admitted_ = 0;  // live tickets
  size_t decoding_ = 0;  // tickets not yet submitted: events that may still join
  size_t waiters_ = 0;   // submitters whose events are in pending_
  core::SteadyTime last_flush_{};
  bool stopping_ = false;
  // Flusher-only counters for the periodic telemetry_ingest_stats log line.
  struct Stats {
    uint64_t flushes = 0, failed = 0, requests = 0, events = 0;
    core::SteadyTime::duration insert_time{};
    core::SteadyTime since{};
  } stats_;
  std::thread flusher_;
};

}  // namespace rend::telemetry
