#include "edge/cache.h"

#include <fcntl.h>
#include <pthread.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <stdexcept>

#include "core/crypto.h"
#include "core/log.h"
#include "hls/playlist.h"

namespace fs = std::filesystem;

namespace rend::edge {
namespace {

// Fill workers started with the cache; beyond them (a larger max_in_flight_fills),
// workers start when a fill finds none idle.
constexpr size_t kPrestartedWorkers = 64;

// Misses remembered at most (a viewer can name any number of missing keys).
constexpr size_t kMaxNegativeEntries = 65536;

std::string make_etag(uint64_t size, int64_t filled_ms) {
  char tag[64];
  std::snprintf(tag, sizeof tag, "\"%llx-%llx\"", (unsigned long long)size, (unsigned long long)filled_ms);
  return tag;
}

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

std::shared_ptr<const std::string> read_small(int fd, uint64_t size) {
  auto s = std::make_shared<std::string>(size, '\0');
  uint64_t off = 0;
  while (off < size) {
    ssize_t n = ::pread(fd, s->data() + off, size - off, static_cast<off_t>(off));
    if (n <= 0) return nullptr;
    off += uint64_t(n);
  }
  return s;
}

}  // namespace

// ---- Fill ----

Fill::~Fill() {
  if (fd_ >= 0) ::close(fd_);
}

void Fill::fire(std::unique_lock<std::mutex>& lk) {
  std::vector<std::function<void()>> waiters;
  waiters.swap(waiters_);
  lk.unlock();
  cv_.notify_all();
  for (auto& w : waiters) w();
}

void Fill::set_streaming(uint64_t size, std::string etag) {
  std::unique_lock lk(mu_);
  size_ = size;
  etag_ = std::move(etag);
  state_ = State::streaming;
  streamed_ = true;
  fire(lk);
}

void Fill::add_written(uint64_t n) {
  std::unique_lock lk(mu_);
  written_ += n;
  fire(lk);
}

void Fill::finish(State s) {
  std::unique_lock lk(mu_);
  state_ = s;
  fire(lk);
}

Fill::Progress Fill::progress() const {
  std::lock_guard lk(mu_);
  return {state_, written_};
}

void Fill::notify_on_change(const Progress& seen, std::function<void()> changed) {
  {
    std::lock_guard lk(mu_);
    if (state_ == seen.state && written_ == seen.written && state_ != State::complete && state_ != State::failed) {
      waiters_.push_back(std::move(changed));
      return;
    }
  }
  changed();
}

std::optional<FillStatus> Fill::outcome() const {
  std::lock_guard lk(mu_);
  if (state_ == State::pending) return std::nullopt;
  if (streamed_) return FillStatus::filled;
  return early_status_;
}

FillReader::ReadResult FillReader::readable(size_t n) {
  using RS = ReadStatus;
  const Fill::Progress p = fill_->progress();
  seen_ = p;
  const uint64_t end = fill_->size();
  if (left_ == 0) {
    // Every byte handed out; the last one of the object only after the landing (below).
    if (off_ != end || p.state == Fill::State::complete) return {RS::eof};
    if (p.state == Fill::State::failed) return {RS::error, 0, "origin fetch failed at the end of the object"};
    return {RS::would_block};
  }
  if (p.written > off_) {
    uint64_t want = std::min<uint64_t>({n, p.written - off_, left_});
    // The object's last byte waits for the landing: a viewer's next request after a
    // complete MISS is then a HIT. Everything before it goes out at once.
    if (off_ + want == end && p.state != Fill::State::complete) {
      if (p.state == Fill::State::failed) return {RS::error, 0, "origin fetch failed at the end of the object"};
      if (--want == 0) return {RS::would_block};
    }
    return {RS::data, size_t(want)};
  }
  // Bytes already on disk were served even if the fill failed later; the failure is
  // reported once the reader has caught up, so the body ends short, never padded.
  if (p.state == Fill::State::failed) return {RS::error, 0, "origin fetch failed mid-object"};
  if (p.state == Fill::State::complete) return {RS::error, 0, "cache fill ended before the announced length"};
  return {RS::would_block};
}

FillReader::ReadResult FillReader::try_read(char* buf, size_t n) {
  ReadResult r = readable(n);
  peeked_ = 0;
  if (r.status != ReadStatus::data) return r;
  size_t got = fill_->read_at(buf, r.bytes, off_);
  if (got == 0) return {ReadStatus::error, 0, "cache temp file shorter than written"};
  off_ += got;
  left_ -= got;
  return {ReadStatus::data, got};
}

std::optional<FillReader::ReadResult> FillReader::try_peek_file(FileSpan& span, size_t n) {
  ReadResult r = readable(n);
  peeked_ = r.status == ReadStatus::data ? r.bytes : 0;
  if (r.status == ReadStatus::data) {
    // Bytes exist only after set_streaming(), which set fd_ before progress() (under
    // the fill's lock) could show them.
    span.fd = fill_->fd_;
    span.offset = off_;
  }
  return r;
}

void FillReader::consume(size_t k) {
  // Never past what the last peek allowed: a caller's mistake must not skip bytes of
  // the object or run past the range.
  k = size_t(std::min<uint64_t>(k, peeked_));
  off_ += k;
  left_ -= k;
  peeked_ -= k;
}

Fill::State Fill::wait_started() {
  std::unique_lock lk(mu_);
  cv_.wait(lk, [&] { return state_ != State::pending; });
  return state_;
}

uint64_t Fill::wait_readable(uint64_t offset) {
  std::unique_lock lk(mu_);
  cv_.wait(lk, [&] { return written_ > offset || state_ == State::complete || state_ == State::failed; });
  // Bytes already on disk are served even if the fill failed later; the failure is
  // reported once the reader has caught up, so the body ends short, never padded.
  if (written_ > offset) return written_ - offset;
  if (state_ == State::failed) throw std::runtime_error("origin fetch failed mid-object");
  return 0;
}

size_t Fill::read_at(char* buf, size_t n, uint64_t offset) const {
  ssize_t got = ::pread(fd_, buf, n, static_cast<off_t>(offset));
  if (got < 0) throw std::runtime_error("cache temp read failed");
  return size_t(got);
}

// ---- DiskCache ----

// Monotonic milliseconds, for the negative cache's expiry times.
int64_t DiskCache::steady_ms() const {
  return std::chrono::duration_cast<std::chrono::milliseconds>(clock_.steady_now().time_since_epoch()).count();
}

DiskCache::DiskCache(CacheOptions opts, const core::Clock& clock) : opts_(std::move(opts)), clock_(clock) {
  fs::create_directories(opts_.dir + "/objects");
  std::error_code ec;
  fs::remove_all(opts_.dir + "/tmp", ec);  // partial fills from a previous run
  fs::create_directories(opts_.dir + "/tmp");
  rebuild_index();
  // The first storm after a start must not pay thread starts on the I/O thread either:
  // the usual pool (the default max, 64) starts here; a larger max grows on demand.
  std::unique_lock lk(jobs_mu_);
  try {
    while (workers_.size() < std::min(opts_.max_in_flight_fills, kPrestartedWorkers))
      workers_.emplace_back([this] { worker_loop(); });
  } catch (...) {
    // No destructor runs after a throwing constructor: the started workers end here.
    stopping_ = true;
    lk.unlock();
    jobs_cv_.notify_all();
    for (auto& t : workers_) t.join();
    throw;
  }
}

DiskCache::~DiskCache() {
  {
    std::unique_lock lk(mu_);
    clock_.wait(lk, slot_cv_, [&] { return running_fills_ == 0; });
  }
  std::vector<std::thread> workers;
  {
    std::lock_guard lk(jobs_mu_);
    stopping_ = true;
    workers.swap(workers_);
  }
  jobs_cv_.notify_all();
  for (auto& t : workers) t.join();
}

void DiskCache::queue_fill(FillJob job) {
  std::unique_lock lk(jobs_mu_);
  jobs_.push_back(std::move(job));
  // A worker, once started, serves fills until the cache ends: a miss pays no thread
  // start unless every worker started so far is busy. At most max_in_flight_fills
  // (the slots bound the jobs, so never more are needed).
  if (jobs_.size() > idle_workers_ && workers_.size() < opts_.max_in_flight_fills) {
    try {
      workers_.emplace_back([this] { worker_loop(); });
    } catch (const std::system_error& e) {
      if (workers_.empty()) {
        // No worker will ever run it: fail the fill now rather than leave its viewers waiting.
        FillJob lost = std::move(jobs_.back());
        jobs_.pop_back();
        lk.unlock();
        core::log::error("edge_fill_worker_failed", {{"error", e.what()}});
        abandon_fill(lost.key, lost.fill);
        return;
      }
      // Else an existing worker takes it when its fill ends.
    }
  }
  lk.unlock();
  jobs_cv_.notify_one();
}

void DiskCache::abandon_fill(const std::string& key, const std::shared_ptr<Fill>& fill) {
  {
    std::lock_guard lk(fill->mu_);
    fill->early_status_ = FillStatus::origin_error;
  }
  {
    std::lock_guard lk(mu_);
    if (auto f = flights_.find(key); f != flights_.end() && f->second == fill) flights_.erase(f);
    counters_.fill_failures_total++;
    running_fills_--;
    slot_cv_.notify_all();
  }
  fill->finish(Fill::State::failed);
}

void DiskCache::worker_loop() {
  // Named so that per-thread CPU (top -H, /proc/PID/task, perf) tells fills from the
  // threads serving viewers.
  pthread_setname_np(pthread_self(), "rend-fill");
  // One copy buffer per worker for its whole life: allocating (and zeroing, and
  // faulting in) 256 KiB per fill was a visible share of a fill storm's CPU.
  std::vector<char> buf(256 * 1024);
  for (;;) {
    FillJob job;
    {
      std::unique_lock lk(jobs_mu_);
      idle_workers_++;
      jobs_cv_.wait(lk, [&] { return stopping_ || !jobs_.empty(); });
      idle_workers_--;
      if (jobs_.empty()) return;  // stopping, and nothing left (the destructor waited for fills)
      job = std::move(jobs_.front());
      jobs_.pop_front();
    }
    run_fill(job, buf);  // renames or removes its temp file
    job = {};            // the fill's fd closes with its last reader, not with this worker
    std::lock_guard lk(mu_);
    running_fills_--;
    slot_cv_.notify_all();
  }
}

bool DiskCache::is_head(const std::string& key) {
  if (ends_with(key, ".m3u8")) return true;
  auto slash = key.rfind('/');
  std::string_view name = std::string_view(key).substr(slash == std::string::npos ? 0 : slash + 1);
  if (name.rfind("init", 0) == 0) return true;  // fMP4 init segment: needed before any media
  // The first two segments of a tier: the trailing number of the name is 0 or 1
  // (seg_00000.ts, seg_00001.m4s; our ladder numbers from 0).
  auto dot = name.rfind('.');
  if (dot == std::string_view::npos) return false;
  auto stem = name.substr(0, dot);
  size_t i = stem.size();
  while (i > 0 && stem[i - 1] >= '0' && stem[i - 1] <= '9') --i;
  if (i == stem.size()) return false;
  auto digits = stem.substr(i);
  uint64_t n = 0;
  for (char c : digits) {
    n = n * 10 + uint64_t(c - '0');
    if (n > 1) return false;
  }
  return true;
}

void DiskCache::rebuild_index() {
  struct Found {
    std::string key;
    uint64_t size;
    int64_t mtime_ms;
  };
  std::vector<Found> found;
  const fs::path root = opts_.dir + "/objects";
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(root, ec); !ec && it != fs::end(it); it.increment(ec)) {
    if (!it->is_regular_file(ec)) continue;
    struct stat st {};
    if (::stat(it->path().c_str(), &st) != 0) continue;
    found.push_back({fs::relative(it->path(), root).generic_string(), uint64_t(st.st_size),
                     int64_t(st.st_mtim.tv_sec) * 1000 + st.st_mtim.tv_nsec / 1000000});
  }
  // Oldest fill first, so the rebuilt LRU order approximates the old one.
  std::sort(found.begin(), found.end(),
            [](const Found& a, const Found& b) { return std::tie(a.mtime_ms, a.key) < std::tie(b.mtime_ms, b.key); });
  std::vector<Entry> entries(found.size());
  for (size_t i = 0; i < found.size(); ++i) {
    const auto& f = found[i];
    Entry& e = entries[i];
    e.size = f.size;
    e.filled_ms = f.mtime_ms;
    e.head = is_head(f.key);
    e.etag = make_etag(f.size, f.mtime_ms);
    if (ends_with(f.key, ".m3u8") && f.size <= opts_.memory_object_max_bytes) {
      int fd = ::open(path_of(f.key).c_str(), O_RDONLY | O_CLOEXEC);
      if (fd >= 0) {
        e.body = read_small(fd, f.size);
        ::close(fd);
      }
    }
  }
  const uint64_t free_now = opts_.min_free_bytes ? free_bytes() : UINT64_MAX;
  std::vector<Victim> victims;
  bool unfixable = false;
  uint64_t objects = 0, bytes = 0;
  {
    std::lock_guard lk(mu_);
    for (size_t i = 0; i < found.size(); ++i) {
      Entry& e = insert_locked(found[i].key, std::move(entries[i]));
      if (e.body) learn_segment_durations_locked(found[i].key, e);
    }
    unfixable = choose_victims_locked(nullptr, free_now, victims);
    objects = index_.size();
    bytes = bytes_;
  }
  remove_victims(victims);
  if (unfixable) warn_floor_unfixable(free_now);
  if (!found.empty()) core::log::info("edge_cache_index_rebuilt", {{"objects", objects}, {"bytes", bytes}});
}

