#include "telemetry/ingest_buffer.h"

#include <exception>
#include <iterator>
#include <utility>

#include "core/log.h"

namespace rend::telemetry {

IngestBuffer::Ticket::~Ticket() {
  if (buf_) buf_->release(*this);
}

IngestBuffer::IngestBuffer(store::AnalyticsStore& store, Options opts, const core::Clock& clock)
    : store_(store), opts_(opts), clock_(clock) {
  stats_.since = clock_.steady_now();
  flusher_ = std::thread([this] { run(); });
}

IngestBuffer::~IngestBuffer() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  work_cv_.notify_one();
  flusher_.join();
  std::unique_lock lock(mu_);
  clock_.wait(lock, released_cv_, [&] { return admitted_ == 0; });
}

std::optional<IngestBuffer::Ticket> IngestBuffer::admit() {
  std::lock_guard lock(mu_);
  if (stopping_ || admitted_ >= opts_.max_admitted) return std::nullopt;
  ++admitted_;
  ++decoding_;
  return Ticket(this);
}

void IngestBuffer::release(Ticket& t) {
  std::lock_guard lock(mu_);
  --admitted_;
  released_cv_.notify_all();
  if (!t.submitted_) {
    // Refused (bad batch) or abandoned: the flusher may have been waiting for it.
    --decoding_;
    work_cv_.notify_one();
  }
}

bool IngestBuffer::submit(Ticket& ticket, std::vector<store::PlaybackEvent> events) {
  std::unique_lock lock(mu_);
  if (ticket.submitted_) return false;  // one batch per ticket
  ticket.submitted_ = true;
  --decoding_;
  if (events.empty() || stopping_) {
    work_cv_.notify_one();
    return events.empty();
  }
  if (pending_.empty()) pending_ = std::move(events);
  else pending_.insert(pending_.end(), std::make_move_iterator(events.begin()), std::make_move_iterator(events.end()));
  auto flush = next_;
  ++waiters_;
  work_cv_.notify_one();
  clock_.wait(lock, done_cv_, [&] { return flush->done; });
  return flush->ok;
}

// Caller holds mu_ and pending_ is not empty.
bool IngestBuffer::due(core::SteadyTime now) const {
  if (stopping_ || pending_.size() >= opts_.flush_events) return true;
  if (now >= last_flush_ + opts_.max_delay) return true;
  if (decoding_ > 0) return false;  // a batch is on its way: let it join
  return now >= last_flush_ + opts_.min_interval || admitted_ >= opts_.max_admitted;
}

void IngestBuffer::run() {
  std::unique_lock lock(mu_);
  for (;;) {
    clock_.wait(lock, work_cv_, [&] { return stopping_ || !pending_.empty(); });
    if (pending_.empty()) return;  // stopping, nothing left to write
    auto now = clock_.steady_now();
    if (!due(now)) {
      // Woken early by a submit, a refused batch or shutdown; else at the next deadline.
      clock_.wait_until(lock, work_cv_,
                        decoding_ > 0 ? last_flush_ + opts_.max_delay : last_flush_ + opts_.min_interval);
      continue;
    }

    std::vector<store::PlaybackEvent> events;
    events.swap(pending_);
    auto flush = std::exchange(next_, std::make_shared<Flush>());
    size_t requests = std::exchange(waiters_, 0);
    last_flush_ = now;
    lock.unlock();

    bool ok = false;
    auto started = clock_.steady_now();
    try {
      store_.insert(events);
      ok = true;
    } catch (const std::exception& e) {
      // The message is the store's (ClickHouse/SQLite); it never carries credentials.
      core::log::error("telemetry_insert_failed",
                       {{"events", uint64_t(events.size())}, {"requests", uint64_t(requests)}, {"error", e.what()}});
    } catch (...) {
      core::log::error("telemetry_insert_failed", {{"events", uint64_t(events.size())},
                                                   {"requests", uint64_t(requests)},
                                                   {"error", "unknown exception"}});
    }
    record(ok, requests, events.size(), clock_.steady_now() - started);
    // Free the rows before taking the lock: destroying thousands of strings is not
    // something the submitters should wait behind.
    std::vector<store::PlaybackEvent>().swap(events);

    lock.lock();
    flush->done = true;
    flush->ok = ok;
    done_cv_.notify_all();
  }
}

void IngestBuffer::record(bool ok, size_t requests, size_t events, core::SteadyTime::duration took) {
  auto& st = stats_;
  st.flushes += 1;
  st.failed += ok ? 0 : 1;
  st.requests += requests;
  st.events += events;
  st.insert_time += took;
  auto now = clock_.steady_now();
  // One line a minute at most: enough to see the ingest rate and insert sizes (what
  // this class trades against latency) without a line per flush.
  if (now - st.since < std::chrono::seconds(60)) return;
  auto ms = [](auto d) { return int64_t(std::chrono::duration_cast<std::chrono::milliseconds>(d).count()); };
  core::log::info("telemetry_ingest_stats", {{"seconds", ms(now - st.since) / 1000},
                                             {"batches", st.requests},
                                             {"events", st.events},
                                             {"inserts", st.flushes},
                                             {"failed_inserts", st.failed},
                                             {"events_per_insert", int64_t(st.events / st.flushes)},
                                             {"insert_ms_avg", ms(st.insert_time) / int64_t(st.flushes)}});
  st = Stats{};
  st.since = now;
}

}  // namespace rend::telemetry
