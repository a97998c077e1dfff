#include "telemetry/pipeline.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <thread>

#include "core/crypto.h"
#include "core/log.h"
#include "telemetry/spool.h"

namespace rend::telemetry {
namespace {

namespace log = core::log;

// Repeated conditions (rejections, drops) are logged at most this often.
constexpr auto kLogEvery = std::chrono::seconds(60);
// Spool files rotate at 8 MiB so replayed ones can be deleted, smaller for small spools
// so a drained prefix is freed well before the whole spool is.
constexpr uint64_t kMaxSegmentBytes = 8ull << 20;
constexpr uint64_t kMinSegmentBytes = 4096;
// Emptied chunks kept for reuse (beyond two, they only matter after a burst).
constexpr size_t kMaxSpareChunks = 8;

// The queue is a list of chunks of batch_size event slots, each allocated once and
// reused: enqueue() writes the event into the next slot (no reallocation, no fresh pages
// under the lock) and a full chunk is exactly one batch. A recycled chunk keeps its
// events (only `n` goes back to 0), so their strings keep their storage: the next
// events are copied into it without allocating.
struct Chunk {
  std::vector<store::PlaybackEvent> slots;  // the first n hold events
  size_t n = 0;
  bool empty() const { return n == 0; }
  std::span<store::PlaybackEvent> events() { return {slots.data(), n}; }
  // Into the next slot; may throw (bad_alloc) only while the chunk is still growing.
  template <class E>
  void put(E&& e) {
    if (n < slots.size()) slots[n] = std::forward<E>(e);
    else slots.push_back(std::forward<E>(e));
    ++n;
  }
};

struct Batch {
  std::string id;
  uint32_t events = 0;
  std::string body;
};

// Spool record payload: u8 version | u32 events (LE) | u16 batch id length (LE) |
// batch id | body. The body is kept verbatim so a replay re-sends exactly the same
// request (same batch_id and event_ids: ingest deduplicates on them).
constexpr uint8_t kRecordVersion = 1;
constexpr size_t kRecordFixed = 1 + 4 + 2;

std::string encode_record(const Batch& b) {
  std::string r;
  r.reserve(kRecordFixed + b.id.size() + b.body.size());
  r += char(kRecordVersion);
  for (int i = 0; i < 4; ++i) r += char((b.events >> (8 * i)) & 0xff);
  const uint16_t idlen = uint16_t(std::min<size_t>(b.id.size(), 0xffff));
  r += char(idlen & 0xff);
  r += char(idlen >> 8);
  r.append(b.id, 0, idlen);
  r += b.body;
  return r;
}

std::optional<Batch> decode_record(std::string&& r) {
  if (r.size() < kRecordFixed || uint8_t(r[0]) != kRecordVersion) return std::nullopt;
  Batch b;
  for (int i = 0; i < 4; ++i) b.events |= uint32_t(uint8_t(r[1 + i])) << (8 * i);
  const size_t idlen = size_t(uint8_t(r[5])) | (size_t(uint8_t(r[6])) << 8);
  if (r.size() < kRecordFixed + idlen) return std::nullopt;
  b.id = r.substr(kRecordFixed, idlen);
  r.erase(0, kRecordFixed + idlen);
  b.body = std::move(r);
  return b;
}

void append_hex(std::string& out, uint64_t v) {
  static const char kHex[] = "0123456789abcdef";
  char buf[16];
  int n = 0;
  do {
    buf[15 - n++] = kHex[v & 15];
    v >>= 4;
  } while (v);
  out.append(buf + 16 - n, size_t(n));
}

std::string to_hex(uint64_t v) {
  std::string s;
  append_hex(s, v);
  return s;
}

}  // namespace

struct Pipeline::Impl {
  Impl(Options o, Encoder e, Sender s, const core::Clock& c)
      : opts(std::move(o)),
        encoder(std::move(e)),
        sender(std::move(s)),
        clock(c),
        spool(SpoolOptions{opts.spool_dir, opts.spool_max_bytes,
                           std::clamp(opts.spool_max_bytes / 16, kMinSegmentBytes, kMaxSegmentBytes)}),
        // One syscall per process, not per event: ids are this random prefix plus a
        // counter. 80 bits keep prefixes of different processes and restarts apart;
        // lowercase hex keeps ids in [a-z0-9_] like every other Rend id.
        id_prefix(core::hex_encode(core::random_bytes(10))) {
    if (opts.queue_capacity == 0 || opts.batch_size == 0 || opts.flush_interval.count() <= 0) {
      throw std::invalid_argument("telemetry: queue capacity, batch size and flush interval must be positive");
    }
    open = new_chunk();
    full.reserve(opts.queue_capacity / opts.batch_size + 2);
    for (int i = 0; i < 2; ++i) spare.push_back(new_chunk());
  }