DiskCache::Entry& DiskCache::insert_locked(const std::string& key, Entry e) {
  if (auto old = index_.find(key); old != index_.end()) erase_locked(old);
  e.tick = ++lru_tick_;
  auto [it, _] = index_.emplace(key, std::move(e));
  order_.emplace(it->second.head, it->second.tick, std::string_view(it->first));
  bytes_ += it->second.size;
  return it->second;
}

void DiskCache::erase_locked(std::unordered_map<std::string, Entry>::iterator it) {
  order_.erase(Order{it->second.head, it->second.tick, std::string_view(it->first)});
  bytes_ -= it->second.size;
  for (const auto& seg : it->second.taught) segment_seconds_.erase(seg);
  index_.erase(it);
}

void DiskCache::take_victim_locked(std::unordered_map<std::string, Entry>::iterator it, std::vector<Victim>& out) {
  counters_.evictions_total++;
  counters_.evicted_bytes_total += it->second.size;
  out.push_back({it->first, path_of(it->first), it->second.size});
  erase_locked(it);
}

uint64_t DiskCache::free_bytes() const {
  if (opts_.free_bytes_fn) return opts_.free_bytes_fn();
  struct statvfs sv {};
  if (::statvfs(opts_.dir.c_str(), &sv) != 0) return UINT64_MAX;
  return uint64_t(sv.f_bavail) * sv.f_frsize;
}

