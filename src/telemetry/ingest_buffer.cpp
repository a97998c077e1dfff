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

// The rows of a binary v1 body the caller produced or checked (header only: the rows
// were checked by check_binary_batch or encoded here).
std::optional<store::PackedRows> packed_of(std::string_view body) {
  if (!is_binary_batch(body)) return std::nullopt;
  store::RowReader r(body.substr(kBinaryMagic.size()));
  store::PackedRows out;
  std::string_view edge_id;
  uint32_t count = 0;
  constexpr uint64_t kAny = ~uint64_t(0);
  if (!r.str(out.batch_id, kAny) || !r.str(edge_id, kAny) || !r.fixed(count)) return std::nullopt;
  out.rows = std::string_view(r.pos(), r.left());
  out.count = count;
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

bool IngestBuffer::submit(Ticket& ticket, std::vector<store::PlaybackEvent> events, std::string_view) {
  if (journaled() && !events.empty()) {
    // A JSON batch (an older edge): journaled as packed rows like a binary one, so the
    // inserter has one kind of record. Built outside the lock.
    const std::string packed = encode_batch_binary(events.front().batch_id, events);
    auto rows = packed_of(packed);
    return rows && submit(ticket, *rows, packed);
  }
  std::unique_lock lock(mu_);
  if (ticket.submitted_) return false;  // one batch per ticket
  ticket.submitted_ = true;
  --decoding_;
  if (events.empty() || stopping_) {
    work_cv_.notify_one();
    return events.empty();
  }
  pending_events_ += events.size();
  if (pending_.empty()) pending_ = std::move(events);
  else pending_.insert(pending_.end(), std::make_move_iterator(events.begin()), std::make_move_iterator(events.end()));
  return wait_for_flush(lock);
}

bool IngestBuffer::submit(Ticket& ticket, const store::PackedRows& rows, std::string_view body) {
  if (!journaled()) {
    // The embedded store inserts events; the rows were checked, so this cannot throw
    // short of a bug (then the ticket stays unsubmitted and the handler answers 503).
    std::vector<store::PlaybackEvent> events;
    events.reserve(rows.count);
    try {
      store::unpack_rows(rows, events);
    } catch (const std::exception& e) {
      core::log::error("telemetry_rows_unreadable", {{"error", e.what()}});
      return false;
    }
    return submit(ticket, std::move(events));
  }
  std::unique_lock lock(mu_);
  if (ticket.submitted_) return false;
  ticket.submitted_ = true;
  --decoding_;
  if (rows.count == 0 || stopping_) {
    work_cv_.notify_one();
    return rows.count == 0;
  }
  // Refused, not journaled: the edge keeps the batch and retries.
  if (store_failing_ || unstored_events_ + pending_events_ + rows.count > opts_.max_unstored_events) {
    work_cv_.notify_one();
    return false;
  }
  // The body is journaled as it arrived; its rows are found again by offset.
  const size_t at = pending_record_.size() + 4;
  append_framed(pending_record_, body);
  pending_spans_.push_back(Span{.batch_id_at = at + size_t(rows.batch_id.data() - body.data()),
                                .batch_id_len = rows.batch_id.size(),
                                .rows_at = at + size_t(rows.rows.data() - body.data()),
                                .rows_len = rows.rows.size(),
                                .count = rows.count});
  pending_events_ += rows.count;
  return wait_for_flush(lock);
}

// Caller holds `lock` and has added its events to the pending ones: waits for the flush
// that takes them.
bool IngestBuffer::wait_for_flush(std::unique_lock<std::mutex>& lock) {
  auto flush = next_;
  ++waiters_;
  work_cv_.notify_one();
  clock_.wait(lock, done_cv_, [&] { return flush->done; });
  return flush->ok;
}

// Caller holds mu_ and pending_ is not empty.
bool IngestBuffer::due(core::SteadyTime now) const {
  if (stopping_ || pending_events_ >= opts_.flush_events) return true;
  if (now >= last_flush_ + opts_.max_delay) return true;
  if (decoding_ > 0) return false;  // a batch is on its way: let it join
  return now >= last_flush_ + opts_.min_interval || admitted_ >= opts_.max_admitted;
}

void IngestBuffer::run() {
  std::unique_lock lock(mu_);
  for (;;) {
    clock_.wait(lock, work_cv_, [&] { return stopping_ || pending_events_ > 0; });
    if (pending_events_ == 0) return;  // stopping, nothing left to write
    auto now = clock_.steady_now();
    if (!due(now)) {
      // Woken early by a submit, a refused batch or shutdown; else at the next deadline.
      clock_.wait_until(lock, work_cv_,
                        decoding_ > 0 ? last_flush_ + opts_.max_delay : last_flush_ + opts_.min_interval);
      continue;
    }

    std::vector<store::PlaybackEvent> events;
    events.swap(pending_);
    const size_t count = std::exchange(pending_events_, 0);
    auto flush = std::exchange(next_, std::make_shared<Flush>());
    size_t requests = std::exchange(waiters_, 0);
    last_flush_ = now;
    if (journaled()) {
      auto record = std::make_unique<std::string>();
      record->swap(pending_record_);
      std::vector<Span> spans;
      spans.swap(pending_spans_);
      // Counted as unstored from here, so submit() refuses what would overrun the bound.
      unstored_events_ += count;
      lock.unlock();
      bool ok = journal_->append(*record) == Spool::AppendResult::ok;
      if (!ok) core::log::error("telemetry_journal_append_failed", {{"events", uint64_t(count)}});
      // The record's bytes are what the inserter sends (no copy into events).
      Group g{.events = count, .records = 1};
      if (ok) {
        g.batches.reserve(spans.size());
        for (const auto& sp : spans)
          g.batches.push_back(store::PackedRows{std::string_view(*record).substr(sp.batch_id_at, sp.batch_id_len),
                                                std::string_view(*record).substr(sp.rows_at, sp.rows_len), sp.count});
        g.data.push_back(std::move(record));
      }
      lock.lock();
      if (ok) {
        queued_events_ += count;
        g.since = clock_.steady_now();
        unstored_.push_back(std::move(g));
        ++journaled_groups_;
        insert_cv_.notify_one();
      } else {
        unstored_events_ -= count;
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
  if (opts_.quiet_delay.count() > 0 && admitted_ == 0 && pending_events_ == 0)
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
    queued_events_ = 0;
    bool last_chance = flusher_done_;
    lock.unlock();
    Group g = std::move(taken.front());
    for (size_t i = 1; i < taken.size(); ++i) {
      for (auto& d : taken[i].data) g.data.push_back(std::move(d));
      g.batches.insert(g.batches.end(), taken[i].batches.begin(), taken[i].batches.end());
      g.events += taken[i].events;
      g.records += taken[i].records;
    }
    taken.clear();

    bool ok = false;
    auto started = clock_.steady_now();
    try {
      insert_parts(g.batches, g.events);
      ok = true;
    } catch (const std::exception& e) {
      // The message is the store's (ClickHouse/SQLite); it never carries credentials.
      core::log::error("telemetry_insert_failed",
                       {{"events", uint64_t(g.events)}, {"journaled", true}, {"error", e.what()}});
    } catch (...) {
      core::log::error("telemetry_insert_failed",
                       {{"events", uint64_t(g.events)}, {"journaled", true}, {"error", "unknown exception"}});
    }
    if (ok) {
      // Stored: its journal records go (the oldest ones, in the order they were written).
      for (size_t i = 0; i < g.records; ++i) {
        journal_->skip_front();
        journal_->pop_front();
      }
    }
    lock.lock();
    record(ok, g.records, g.events, clock_.steady_now() - started);
    if (ok) {
      unstored_events_ -= g.events;
      stored_groups_ += g.records;
      store_failing_ = false;
      lock.unlock();
      g = Group{};  // frees the records' bytes outside the lock
      lock.lock();
      stored_cv_.notify_all();
    } else {
      store_failing_ = true;
      ++failed_inserts_;
      retry_at_ = clock_.steady_now() + opts_.retry_delay;
      stored_cv_.notify_all();
      // Shutting down: the events stay in the journal for the next start.
      if (last_chance) return;
      queued_events_ += g.events;
      unstored_.push_front(std::move(g));
    }
  }
}

void IngestBuffer::insert_parts(const std::vector<store::PackedRows>& batches, size_t events) {
  const size_t parts = std::min(opts_.parallel_inserts, events / std::max<size_t>(opts_.insert_events, size_t(1)));
  if (parts <= 1) {
    store_.insert_packed(batches);
    return;
  }
  // `parts` lists of about events/parts rows each; a batch that straddles a boundary is
  // cut between two rows (views, nothing copied). Should any insert fail the whole
  // group is retried (rows a successful part stored are then stored twice, which the
  // store's event_id deduplication absorbs).
  const size_t per = events / parts;
  std::vector<std::vector<store::PackedRows>> lists(parts);
  size_t k = 0, in_list = 0;
  for (store::PackedRows b : batches) {
    while (b.count > 0) {
      const size_t room = k + 1 == parts ? b.count : per - in_list;
      if (b.count <= room) {
        lists[k].push_back(b);
        in_list += b.count;
        break;
      }
      store::RowReader r(b.rows);
      if (!store::skip_rows(r, room)) throw std::runtime_error("journaled telemetry rows are truncated");
      const size_t head = size_t(r.pos() - b.rows.data());
      lists[k].push_back(store::PackedRows{b.batch_id, b.rows.substr(0, head), room});
      b.rows.remove_prefix(head);
      b.count -= room;
      ++k;
      in_list = 0;
    }
    if (in_list == per && k + 1 < parts) {
      ++k;
      in_list = 0;
    }
  }
  std::vector<std::exception_ptr> errors(parts);
  std::vector<std::thread> threads;
  for (size_t i = 1; i < parts; ++i)
    threads.emplace_back([&, i] {
      try {
        if (!lists[i].empty()) store_.insert_packed(lists[i]);
      } catch (...) {
        errors[i] = std::current_exception();
      }
    });
  try {
    store_.insert_packed(lists[0]);
  } catch (...) {
    errors[0] = std::current_exception();
  }
  for (auto& t : threads) t.join();
  for (const auto& e : errors)
    if (e) std::rethrow_exception(e);
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
