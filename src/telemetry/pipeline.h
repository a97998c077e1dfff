#pragma once
// Edge side of playback telemetry (SPEC §7): every viewer response becomes a
// store::PlaybackEvent; request handlers hand it to enqueue() and return. Batches go
// to the ingest API from background threads; while the API is unreachable or failing
// they go to an on-disk spool (spool.h) and are replayed, oldest first, when it answers
// again. Serving never waits on telemetry.
//
// Threads (started by start(), joined by stop()):
//   flusher: every flush_interval, or as soon as a full batch is queued, takes the queue,
//            gives events their ids, cuts batches of batch_size, encodes them and places
//            each one: in an in-memory outbox (at most half the queue capacity) when the
//            API is healthy and the spool is empty (so the spool, a FIFO, is never
//            overtaken), otherwise in the spool.
//   shipper: sends the outbox, then the spool (oldest first). After a retryable failure
//            (transport error, timeout, 5xx, 429) it spools what it holds and probes
//            again after a backoff (backoff_initial doubling to backoff_max); meanwhile
//            the flusher spools directly, so no batch waits a request timeout.
// A hung request blocks only the shipper: the outbox fills, then batches spill to the
// spool, and the queue keeps moving. Order is kept (outbox, then spool, oldest first)
// except when batches had already spilled past a full outbox when a failure hits: the
// outbox is then spooled after them.
//
// Loss accounting (every offered event ends in exactly one of these, or is still held):
//   enqueued_total = sent_total + rejected_total + dropped_total + queued + (events in the spool)
//   dropped_total: enqueue() found the queue full (it fills when the spool is full, or
//                  refuses writes, and the API is failing), or enqueue() after stop(),
//                  or queued events that could be neither sent nor spooled at stop().
//   rejected_total: the API refused the batch for good (400/401/403/404/413): dropped
//                  and never retried; logged on the first one, then at most once a minute.
// Ingest is idempotent by event_id, so a batch re-sent after a crash (or after a
// timeout whose request did land) is harmless; a replayed batch is byte-for-byte the
// body first encoded, with the same batch_id and event_ids.
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "core/clock.h"
#include "store/analytics.h"

namespace rend::telemetry {

struct Options {
  size_t queue_capacity = 100000;                   // REND_EDGE_TELEMETRY_QUEUE_CAPACITY
  size_t batch_size = 1000;                         // REND_EDGE_TELEMETRY_BATCH_SIZE
  std::chrono::milliseconds flush_interval{1000};   // REND_EDGE_TELEMETRY_FLUSH_INTERVAL_SECS
  std::chrono::milliseconds request_timeout{5000};  // REND_EDGE_TELEMETRY_REQUEST_TIMEOUT_SECS (for http_sender)
  std::string spool_dir;                            // REND_EDGE_TELEMETRY_SPOOL_DIR
  uint64_t spool_max_bytes = 1ull << 30;            // REND_EDGE_TELEMETRY_SPOOL_MAX_BYTES
  // Not configurable from the environment; tests shorten them.
  std::chrono::milliseconds backoff_initial{1000};
  std::chrono::milliseconds backoff_max{30000};
  // stop() gives the shipper this long to send what is queued before spooling the rest.
  std::chrono::milliseconds stop_grace{3000};
};

enum class SendResult { ok, retry, rejected };

// Encodes a batch to the wire body. Called on the flusher thread; may throw (the batch
// is then dropped, counted and logged). Every event has its event_id; the batch id is
// the argument (events do not carry it: their batch_id is left as enqueued).
using Encoder = std::function<std::string(const std::string& batch_id, std::span<const store::PlaybackEvent>)>;
// Posts a body and classifies the answer. Called on the shipper thread only (one call
// at a time); must return within a bounded time (a request timeout). An exception
// counts as retry.
using Sender = std::function<SendResult(const std::string& body)>;

// POSTs with http::send (libcurl): "Authorization: Bearer <token>", Content-Type
// the body's format (content_type_of: binary v1, or JSON for a body an older version
// spooled), the given timeout. 2xx → ok; 400/401/403/404/413 → rejected;
// anything else (transport error, timeout, 429, 5xx, ...) → retry. Logs when the
// outcome changes (never the token or the body).
Sender http_sender(std::string url, std::string token, std::chrono::milliseconds timeout);

struct Stats {
  uint64_t queued = 0;               // events in memory, not yet sent or spooled
  uint64_t enqueued_total = 0;       // enqueue() calls, accepted or not
  uint64_t sent_total = 0;           // events acknowledged by the API (replays included)
  uint64_t spooled_total = 0;        // events written to the spool
  uint64_t replayed_total = 0;       // events acknowledged from the spool (part of sent_total)
  uint64_t dropped_total = 0;        // see loss accounting above
  uint64_t rejected_total = 0;       // events in batches the API refused for good
  uint64_t spool_bytes = 0;          // spool size on disk now
  uint64_t send_failures_total = 0;  // send attempts that ended in retry
};

class Pipeline {
 public:
  // Opens (and recovers) the spool: throws std::runtime_error naming the directory when
  // it cannot be created. Options must be positive (capacity, batch size, interval).
  // The flush interval, backoff and stop grace run on `clock`, which must outlive the
  // pipeline (the request timeout is the Sender's own: real time, in libcurl).
  Pipeline(Options opts, Encoder encoder, Sender sender, const core::Clock& clock);
  // Calls stop().
  ~Pipeline();
  Pipeline(const Pipeline&) = delete;
  Pipeline& operator=(const Pipeline&) = delete;

  void start();
  // Flushes what is queued: sends it, or spools it if the API fails or stop_grace runs
  // out; then joins the threads. Bounded by stop_grace plus one request in flight.
  // Idempotent; enqueue() after stop() drops (counted).
  void stop();

  // Hot path, any thread: O(1), a short mutex hold, no I/O, never throws. Assigns an
  // event_id later (off this path) when it is empty. False when the event was dropped.
  // The queue's event slots are reused batch after batch: the const& form copies into a
  // slot's existing string storage, so once warmed up it allocates nothing (and nothing
  // is freed on another thread); a caller that builds each event in a reused scratch
  // event (as the edge does, per thread) makes no allocation per event at all.
  bool enqueue(const store::PlaybackEvent& event) noexcept;
  bool enqueue(store::PlaybackEvent&& event) noexcept;

  Stats stats() const;

 private:
  template <class E>
  bool put(E&& event) noexcept;
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace rend::telemetry