  const Options opts;
  const Encoder encoder;
  const Sender sender;
  const core::Clock& clock;  // every interval, deadline and wait below is on it
  Spool spool;
  const std::string id_prefix;

  // --- queue: the only state enqueue() touches ---
  std::mutex qmu;
  std::condition_variable qcv;
  Chunk open;                // filling
  std::vector<Chunk> full;   // full, oldest first, for the flusher
  std::vector<Chunk> spare;  // emptied by the flusher, reserved
  bool accepting = true;
  bool qstop = false;

  std::atomic<uint64_t> queued{0};
  std::atomic<uint64_t> enqueued_total{0};
  std::atomic<uint64_t> sent_total{0};
  std::atomic<uint64_t> spooled_total{0};
  std::atomic<uint64_t> replayed_total{0};
  std::atomic<uint64_t> dropped_total{0};
  std::atomic<uint64_t> rejected_total{0};
  std::atomic<uint64_t> send_failures_total{0};

  // --- placement and shipping; mu also serializes spool appends from both threads so
  // the spool's order matches the decisions taken under it ---
  std::mutex mu;
  std::condition_variable scv;
  std::deque<Batch> outbox;
  uint64_t outbox_events = 0;
  bool healthy = true;
  std::chrono::milliseconds backoff{0};
  core::SteadyTime next_probe{};
  core::SteadyTime unhealthy_since{};
  bool stopping = false;
  bool flusher_done = false;
  core::SteadyTime stop_deadline{};
  std::optional<core::SteadyTime> last_reject_log;

  // Flusher-only state.
  uint64_t next_event = 0;
  uint64_t next_batch = 0;
  uint64_t dropped_logged = 0;
  std::optional<core::SteadyTime> last_drop_log;

  std::mutex lifecycle_mu;
  std::thread flusher;
  std::thread shipper;
  bool started = false;
  bool stopped = false;

  // ---------------------------------------------------------------- helpers

  // Under mu. ok: the events left memory for the spool.
  Spool::AppendResult spool_locked(const Batch& b) {
    auto r = spool.append(encode_record(b));
    if (r == Spool::AppendResult::ok) {
      spooled_total.fetch_add(b.events, std::memory_order_relaxed);
      queued.fetch_sub(b.events, std::memory_order_relaxed);
    }
    return r;
  }

  void drop(const Batch& b) {
    dropped_total.fetch_add(b.events, std::memory_order_relaxed);
    queued.fetch_sub(b.events, std::memory_order_relaxed);
  }

  // Under mu.
  void mark_healthy() {
    if (!healthy) {
      auto down = std::chrono::duration_cast<std::chrono::milliseconds>(clock.steady_now() - unhealthy_since);
      log::info("edge_telemetry_api_recovered", {{"down_ms", int64_t(down.count())}, {"spool_bytes", spool.bytes()}});
    }
    healthy = true;
    backoff = std::chrono::milliseconds(0);
  }

  // Under mu. After a failure, probe again after a doubling backoff rather than
  // sending (and timing out) batch after batch.
  void mark_failed() {
    send_failures_total.fetch_add(1, std::memory_order_relaxed);
    backoff = backoff.count() == 0 ? opts.backoff_initial : std::min(backoff * 2, opts.backoff_max);
    next_probe = clock.steady_now() + backoff;
    if (healthy) {
      healthy = false;
      unhealthy_since = clock.steady_now();
      log::warn("edge_telemetry_api_unavailable", {{"spooling_to", opts.spool_dir}});
    }
  }

  // Under mu.
  void note_rejected(const Batch& b) {
    rejected_total.fetch_add(b.events, std::memory_order_relaxed);
    auto now = clock.steady_now();
    if (!last_reject_log || now - *last_reject_log >= kLogEvery) {
      last_reject_log = now;
      log::error("edge_telemetry_batch_rejected",
                 {{"batch_id", b.id}, {"events", uint64_t(b.events)}, {"rejected_total", rejected_total.load()}});
    }
  }

  SendResult send(const std::string& body) {
    try {
      return sender(body);
    } catch (const std::exception& e) {
      log::warn("edge_telemetry_send_failed", {{"error", e.what()}});
      return SendResult::retry;
    } catch (...) {
      return SendResult::retry;
    }
  }

