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
// Journal mode (Options::journal_dir set; the API sets it for ClickHouse): a "flush"
// appends the gathered batches' bodies to a journal on the API's disk (a Spool: one
// record, one fdatasync per flush) and answers them; an inserter thread then writes the
// journaled events to the store in large inserts (insert_events, or insert_delay after
// the oldest), and deletes the journal records once the store holds them. Why: the
// edges' in-flight batches are what bounds one insert when every answer waits for it
// (8 connections x 1000 events), and ClickHouse 18.16 spends ~30 ms of CPU per insert
// on the part's files: 300k events in inserts of 8,000 cost it 3x the CPU of inserts
// of 100,000 (bench/README.md). The acknowledgement keeps its meaning: an answered
// event is on disk (fdatasync'd) and reaches the store, after a crash too — a new
// buffer on the same directory replays the journal before it admits anything. An
// insert also starts when ingest has been quiet (no request) for quiet_delay. While
// the store fails (its last insert did), or more than max_unstored_events wait for it,
// new batches are refused (the handler answers 503) so edges keep them in their own
// spool, as without a journal; the journaled ones are retried every retry_delay.
// Readers that must see every answered event (the analytics routes) call sync().
// Replays of a journal record after a crash between its insert and its deletion are
// harmless: the store deduplicates by event_id.
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
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "core/clock.h"
#include "store/analytics.h"
#include "store/posix_file.h"

namespace rend::telemetry {

class Spool;

class IngestBuffer {
 public:
  struct Options {
    size_t max_admitted = 12;
    size_t flush_events = 10000;
    std::chrono::milliseconds min_interval{50};
    std::chrono::milliseconds max_delay{100};
    // Journal mode (see above); empty: each batch is answered after its own insert.
    std::string journal_dir;
    uint64_t journal_max_bytes = 1ull << 30;
    size_t insert_events = 100000;
    std::chrono::milliseconds insert_delay{1000};
    // ...or once no batch has been admitted for this long (nothing more is coming soon:
    // the journaled events need not wait out insert_delay). 0: off.
    std::chrono::milliseconds quiet_delay{0};
    size_t max_unstored_events = 400000;
    std::chrono::milliseconds retry_delay{1000};
    // Journal mode: an insert of at least parallel_inserts x insert_events events is
    // split into that many concurrent inserts (ClickHouse parses and writes each insert
    // on one thread; a burst's last large insert is otherwise the tail of its latency).
    size_t parallel_inserts = 1;
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

  // `clock` must outlive the buffer. Journal mode: throws std::runtime_error when the
  // journal directory cannot be created or another process holds it.
  IngestBuffer(store::AnalyticsStore& store, Options opts, const core::Clock& clock);
  ~IngestBuffer();
  IngestBuffer(const IngestBuffer&) = delete;
  IngestBuffer& operator=(const IngestBuffer&) = delete;

  std::optional<Ticket> admit();

  // Queues the events for the next flush and waits for it (once per ticket). True once
  // they are stored; false when that insert failed or the buffer is shutting down (the
  // caller answers 503 and the edge retries; the store deduplicates by event_id, so a
  // partly applied insert is harmless).
  // Journal mode: `body` is the batch as received (what the journal keeps); true once it
  // is journaled; false also while the store is failing or too much waits for it.
  // Journal mode journals the binary v1 form of the events (telemetry/wire.h; `body` is
  // not used then), so every journal record is packed rows.
  bool submit(Ticket& ticket, std::vector<store::PlaybackEvent> events, std::string_view body = {});
  // The same for a binary v1 batch checked by check_binary_batch: `rows` are views into
  // `body`. Journal mode journals `body` as it is and later inserts its rows through
  // AnalyticsStore::insert_packed, never building a PlaybackEvent; without a journal the
  // rows are unpacked into events for insert().
  bool submit(Ticket& ticket, const store::PackedRows& rows, std::string_view body);

  // Journal mode: inserts at once what was answered before the call (and anything
  // replayed from the journal) and waits until the store holds it, at most `timeout`
  // (real time as the clock counts it). True when it does; false at once while the store
  // is failing and its retry is not due yet, or at the first insert that fails during the
  // wait. Without a journal every answered event is already stored: true at once.
  bool sync(std::chrono::milliseconds timeout);

 private:
  // One flush's outcome, shared by the submitters whose events it carries.
  struct Flush {
    bool done = false;
    bool ok = false;
  };

  // Journaled events waiting for the store: `records` journal records (the oldest ones
  // not yet deleted) hold exactly these events, as packed rows: `batches` are views into
  // `data` (the journal records' bytes; a heap string does not move with its owner).
  struct Group {
    std::vector<std::unique_ptr<const std::string>> data;
    std::vector<store::PackedRows> batches;
    size_t events = 0;
    size_t records = 0;
    core::SteadyTime since{};
  };
  // A pending batch inside pending_record_, by offsets (the string grows and moves).
  struct Span {
    size_t batch_id_at, batch_id_len, rows_at, rows_len, count;
  };
  bool wait_for_flush(std::unique_lock<std::mutex>& lock);

  void release(Ticket& t);
  bool due(core::SteadyTime now) const;
  void run();
  bool journaled() const { return journal_ != nullptr; }
  void run_inserter();
  void replay();
  bool insert_due(core::SteadyTime now) const;
  core::SteadyTime next_insert_at() const;
  void insert_parts(const std::vector<store::PackedRows>& batches, size_t events);
  void record(bool ok, size_t requests, size_t events, core::SteadyTime::duration took);

  store::AnalyticsStore& store_;
  const Options opts_;
  const core::Clock& clock_;
  std::mutex mu_;
  std::condition_variable work_cv_;      // flusher: something changed
  std::condition_variable done_cv_;      // submitters: a flush finished
  std::condition_variable released_cv_;  // the destructor: a Ticket was released
  std::vector<store::PlaybackEvent> pending_;
  std::string pending_record_;       // journal mode: the pending batches' bodies, framed
  std::vector<Span> pending_spans_;  // journal mode: their rows in pending_record_
  size_t pending_events_ = 0;        // events waiting for the next flush (either mode)
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
  // Journal mode.
  std::unique_ptr<Spool> journal_;
  static constexpr int kJournalSlots = 32;  // API processes that may share one data directory
  store::posix::UniqueFd journal_lock_;     // flock: one process per journal directory (a slot)
  std::string journal_path_;                // the slot this process holds
  std::condition_variable insert_cv_;       // inserter: something changed
  std::condition_variable stored_cv_;       // sync(): an insert finished
  std::deque<Group> unstored_;              // journaled, oldest first, not yet in the store
  size_t unstored_events_ = 0;              // journaled or being journaled, not yet stored
  size_t queued_events_ = 0;                // in unstored_ (waiting for the inserter)
  uint64_t journaled_groups_ = 0, stored_groups_ = 0, failed_inserts_ = 0;
  size_t syncs_ = 0;            // sync() calls waiting
  bool replaying_ = false;      // the journal of an earlier process is being inserted
  bool store_failing_ = false;  // the last insert failed: refuse new batches
  bool flusher_done_ = false;
  core::SteadyTime retry_at_{};
  core::SteadyTime last_admit_{};  // the latest admit() or release()
  std::thread flusher_;
  std::thread inserter_;
};

}  // namespace rend::telemetry