bool DiskCache::choose_victims_locked(const std::string* landed, uint64_t free_now, std::vector<Victim>& out) {
  // The size bound: eviction order, whatever it is (the object that just landed is
  // the most recent of its class, so it goes last within it).
  while (!order_.empty() && bytes_ > opts_.max_bytes)
    take_victim_locked(index_.find(std::string(std::get<2>(*order_.begin()))), out);

  // The free-space floor, from one statvfs taken before the lock.
  if (opts_.min_free_bytes == 0 || free_now >= opts_.min_free_bytes) return false;
  uint64_t deficit = opts_.min_free_bytes - free_now;
  for (const auto& v : out) deficit -= std::min(deficit, v.size);
  if (deficit == 0) return false;
  // What the cache can give back: everything but the object that just landed and
  // objects being refilled right now.
  auto protected_key = [&](std::string_view k) {
    return (landed && k == *landed) || flights_.count(std::string(k)) > 0;
  };
  uint64_t evictable = bytes_;
  if (landed)
    if (auto it = index_.find(*landed); it != index_.end()) evictable -= it->second.size;
  for (const auto& [k, _] : flights_)
    if (auto it = index_.find(k); it != index_.end() && !(landed && k == *landed)) evictable -= it->second.size;
  if (evictable < deficit) {
    // Evicting all of it would not restore the floor: the disk is filled by something
    // else. Emptying the cache would only turn hits into origin fetches.
    counters_.floor_unfixable_total++;
    auto now = clock_.steady_now();
    if (last_floor_warning_ != core::SteadyTime{} && now - last_floor_warning_ < std::chrono::minutes(1)) return false;
    last_floor_warning_ = now;
    return true;
  }
  for (auto it = order_.begin(); it != order_.end() && deficit > 0;) {
    std::string_view k = std::get<2>(*it);
    if (protected_key(k)) {
      ++it;
      continue;
    }
    auto victim = index_.find(std::string(k));
    ++it;  // before erase_locked invalidates the node
    deficit -= std::min(deficit, victim->second.size);
    take_victim_locked(victim, out);
  }
  return false;
}