  // Under mu.
  void push_outbox_locked(Batch b) {
    outbox_events += b.events;
    outbox.push_back(std::move(b));
  }
  Batch pop_outbox_locked() {
    Batch b = std::move(outbox.front());
    outbox.pop_front();
    outbox_events -= b.events;
    return b;
  }

  // ---------------------------------------------------------------- flusher

  Chunk new_chunk() const {
    Chunk c;
    c.slots.reserve(opts.batch_size);
    return c;
  }

  // Under qmu.
  Chunk take_spare_locked() {
    if (spare.empty()) return new_chunk();  // only when the flusher is behind
    Chunk c = std::move(spare.back());
    spare.pop_back();
    return c;
  }

  // Hands emptied chunks back for reuse; destroys the events outside the queue lock.
  void recycle(std::vector<Chunk>& used) {
    for (auto& c : used) c.n = 0;  // the slots stay, with their strings' storage
    {
      std::lock_guard lk(qmu);
      while (!used.empty() && spare.size() < kMaxSpareChunks) {
        spare.push_back(std::move(used.back()));
        used.pop_back();
      }
    }
    used.clear();
  }

  // Decides where an encoded batch goes. False: it could go nowhere now (spool full or
  // failing while the outbox is not an option): the caller holds it and retries, and
  // the queue backs up behind it. At stop nothing is held: what cannot be placed is
  // dropped (counted).
  bool place(Batch& b, bool final) {
    std::unique_lock lk(mu);
    // The outbox only while the spool is empty: batches in it are then older than
    // anything spooled later, and the shipper sends the outbox first.
    // At most half the queue capacity waits there: beyond it batches spill to the
    // spool, so a hung request (up to a request timeout) cannot make enqueue() drop.
    const bool fits = outbox.empty() || outbox_events + b.events <= opts.queue_capacity / 2;
    if (healthy && spool.empty() && (fits || final)) {
      push_outbox_locked(std::move(b));
      scv.notify_one();
      return true;
    }
    if (spool_locked(b) == Spool::AppendResult::ok) {
      scv.notify_one();
      return true;
    }
    if (!final) return false;
    if (healthy) {
      // Shutting down with a full spool: one last chance within stop_grace.
      push_outbox_locked(std::move(b));
      scv.notify_one();
      return true;
    }
    drop(b);
    return true;
  }

  std::optional<Batch> make_batch(std::span<store::PlaybackEvent> events) {
    Batch b;
    b.id = "bat_" + id_prefix + to_hex(next_batch++);
    b.events = uint32_t(events.size());
    for (auto& e : events) {
      if (!e.event_id.empty()) continue;
      // Into the slot's own storage (kept from the slot's earlier events).
      e.event_id.append("evt_").append(id_prefix);
      append_hex(e.event_id, next_event++);
    }
    try {
      b.body = encoder(b.id, events);
    } catch (const std::exception& e) {
      // A batch that cannot be encoded will not encode better later.
      log::error("edge_telemetry_encode_failed", {{"batch_id", b.id}, {"error", e.what()}});
      drop(b);
      return std::nullopt;
    }
    return b;
  }

  void log_drops() {
    const uint64_t d = dropped_total.load(std::memory_order_relaxed);
    if (d == dropped_logged) return;
    auto now = clock.steady_now();
    if (last_drop_log && now - *last_drop_log < kLogEvery) return;
    log::warn("edge_telemetry_events_dropped", {{"dropped", d - dropped_logged}, {"dropped_total", d}});
    dropped_logged = d;
    last_drop_log = now;
  }

  void run_flusher() {
    std::deque<Chunk> ready;    // taken from the queue, not yet batched (oldest first)
    std::vector<Chunk> used;    // batched, to recycle
    std::optional<Batch> held;  // encoded, not yet placed; nothing overtakes it
    auto next_tick = clock.steady_now() + opts.flush_interval;
    for (;;) {
      bool final = false;
      bool tick = false;
      {
        std::unique_lock lk(qmu);
        clock.wait_until(lk, qcv, next_tick, [&] { return qstop || (!held && !full.empty()); });
        final = qstop;
        const auto now = clock.steady_now();
        if (now >= next_tick) {
          tick = true;
          next_tick = now + opts.flush_interval;
        }
        for (auto& c : full) ready.push_back(std::move(c));
        full.clear();
        // A partial batch leaves on the flush interval (or at stop).
        if ((tick || final) && !open.empty()) {
          ready.push_back(std::move(open));
          open = take_spare_locked();
        }
      }

      if (held) {
        if (!place(*held, final)) {
          log_drops();
          continue;
        }
        held.reset();
      }
      while (!ready.empty()) {
        Chunk events = std::move(ready.front());
        ready.pop_front();
        auto b = make_batch(events.events());
        used.push_back(std::move(events));
        if (b && !place(*b, final)) {
          held = std::move(b);
          break;
        }
      }
      recycle(used);
      if (tick) log_drops();
      if (final) break;
    }
  }

