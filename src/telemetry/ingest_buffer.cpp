#include "telemetry/ingest_buffer.h"

#include <fcntl.h>
#include <sys/file.h>

#include <algorithm>
#include <cstring>
#include <exception>
#include <filesystem>
#include <iterator>
#include <stdexcept>
#include <utility>

#include "core/log.h"
#include "telemetry/spool.h"
#include "telemetry/wire.h"

namespace rend::telemetry {

namespace {

// A journal record is the bodies of the batches one flush answered, each framed as
// u32 length (little-endian) | body. The spool checks each record's CRC.
void append_framed(std::string& record, std::string_view body) {
  uint32_t n = uint32_t(body.size());
  char len[4] = {char(n & 0xff), char((n >> 8) & 0xff), char((n >> 16) & 0xff), char((n >> 24) & 0xff)};
  record.append(len, 4);
  record.append(body);
}

// The events of a journal record; batches that no longer decode are logged and skipped
// (they were valid when journaled; the record's CRC matched, so this is not expected).
std::vector<store::PlaybackEvent> decode_record(std::string_view record) {
  std::vector<store::PlaybackEvent> out;
  while (record.size() >= 4) {
    auto b = reinterpret_cast<const unsigned char*>(record.data());
    size_t n = size_t(b[0]) | size_t(b[1]) << 8 | size_t(b[2]) << 16 | size_t(b[3]) << 24;
    record.remove_prefix(4);
    if (n > record.size()) break;
    auto batch = decode_batch(record.substr(0, n), SIZE_MAX);
    record.remove_prefix(n);
    if (!batch.ok()) {
      core::log::error("telemetry_journal_batch_unreadable", {{"error", batch.error}});
      continue;
    }
    if (out.empty()) out = std::move(batch.events);
    else
      out.insert(out.end(), std::make_move_iterator(batch.events.begin()), std::make_move_iterator(batch.events.end()));
  }
  return out;
}

}  // namespace

IngestBuffer::Ticket::~Ticket() {
  if (buf_) buf_->release(*this);
}

IngestBuffer::IngestBuffer(store::AnalyticsStore& store, Options opts, const core::Clock& clock)
    : store_(store), opts_(std::move(opts)), clock_(clock) {
  stats_.since = clock_.steady_now();
  if (!opts_.journal_dir.empty()) {
    // Two processes appending to and deleting from one journal would lose events, so
    // each takes a slot of its own under an flock: the configured directory, else
    // "<dir>.1", "<dir>.2"... (several `rend api` processes may share a data directory).
    // A restarted process takes the first free slot, which is the one a crashed process
    // left when it was the only one to die, and replays it.
    for (int slot = 0; slot < kJournalSlots && journal_path_.empty(); ++slot) {
      std::string dir = slot == 0 ? opts_.journal_dir : opts_.journal_dir + "." + std::to_string(slot);
      std::error_code ec;
      std::filesystem::create_directories(dir, ec);
      store::posix::UniqueFd fd(::open((dir + "/lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
      if (!fd)
        throw std::runtime_error("telemetry journal " + dir + ": cannot open its lock (" + std::strerror(errno) + ")");
      if (::flock(fd.get(), LOCK_EX | LOCK_NB) == 0) {
        journal_lock_ = std::move(fd);
        journal_path_ = dir;
      } else if (errno != EWOULDBLOCK) {
        throw std::runtime_error("telemetry journal " + dir + ": cannot lock it (" + std::strerror(errno) + ")");
      }
    }
    if (journal_path_.empty())
      throw std::runtime_error("telemetry journal " + opts_.journal_dir + ": all " + std::to_string(kJournalSlots) +
                               " slots are in use by other rend api processes on this data directory");
    journal_ = std::make_unique<Spool>(SpoolOptions{.dir = journal_path_, .max_bytes = opts_.journal_max_bytes});
    // What an earlier process answered but did not store goes first; nothing new is
    // admitted meanwhile (the spool cannot tell its records from new ones).
    replaying_ = !journal_->empty();
    inserter_ = std::thread([this] { run_inserter(); });
  }
  flusher_ = std::thread([this] { run(); });
}

IngestBuffer::~IngestBuffer() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  work_cv_.notify_one();
  flusher_.join();
  if (inserter_.joinable()) {
    {
      std::lock_guard lock(mu_);
      flusher_done_ = true;
    }
    insert_cv_.notify_one();
    inserter_.join();
  }
  std::unique_lock lock(mu_);
  clock_.wait(lock, released_cv_, [&] { return admitted_ == 0; });
}

std::optional<IngestBuffer::Ticket> IngestBuffer::admit() {
  std::lock_guard lock(mu_);
  if (stopping_ || replaying_ || admitted_ >= opts_.max_admitted) return std::nullopt;
  ++admitted_;
  ++decoding_;
  last_admit_ = clock_.steady_now();
  return Ticket(this);
}

void IngestBuffer::release(Ticket& t) {
  std::lock_guard lock(mu_);
  --admitted_;
  last_admit_ = clock_.steady_now();
  released_cv_.notify_all();
  if (admitted_ == 0) insert_cv_.notify_one();  // the quiet_delay starts
  if (!t.submitted_) {
    // Refused (bad batch) or abandoned: the flusher may have been waiting for it.
    --decoding_;
    work_cv_.notify_one();
  }
}

bool IngestBuffer::submit(Ticket& ticket, std::vector<store::PlaybackEvent> events, std::string_view body) {
  std::unique_lock lock(mu_);
  if (ticket.submitted_) return false;  // one batch per ticket
  ticket.submitted_ = true;
  --decoding_;
  if (events.empty() || stopping_) {
    work_cv_.notify_one();
    return events.empty();
  }
  if (journaled()) {
    // Refused, not journaled: the edge keeps the batch and retries.
    if (store_failing_ || unstored_events_ + pending_.size() + events.size() > opts_.max_unstored_events) {
      work_cv_.notify_one();
      return false;
    }
    append_framed(pending_record_, body);
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
    if (journaled()) {
      std::string record;
      record.swap(pending_record_);
      // Counted as unstored from here, so submit() refuses what would overrun the bound.
      unstored_events_ += events.size();
      lock.unlock();
      bool ok = journal_->append(record) == Spool::AppendResult::ok;
      if (!ok) core::log::error("telemetry_journal_append_failed", {{"events", uint64_t(events.size())}});
      std::string().swap(record);
      lock.lock();
      if (ok) {
        queued_events_ += events.size();
        unstored_.push_back(Group{.events = std::move(events), .records = 1, .since = clock_.steady_now()});
        ++journaled_groups_;
        insert_cv_.notify_one();
      } else {
        unstored_events_ -= events.size();
      }
      flush->done = true;
      flush->ok = ok;
      done_cv_.notify_all();
      continue;
    }
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

// Caller holds mu_.
bool IngestBuffer::insert_due(core::SteadyTime now) const {
  if (unstored_.empty()) return false;
  if (store_failing_ && now < retry_at_ && !flusher_done_) return false;
  if (flusher_done_ || syncs_ > 0 || queued_events_ >= opts_.insert_events) return true;
  return now >= next_insert_at();
}

// Caller holds mu_ and unstored_ is not empty: when the oldest journaled events are due
// without a threshold being reached (insert_delay, or quiet_delay with nothing admitted).
core::SteadyTime IngestBuffer::next_insert_at() const {
  auto at = unstored_.front().since + opts_.insert_delay;
  if (opts_.quiet_delay.count() > 0 && admitted_ == 0 && pending_.empty())
    at = std::min(at, std::max(last_admit_, unstored_.front().since) + opts_.quiet_delay);
  return at;
}

void IngestBuffer::replay() {
  size_t records = 0, events = 0;
  for (;;) {
    auto record = journal_->front();
    if (!record) break;
    auto batch = decode_record(*record);
    for (;;) {
      try {
        if (!batch.empty()) store_.insert(batch);
        break;
      } catch (const std::exception& e) {
        core::log::error("telemetry_journal_replay_failed", {{"events", uint64_t(batch.size())}, {"error", e.what()}});
      }
      std::unique_lock lock(mu_);
      store_failing_ = true;
      ++failed_inserts_;
      stored_cv_.notify_all();
      if (clock_.wait_until(lock, insert_cv_, clock_.steady_now() + opts_.retry_delay, [&] { return flusher_done_; }))
        return;  // shutting down: the record stays for the next start
    }
    journal_->pop_front();
    ++records;
    events += batch.size();
  }
  if (records)
    core::log::info("telemetry_journal_replayed", {{"records", uint64_t(records)}, {"events", uint64_t(events)}});
}

void IngestBuffer::run_inserter() {
  if (replaying_) {
    replay();
    std::lock_guard lock(mu_);
    replaying_ = false;
    store_failing_ = false;
    stored_cv_.notify_all();
  }
  std::unique_lock lock(mu_);
  for (;;) {
    auto now = clock_.steady_now();
    if (!insert_due(now)) {
      if (flusher_done_ && unstored_.empty()) return;
      if (unstored_.empty()) clock_.wait_until(lock, insert_cv_, core::SteadyTime::max());
      else clock_.wait_until(lock, insert_cv_, store_failing_ ? retry_at_ : next_insert_at());
      continue;
    }
    // Everything journaled so far, in one insert; merged outside the lock, in one
    // allocation (submitters need the lock; moving 100k events takes a while).
    std::deque<Group> taken;
    taken.swap(unstored_);
    const size_t n = std::exchange(queued_events_, 0);
    bool last_chance = flusher_done_;
    lock.unlock();
    Group g = std::move(taken.front());
    g.events.reserve(n);
    for (size_t i = 1; i < taken.size(); ++i) {
      g.events.insert(g.events.end(), std::make_move_iterator(taken[i].events.begin()),
                      std::make_move_iterator(taken[i].events.end()));
      g.records += taken[i].records;
    }
    taken.clear();

    bool ok = false;
    auto started = clock_.steady_now();
    try {
      insert_parts(g.events);
      ok = true;
    } catch (const std::exception& e) {
      // The message is the store's (ClickHouse/SQLite); it never carries credentials.
      core::log::error("telemetry_insert_failed",
                       {{"events", uint64_t(g.events.size())}, {"journaled", true}, {"error", e.what()}});
    } catch (...) {
      core::log::error("telemetry_insert_failed",
                       {{"events", uint64_t(g.events.size())}, {"journaled", true}, {"error", "unknown exception"}});
    }
    if (ok) {
      // Stored: its journal records go (the oldest ones, in the order they were written).
      for (size_t i = 0; i < g.records; ++i) {
        journal_->skip_front();
        journal_->pop_front();
      }
    }
    lock.lock();
    record(ok, g.records, g.events.size(), clock_.steady_now() - started);
    if (ok) {
      unstored_events_ -= g.events.size();
      stored_groups_ += g.records;
      store_failing_ = false;
      lock.unlock();
      std::vector<store::PlaybackEvent>().swap(g.events);
      lock.lock();
      stored_cv_.notify_all();
    } else {
      store_failing_ = true;
      ++failed_inserts_;
      retry_at_ = clock_.steady_now() + opts_.retry_delay;
      stored_cv_.notify_all();
      // Shutting down: the events stay in the journal for the next start.
      if (last_chance) return;
      queued_events_ += g.events.size();
      unstored_.push_front(std::move(g));
    }
  }
}

void IngestBuffer::insert_parts(std::vector<store::PlaybackEvent>& events) {
  const size_t parts =
      std::min(opts_.parallel_inserts, events.size() / std::max<size_t>(opts_.insert_events, size_t(1)));
  if (parts <= 1) {
    store_.insert(events);
    return;
  }
  // The later parts move into vectors of their own (the store takes whole vectors) and
  // back again should any insert fail: the whole group is retried (rows a successful
  // part stored are then stored twice, which the store's event_id deduplication absorbs).
  const size_t per = events.size() / parts;
  std::vector<std::vector<store::PlaybackEvent>> tails(parts - 1);
  for (size_t k = parts - 1; k >= 1; --k) {
    const auto from = events.begin() + std::ptrdiff_t(k * per);
    tails[k - 1].assign(std::make_move_iterator(from), std::make_move_iterator(events.end()));
    events.erase(from, events.end());
  }
  std::vector<std::exception_ptr> errors(parts);
  std::vector<std::thread> threads;
  for (size_t k = 0; k + 1 < parts; ++k)
    threads.emplace_back([&, k] {
      try {
        store_.insert(tails[k]);
      } catch (...) {
        errors[k + 1] = std::current_exception();
      }
    });
  try {
    store_.insert(events);
  } catch (...) {
    errors[0] = std::current_exception();
  }
  for (auto& t : threads) t.join();
  for (const auto& e : errors) {
    if (!e) continue;
    for (auto& tail : tails)
      events.insert(events.end(), std::make_move_iterator(tail.begin()), std::make_move_iterator(tail.end()));
    std::rethrow_exception(e);
  }
  for (auto& tail : tails)  // for the caller's count of what was stored
    events.insert(events.end(), std::make_move_iterator(tail.begin()), std::make_move_iterator(tail.end()));
}

bool IngestBuffer::sync(std::chrono::milliseconds timeout) {
  if (!journaled()) return true;
  std::unique_lock lock(mu_);
  const uint64_t target = journaled_groups_;
  auto deadline = clock_.steady_now() + timeout;
  const uint64_t failures = failed_inserts_;
  auto done = [&] { return !replaying_ && stored_groups_ >= target; };
  if (done()) return true;
  // The store is away until the next retry: say so now. (Waiting for "the next failure"
  // would miss the one that already happened, and hold the reader for the whole timeout.)
  if (store_failing_ && clock_.steady_now() < retry_at_) return false;
  ++syncs_;
  insert_cv_.notify_one();
  // Gives up at the first insert that fails after the call: the store is away.
  bool ok =
      clock_.wait_until(lock, stored_cv_, deadline, [&] { return done() || failed_inserts_ > failures; }) && done();
  --syncs_;
  return ok;
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