void DiskCache::remove_victims(const std::vector<Victim>& victims) {
  for (const auto& v : victims) {
    core::log::info("edge_cache_evicted", {{"key", v.key}, {"bytes", v.size}});
    // A reader holding the file open keeps reading it; the name is gone at once.
    fs_op("unlink", v.path);
    ::unlink(v.path.c_str());
  }
}

void DiskCache::warn_floor_unfixable(uint64_t free_now) {
  uint64_t bytes = 0;
  {
    std::lock_guard lk(mu_);
    bytes = bytes_;
  }
  core::log::warn("edge_cache_floor_unfixable", {{"free_bytes", free_now},
                                                 {"min_free_bytes", opts_.min_free_bytes},
                                                 {"cache_bytes", bytes},
                                                 {"hint",
                                                  "the disk is filled by something else; evicting the cache "
                                                  "would not restore REND_EDGE_CACHE_MIN_FREE_BYTES"}});
}

std::optional<DiskCache::Hit> DiskCache::lookup(const std::string& key, std::optional<int64_t> max_age_ms) {
  std::lock_guard lk(mu_);
  auto it = index_.find(key);
  if (it == index_.end()) return std::nullopt;
  auto& e = it->second;
  if (max_age_ms && clock_.now_unix_ms() - e.filled_ms > *max_age_ms) return std::nullopt;
  // Touch: move to the back of its class in eviction order.
  auto node = order_.extract(Order{e.head, e.tick, std::string_view(it->first)});
  e.tick = ++lru_tick_;
  std::get<1>(node.value()) = e.tick;
  order_.insert(std::move(node));
  // Objects held in memory are served from there: no path needed.
  return Hit{e.body ? std::string() : path_of(key), e.size, e.etag, e.body};
}