  // ---------------------------------------------------------------- shipper

  void run_shipper() {
    std::unique_lock lk(mu);
    for (;;) {
      const bool finishing = stopping && flusher_done;
      if (stopping && clock.steady_now() >= stop_deadline) {
        // The grace (counted from stop()) is over: what is left goes to the spool below,
        // once the flusher has placed its last batches.
        clock.wait(lk, scv, [&] { return flusher_done; });
        break;
      }
      if (finishing && (outbox.empty() || !healthy)) break;
      if (!healthy && !finishing && clock.steady_now() < next_probe) {
        clock.wait_until(lk, scv, next_probe, [&] { return stopping && flusher_done; });
        continue;
      }
      if (!outbox.empty()) {
        Batch b = pop_outbox_locked();
        lk.unlock();
        const SendResult r = send(b.body);
        lk.lock();
        switch (r) {
          case SendResult::ok:
            sent_total.fetch_add(b.events, std::memory_order_relaxed);
            queued.fetch_sub(b.events, std::memory_order_relaxed);
            mark_healthy();
            break;
          case SendResult::rejected:
            // The API answered: it is reachable, the batch is the problem.
            queued.fetch_sub(b.events, std::memory_order_relaxed);
            note_rejected(b);
            mark_healthy();
            break;
          case SendResult::retry:
            mark_failed();
            spool_outbox_locked(std::move(b));
            break;
        }
        continue;
      }
      // Replay only while running: at stop the spool is already safe on disk.
      if (!stopping && !spool.empty()) {
        lk.unlock();
        const bool progressed = replay_one();
        lk.lock();
        // Nothing readable although files remain (cannot last: front() deletes spent
        // files): don't spin.
        if (!progressed) clock.wait_until(lk, scv, clock.steady_now() + std::chrono::milliseconds(100));
        continue;
      }
      if (finishing) break;
      clock.wait(lk, scv,
                 [&] { return !outbox.empty() || (stopping && flusher_done) || (!stopping && !spool.empty()); });
    }
    // Stop: what could not be sent in time (or with the API failing) goes to the spool.
    while (!outbox.empty()) {
      Batch b = pop_outbox_locked();
      if (spool_locked(b) != Spool::AppendResult::ok) drop(b);
    }
  }

  // Under mu, after `failed` came back with retry: it and everything in the outbox go to
  // the spool (oldest first). What the spool cannot take stays in the outbox for the
  // next probe; events are dropped only by enqueue() once the queue is full.
  void spool_outbox_locked(Batch failed) {
    outbox_events += failed.events;
    outbox.push_front(std::move(failed));
    while (!outbox.empty()) {
      if (spool_locked(outbox.front()) != Spool::AppendResult::ok) break;
      outbox_events -= outbox.front().events;
      outbox.pop_front();
    }
  }

  // Sends the oldest spooled batch; called without mu held. False when there was none.
  bool replay_one() {
    auto rec = spool.front();
    if (!rec) return false;
    auto b = decode_record(std::move(*rec));
    if (!b) {
      // CRC-valid but not a record this version wrote: it can never be sent.
      log::warn("edge_telemetry_spool_bad_record", {{"dir", opts.spool_dir}});
      spool.pop_front();
      return true;
    }
    const SendResult r = send(b->body);
    std::lock_guard lk(mu);
    switch (r) {
      case SendResult::ok:
        spool.pop_front();
        sent_total.fetch_add(b->events, std::memory_order_relaxed);
        replayed_total.fetch_add(b->events, std::memory_order_relaxed);
        mark_healthy();
        break;
      case SendResult::rejected:
        spool.pop_front();
        note_rejected(*b);
        mark_healthy();
        break;
      case SendResult::retry: mark_failed(); break;
    }
    return true;
  }