void DiskCache::forget(const std::string& key) {
  std::lock_guard lk(mu_);
  if (auto it = index_.find(key); it != index_.end()) erase_locked(it);
}

DiskCache::Miss DiskCache::fetch(const std::string& key, store::ObjectStore& origin,
                                 std::optional<int64_t> max_age_ms) {
  Started s = start_fetch(key, origin, max_age_ms, true);
  if (s.status != FillStatus::filled) return {s.status, nullptr};
  std::shared_ptr<Fill> fill = std::move(s.fill);
  switch (fill->wait_started()) {
    case Fill::State::streaming:
    case Fill::State::complete: return {FillStatus::filled, fill};
    default: break;
  }
  std::lock_guard lk(fill->mu_);
  // Failed after it started streaming (before this caller woke up): the reader gets
  // the bytes that arrived, then the error, like every other reader of this fill.
  if (fill->streamed_) return {FillStatus::filled, fill};
  // Failed before any byte: the fill thread recorded why.
  return {fill->early_status_, nullptr};
}

DiskCache::Started DiskCache::start_fetch(const std::string& key, store::ObjectStore& origin,
                                          std::optional<int64_t> max_age_ms, bool wait_for_slot) {
  std::shared_ptr<Fill> fill;
  bool queue = false;
  {
    std::unique_lock lk(mu_);
    auto neg = negative_.find(key);
    if (neg != negative_.end() && neg->second <= steady_ms()) {
      negative_.erase(neg);
      neg = negative_.end();
    }
    if (auto f = flights_.find(key); f != flights_.end()) {
      fill = f->second;
      counters_.coalesced_waiters_total++;
    } else if (neg != negative_.end()) {
      counters_.negative_hits_total++;
      return Started{{FillStatus::not_found, nullptr}};  // the origin said so moments ago
    } else if (auto it = index_.find(key);
               it != index_.end() && (!max_age_ms || clock_.now_unix_ms() - it->second.filled_ms <= *max_age_ms)) {
      return Started{{FillStatus::cached, nullptr}};  // a fill landed between the caller's lookup and now
    } else {
      if (running_fills_ >= opts_.max_in_flight_fills) {
        if (!wait_for_slot) {
          Started st;
          st.status = FillStatus::busy;
          st.would_wait = true;
          return st;
        }
        bool got = clock_.wait_for(lk, slot_cv_, opts_.fill_queue_wait, [&] {
          return running_fills_ < opts_.max_in_flight_fills || flights_.count(key) > 0;
        });
        if (!got) {
          counters_.busy_total++;
          return Started{{FillStatus::busy, nullptr}};
        }
      }
      if (auto f = flights_.find(key); f != flights_.end()) {
        fill = f->second;  // someone started it while we waited for a slot
        counters_.coalesced_waiters_total++;
      } else {
        // The temp file is created by the fill thread, not here: no filesystem call
        // under mu_, which every hit takes.
        fill = std::make_shared<Fill>();
        fill->requested_ = clock_.steady_now();
        fill->requested_unix_ms_ = clock_.now_unix_ms();
        flights_[key] = fill;
        running_fills_++;
        counters_.fills_total++;
        queue = true;
      }
    }
  }
  if (queue) {
    // After mu_ is released: hits never wait behind it. The origin request leaves from
    // here, before the hop to a fill worker, so the origin's time to first byte runs
    // while the job waits for one (a store that cannot do that starts nothing yet).
    FillJob job{key, fill, &origin, nullptr};
    try {
      job.pending = origin.start_get(key);
    } catch (const std::exception&) {
      // The worker's own get() meets the same failure and reports it as the fill's.
    }
    queue_fill(std::move(job));
  }
  Started st;
  st.status = FillStatus::filled;
  st.fill = std::move(fill);
  return st;
}

void DiskCache::run_fill(FillJob& job, std::vector<char>& buf) {
  const std::string& key = job.key;
  const std::shared_ptr<Fill>& fill = job.fill;
  {
    std::lock_guard lk(mu_);
    counters_.origin_requests_total++;
  }
  const core::SteadyTime begun = clock_.steady_now();
  const std::string tmp = opts_.dir + "/tmp/" + core::random_token(12);
  auto fail_early = [&](FillStatus why) {
    ::unlink(tmp.c_str());  // before anyone can see the failure (readers hold the fd)
    {
      std::lock_guard lk(fill->mu_);
      fill->early_status_ = why;
    }
    {
      std::lock_guard lk(mu_);
      flights_.erase(key);  // with the negative entry in one step: no window for a second fetch
      if (why == FillStatus::origin_error) counters_.fill_failures_total++;
      if (why == FillStatus::not_found && opts_.negative_ttl.count() > 0 && !fill->purged_) {
        const int64_t now = steady_ms();
        if (negative_.size() >= kMaxNegativeEntries)
          std::erase_if(negative_, [&](const auto& kv) { return kv.second <= now; });
        if (negative_.size() >= kMaxNegativeEntries) negative_.clear();
        negative_[key] = now + opts_.negative_ttl.count();
      }
    }
    fill->finish(Fill::State::failed);
  };
  // O_RDWR: readers pread the bytes this thread writes through the same descriptor,
  // which stays valid after the rename (and after an unlink). Readers touch it only
  // after set_streaming(), whose lock orders this write before their reads.
  fill->fd_ = ::open(tmp.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fill->fd_ < 0) {
    core::log::error("edge_cache_tmp_failed", {{"dir", opts_.dir}, {"error", std::strerror(errno)}});
    return fail_early(FillStatus::origin_error);
  }
  std::unique_ptr<store::ObjectReader> reader;
  try {
    if (job.pending) {
      auto pending = std::move(job.pending);
      reader = pending->finish();
    } else {
      reader = job.origin->get(key);
    }
  } catch (const std::exception& e) {
    core::log::warn("edge_fill_failed", {{"key", key}, {"error", e.what()}});
    return fail_early(FillStatus::origin_error);
  }
  if (!reader) return fail_early(FillStatus::not_found);
  const core::SteadyTime headed = clock_.steady_now();
  const uint64_t size = reader->size();
  if (size > opts_.max_object_bytes) return fail_early(FillStatus::too_large);
  // Reserve the whole object before the first byte is served: a disk that fills
  // mid-fill would otherwise cut every viewer off part way through a 200. Filesystems
  // without fallocate fall back to plain writes (and the abort-on-error path below).
  if (size > 0 && ::fallocate(fill->fd_, 0, 0, static_cast<off_t>(size)) != 0 && errno == ENOSPC) {
    {
      std::lock_guard lk(mu_);
      counters_.no_space_total++;
    }
    core::log::warn("edge_cache_no_space", {{"key", key}, {"bytes", size}});
    return fail_early(FillStatus::no_space);
  }
  const int64_t filled_ms = clock_.now_unix_ms();
  fill->set_streaming(size, make_etag(size, filled_ms));

  uint64_t total = 0;
  bool ok = true;
  try {
    while (size_t n = reader->read(buf.data(), buf.size())) {
      if (total + n > size) throw std::runtime_error("origin sent more than it announced");
      for (size_t off = 0; off < n;) {
        ssize_t w = ::pwrite(fill->fd_, buf.data() + off, n - off, static_cast<off_t>(total + off));
        if (w < 0) {
          if (errno == EINTR) continue;
          throw std::runtime_error(std::string("cache write failed: ") + std::strerror(errno));
        }
        off += size_t(w);
      }
      total += n;
      fill->add_written(n);
    }
    // A short read from the origin must never become a "complete" cached file.
    if (total != size) throw std::runtime_error("origin closed early");
  } catch (const std::exception& e) {
    core::log::warn("edge_fill_failed", {{"key", key}, {"error", e.what()}, {"received", total}, {"expected", size}});
    ok = false;
  }
  if (!ok) {
    ::unlink(tmp.c_str());  // nothing of a failed fill stays on disk (readers hold the fd)
    {
      std::lock_guard lk(mu_);
      flights_.erase(key);
      counters_.fill_failures_total++;
    }
    fill->finish(Fill::State::failed);
    return;
  }
  land(key, tmp, size, filled_ms, fill->etag(), fill);
  auto ms = [](core::SteadyTime::duration d) { return std::chrono::duration<double, std::milli>(d).count(); };
  core::log::info("edge_fill_done", {{"key", key},
                                     {"bytes", size},
                                     {"requested_unix_ms", fill->requested_unix_ms_},
                                     {"queued_ms", ms(begun - fill->requested_)},
                                     {"origin_head_ms", ms(headed - begun)},
                                     {"total_ms", ms(clock_.steady_now() - fill->requested_)}});
}