  template <class F>
  void guarded(const char* name, F&& f) {
    // Exceptions are caught once, at the top of the thread: one escaping would end the
    // process (std::terminate), which telemetry must never do to the edge.
    try {
      f();
    } catch (const std::exception& e) {
      log::error("edge_telemetry_thread_failed", {{"thread", name}, {"error", e.what()}});
    }
  }
};

Pipeline::Pipeline(Options opts, Encoder encoder, Sender sender, const core::Clock& clock)
    : impl_(std::make_unique<Impl>(std::move(opts), std::move(encoder), std::move(sender), clock)) {}

Pipeline::~Pipeline() { stop(); }

void Pipeline::start() {
  std::lock_guard lk(impl_->lifecycle_mu);
  if (impl_->started || impl_->stopped) return;
  impl_->started = true;
  impl_->flusher = std::thread([this] { impl_->guarded("flusher", [this] { impl_->run_flusher(); }); });
  impl_->shipper = std::thread([this] { impl_->guarded("shipper", [this] { impl_->run_shipper(); }); });
}

void Pipeline::stop() {
  std::lock_guard lk(impl_->lifecycle_mu);
  if (impl_->stopped) return;
  impl_->stopped = true;
  if (impl_->started) {
    // The grace starts before the queue closes: once enqueue() refuses, it is running.
    std::lock_guard m(impl_->mu);
    impl_->stopping = true;
    impl_->stop_deadline = impl_->clock.steady_now() + impl_->opts.stop_grace;
  }
  {
    std::lock_guard q(impl_->qmu);
    impl_->accepting = false;
    impl_->qstop = true;
  }
  impl_->qcv.notify_all();
  if (!impl_->started) {
    // Never started: nothing was sent or spooled; whatever was queued is lost, counted.
    std::lock_guard q(impl_->qmu);
    const uint64_t n = impl_->queued.exchange(0, std::memory_order_relaxed);
    impl_->dropped_total.fetch_add(n, std::memory_order_relaxed);
    impl_->open = Chunk{};
    impl_->full.clear();
    return;
  }
  impl_->scv.notify_all();
  if (impl_->flusher.joinable()) impl_->flusher.join();
  {
    std::lock_guard m(impl_->mu);
    impl_->flusher_done = true;
  }
  impl_->scv.notify_all();
  if (impl_->shipper.joinable()) impl_->shipper.join();
}

bool Pipeline::enqueue(store::PlaybackEvent&& event) noexcept { return put(std::move(event)); }
bool Pipeline::enqueue(const store::PlaybackEvent& event) noexcept { return put(event); }

template <class E>
bool Pipeline::put(E&& event) noexcept {
  Impl& m = *impl_;
  m.enqueued_total.fetch_add(1, std::memory_order_relaxed);
  bool wake = false;
  {
    std::lock_guard lk(m.qmu);
    // queued counts every event still in memory (queue, batches, outbox), so the bound
    // holds for memory as a whole; only this path increments it, under qmu.
    if (m.accepting && m.queued.load(std::memory_order_relaxed) < m.opts.queue_capacity) {
      try {
        m.open.put(std::forward<E>(event));  // a reused slot, or reserved space
      } catch (...) {
        m.dropped_total.fetch_add(1, std::memory_order_relaxed);
        return false;
      }
      m.queued.fetch_add(1, std::memory_order_relaxed);
      if (m.open.n >= m.opts.batch_size) {
        // A full chunk is a batch: hand it over and wake the flusher (once per batch,
        // not per event).
        try {
          m.full.push_back(std::move(m.open));
          m.open = m.take_spare_locked();
        } catch (...) {
          // Out of memory: `open` keeps growing by reallocation until memory returns.
        }
        wake = true;
      }
    } else {
      m.dropped_total.fetch_add(1, std::memory_order_relaxed);
      return false;
    }
  }
  if (wake) m.qcv.notify_one();
  return true;
}

Stats Pipeline::stats() const {
  const Impl& m = *impl_;
  Stats s;
  s.queued = m.queued.load(std::memory_order_relaxed);
  s.enqueued_total = m.enqueued_total.load(std::memory_order_relaxed);
  s.sent_total = m.sent_total.load(std::memory_order_relaxed);
  s.spooled_total = m.spooled_total.load(std::memory_order_relaxed);
  s.replayed_total = m.replayed_total.load(std::memory_order_relaxed);
  s.dropped_total = m.dropped_total.load(std::memory_order_relaxed);
  s.rejected_total = m.rejected_total.load(std::memory_order_relaxed);
  s.spool_bytes = m.spool.bytes();
  s.send_failures_total = m.send_failures_total.load(std::memory_order_relaxed);
  return s;
}

}  // namespace rend::telemetry