void DiskCache::land(const std::string& key, const std::string& tmp, uint64_t size, int64_t filled_ms, std::string etag,
                     std::shared_ptr<Fill> fill) {
  // Everything that touches the disk happens outside mu_: reading a small object
  // back, stamping the fill time, statvfs, the rename, evictions' unlinks and logs.
  std::shared_ptr<const std::string> body;
  if (size <= opts_.memory_object_max_bytes) body = read_small(fill->fd_, size);
  // The index says what the file says: size and mtime (the etag's fill time).
  struct timespec times[2] = {{0, UTIME_OMIT}, {filled_ms / 1000, (filled_ms % 1000) * 1000000}};
  ::futimens(fill->fd_, times);
  const uint64_t free_now = opts_.min_free_bytes ? free_bytes() : UINT64_MAX;
  std::string dest = path_of(key);
  std::vector<Victim> victims;
  bool unfixable = false;
  {
    // fs_mu_ makes "not purged → rename → index" one step for purge (which takes it
    // too), so a purged asset never gets a file back from an older fill.
    std::lock_guard fs_lk(fs_mu_);
    bool purged = false;
    {
      std::lock_guard lk(mu_);
      purged = fill->purged_;
    }
    bool landed = false;
    if (!purged) {
      std::error_code ec;
      fs::create_directories(fs::path(dest).parent_path(), ec);
      fs_op("rename", dest);
      landed = ::rename(tmp.c_str(), dest.c_str()) == 0;
    }
    if (!landed) ::unlink(tmp.c_str());  // purged meanwhile (or the rename failed): it must not stay
    {
      std::lock_guard lk(mu_);
      flights_.erase(key);
      if (landed) {
        Entry e;
        e.size = size;
        e.filled_ms = filled_ms;
        e.head = is_head(key);
        e.etag = std::move(etag);
        e.body = body;
        Entry& in = insert_locked(key, std::move(e));
        if (body && ends_with(key, ".m3u8")) learn_segment_durations_locked(key, in);
        unfixable = choose_victims_locked(&key, free_now, victims);
      }
    }
    // Under fs_mu_ still: a refill of a victim's key cannot land before its unlink.
    remove_victims(victims);
  }
  if (unfixable) warn_floor_unfixable(free_now);
  fill->finish(Fill::State::complete);
}

FillStatus DiskCache::fill_and_wait(const std::string& key, store::ObjectStore& origin,
                                    std::optional<int64_t> max_age_ms) {
  {
    // Warm runs after a publish: a miss remembered from before must not hide it.
    std::lock_guard lk(mu_);
    negative_.erase(key);
  }
  auto m = fetch(key, origin, max_age_ms);
  if (m.status == FillStatus::cached) return FillStatus::filled;
  if (m.status != FillStatus::filled) return m.status;
  try {
    for (uint64_t off = 0;;) {
      uint64_t n = m.fill->wait_readable(off);
      if (n == 0) break;
      off += n;
    }
  } catch (const std::exception&) {
    return FillStatus::origin_error;
  }
  return FillStatus::filled;
}

void DiskCache::learn_segment_durations_locked(const std::string& key, Entry& e) {
  auto dir = key.substr(0, key.rfind('/') + 1);
  auto info = hls::parse_media_playlist(*e.body);
  e.taught.clear();
  e.taught.reserve(info.segment_uris.size());
  for (size_t i = 0; i < info.segment_uris.size(); ++i) {
    const auto& uri = info.segment_uris[i];
    if (uri.find("://") != std::string::npos || uri.find("..") != std::string::npos) continue;
    auto seg = dir + uri.substr(0, uri.find('?'));
    segment_seconds_[seg] = info.durations[i];
    e.taught.push_back(std::move(seg));
  }
}

double DiskCache::segment_seconds(const std::string& key) const {
  std::lock_guard lk(mu_);
  auto it = segment_seconds_.find(key);
  return it == segment_seconds_.end() ? 0.0 : it->second;
}

size_t DiskCache::purge_asset(const std::string& asset_id) {
  const std::string prefix = "assets/" + asset_id + "/";
  const std::string dir = opts_.dir + "/objects/assets/" + asset_id;
  const std::string trash = opts_.dir + "/tmp/purge-" + core::random_token(12);
  size_t n = 0;
  bool moved = false;
  {
    std::lock_guard fs_lk(fs_mu_);
    {
      std::lock_guard lk(mu_);
      // Fills of this asset in flight still serve their viewers but must not land.
      for (auto& [key, fill] : flights_)
        if (key.rfind(prefix, 0) == 0) fill->purged_ = true;
      std::erase_if(negative_, [&](const auto& kv) { return kv.first.rfind(prefix, 0) == 0; });
      for (auto it = index_.begin(); it != index_.end();) {
        auto next = std::next(it);
        if (it->first.rfind(prefix, 0) == 0) {
          erase_locked(it);
          n++;
        }
        it = next;
      }
    }
    // One rename takes the whole tree out of objects/ (so no later landing or restart
    // sees it); deleting it, however large, happens with no lock held.
    fs_op("rename", dir);
    if (::rename(dir.c_str(), trash.c_str()) == 0) {
      moved = true;
    } else if (errno != ENOENT) {
      fs_op("remove_all", dir);
      std::error_code ec;
      fs::remove_all(dir, ec);
    }
  }
  if (moved) {
    fs_op("remove_all", trash);
    std::error_code ec;
    fs::remove_all(trash, ec);  // a crash here leaves it in tmp/, emptied at start
  }
  return n;
}

DiskCache::Stats DiskCache::stats() const {
  std::lock_guard lk(mu_);
  Stats s = counters_;
  s.bytes = bytes_;
  s.objects = index_.size();
  s.in_flight_fills = running_fills_;
  s.aux_entries = segment_seconds_.size();
  return s;
}

bool DiskCache::writable() const { return ::access((opts_.dir + "/tmp").c_str(), W_OK) == 0; }

}  // namespace rend::edge
