#pragma once
// The edge's disk cache: artifacts under {dir}/objects/{object key}, filled from
// the origin object store (SPEC §6).
//
// Fills stream. A miss starts ONE origin fetch per key, run by a fill worker: at most
// `max_in_flight_fills` of them, up to 64 started with the cache and any more when a
// fill finds none idle, all kept for the cache's life (a miss pays no thread start);
// every viewer asking for that key meanwhile (the first one included) reads the
// bytes from the fill's temp file as they land, so no viewer waits for the whole
// object and a viewer who disconnects does not cancel the fill for the others.
// At most `max_in_flight_fills` origin fetches run at once; a miss beyond that waits
// up to `fill_queue_wait` for a slot and is then refused (busy → 503). The origin
// request itself leaves from the thread that missed (ObjectStore::start_get, which
// never waits: S3 sends it on a pooled connection), before the hop to a worker, so the
// origin's time to first byte runs while the job waits for one.
//
// Crash safety: a fill writes {dir}/tmp/<random> and renames it into place only
// after the whole object arrived with the length the origin announced, so a file
// under objects/ is always complete. tmp/ is emptied at start. An origin error
// mid-fill marks the fill failed: readers' bodies end with an error (the server
// aborts the connection, so a short body is never passed off as complete) and
// nothing is cached.
//
// Index and eviction: an in-memory index of every cached file, rebuilt from disk at
// start. The cache stays within `max_bytes` and keeps `min_free_bytes` free on its
// filesystem (statvfs). When over, it evicts in this deterministic order:
//   1. class "rest" (segments after the first two of a tier, posters, others)
//      before class "head" (master and media playlists, the first two segments of
//      each tier, init segments) — a player starting a video needs the head;
//   2. within a class, least recently used first (a logical clock, not wall time);
//   3. ties broken by key (byte order).
//
// Negative cache: a key the origin does not have is answered not_found for
// `negative_ttl` without asking again (recorded in the same step the fill ends, so
// concurrent misses share one origin request); purge and warm forget it.
//
// Purge marks the asset's fills in flight and removes its files: a fill that
// started before the purge still serves its viewers but never lands in the cache.
//
// Hits never wait on disk: the index lock (taken by every lookup) is never held
// across a filesystem call. Landing, eviction and purge decide under it and do their
// renames, unlinks, tree removals and logging after releasing it, serialized among
// themselves by a second lock that lookups never take.
//
// The free-space floor evicts only what the cache can give back: at most the
// deficit, never the object that just landed nor one being refilled, and nothing
// at all when even evicting all of that would not restore the floor (the disk is
// filled by something else; counted and warned about at most once a minute).
//
// Side tables stay bounded by the index: a segment's duration (learnt from a cached
// playlist) leaves when that playlist leaves the index.
//
// Time comes from the injected clock: wall time for fill times (playlist age, ETags,
// file mtimes, which outlive the process), monotonic time for the negative cache, the
// wait for a fill slot and log throttling.
//
// Thread-safety: all methods may be called concurrently.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <tuple>
#include <unordered_map>
#include <vector>

#include "core/clock.h"
#include "http/router.h"
#include "store/objects.h"

namespace rend::edge {

struct CacheOptions {
  std::string dir;
  uint64_t max_bytes = 10ull << 30;
  uint64_t min_free_bytes = 0;
  uint64_t max_object_bytes = 512ull << 20;
  size_t max_in_flight_fills = 64;
  std::chrono::milliseconds fill_queue_wait{1000};
  // Files up to this size are also kept in memory (playlists): a hit then costs no
  // open/read/close.
  uint64_t memory_object_max_bytes = 16 * 1024;
  // A key the origin does not have is answered not_found without an origin request
  // for this long (0 = off). Cleared for an asset by purge, for a key by warm.
  std::chrono::milliseconds negative_ttl{2000};

  // Test seams; unset in production.
  // Called just before each change the cache makes under objects/ ("unlink",
  // "rename", "remove_all"), with the path it changes.
  std::function<void(std::string_view op, const std::string& path)> on_fs_op;
  // Replaces statvfs(dir) for the free-space floor.
  std::function<uint64_t()> free_bytes_fn;
};

// filled: streaming from a fill; cached: landed meanwhile, look it up again.
// no_space: the cache's filesystem could not reserve room for the object (ENOSPC on
// fallocate, before any byte was served), so it is neither served nor cached.
enum class FillStatus { filled, cached, not_found, too_large, origin_error, purged, busy, no_space };

// An origin fetch in progress, shared by the fill thread and every reader.
class Fill {
 public:
  enum class State { pending, streaming, complete, failed };
  Fill() = default;
  ~Fill();
  Fill(const Fill&) = delete;
  Fill& operator=(const Fill&) = delete;

  // Waits until the size is known (or the fill ended). Returns the state then.
  State wait_started();
  // Waits until bytes beyond `offset` are on disk, the fill completed, or it failed.
  // Returns how many bytes are readable at `offset` (0 = end of object); throws on failure.
  uint64_t wait_readable(uint64_t offset);
  // Reads up to n bytes at offset after wait_readable said they are there.
  size_t read_at(char* buf, size_t n, uint64_t offset) const;
  uint64_t size() const { return size_; }
  const std::string& etag() const { return etag_; }

  // Non-blocking views, for readers that must not hold a thread while they wait (the
  // HTTP server's parked coroutines): a snapshot, and a callback at the next change.
  struct Progress {
    State state = State::pending;
    uint64_t written = 0;
  };
  Progress progress() const;
  // Calls `changed` once: at once (on this thread) if the fill has moved on from
  // `seen`, else from the fill thread at its next change (head, bytes, end). Never
  // lost: a fill always ends, and its end calls every callback still registered.
  void notify_on_change(const Progress& seen, std::function<void()> changed);
  // What a miss on this fill amounts to: nullopt while the origin has not answered;
  // filled once it streams (even if it failed later: readers get the bytes, then the
  // error); else why it failed before its first byte.
  std::optional<FillStatus> outcome() const;

 private:
  friend class DiskCache;
  friend class FillReader;  // its zero-copy reads name fd_
  void set_streaming(uint64_t size, std::string etag);
  void add_written(uint64_t n);
  void finish(State s);
  void fire(std::unique_lock<std::mutex>& lk);  // runs (and drops) the callbacks, unlocked

  int fd_ = -1;  // the temp file; set by the fill thread before it starts streaming
  mutable std::mutex mu_;
  std::condition_variable cv_;
  State state_ = State::pending;
  uint64_t size_ = 0, written_ = 0;
  std::string etag_;
  FillStatus early_status_ = FillStatus::origin_error;  // why it failed before streaming
  bool streamed_ = false;  // set_streaming() ran: a later failure is reported to readers mid-body
  bool purged_ = false;    // guarded by DiskCache::mu_: a purge ran meanwhile, do not land
  // When the miss started this fill (wall ms and monotonic), for the edge_fill_done
  // line: where a cold viewer's time goes (queued for a worker, origin head, body).
  int64_t requested_unix_ms_ = 0;
  core::SteadyTime requested_{};
  std::vector<std::function<void()>> waiters_;  // notify_on_change callbacks
};

// A response body read from a fill in progress without ever blocking: the server
// parks the viewer's connection until the fill has new bytes, so a thousand viewers
// of cold objects hold no handler thread. Serves [offset, offset + length). A fill
// that fails mid-object is an error once the bytes already written are sent (the
// server aborts the connection: the viewer sees a short body against
// Content-Length). The object's last byte is handed out only once the fill has
// landed, so a viewer's next request after a complete MISS is a HIT.
//
// Zero-copy: try_peek_file names the fill's temp file and the reader's offset, for
// the server to sendfile(2) from, under the same rules as try_read; consume(k) then
// moves the offset. The descriptor is the fill's own, open for as long as the Fill
// object lives, which this reader keeps alive: it still names the same bytes after
// the fill landed (renamed into objects/), was evicted or purged (unlinked), or the
// cache itself is gone.
class FillReader final : public http::AsyncBodySource {
 public:
  FillReader(std::shared_ptr<Fill> fill, uint64_t offset, uint64_t length)
      : fill_(std::move(fill)), off_(offset), left_(length) {}
  ReadResult try_read(char* buf, size_t n) override;
  std::optional<ReadResult> try_peek_file(FileSpan& span, size_t n) override;
  void consume(size_t k) override;
  void notify_when_readable(std::function<void()> ready) override { fill_->notify_on_change(seen_, std::move(ready)); }

 private:
  // How many bytes at off_ may go out now (at most n): status data with that count,
  // or why none may. Records what it saw in seen_.
  ReadResult readable(size_t n);

  std::shared_ptr<Fill> fill_;
  uint64_t off_, left_;
  uint64_t peeked_ = 0;  // what the last try_peek_file allowed and consume() has not taken yet
  Fill::Progress seen_;  // what the last try_read saw: a change from it is worth a retry
};

class DiskCache {
 public:
  // `clock` must outlive the cache.
  DiskCache(CacheOptions opts, const core::Clock& clock);
  ~DiskCache();  // waits for running fills to end
  DiskCache(const DiskCache&) = delete;
  DiskCache& operator=(const DiskCache&) = delete;

  struct Hit {
    std::string file;  // absolute path of the complete cached file (empty when `body` is set)
    uint64_t size = 0;
    std::string etag;                         // strong validator: size and fill time
    std::shared_ptr<const std::string> body;  // whole content, for small objects
  };
  // The cached entry if present and, when max_age_ms is set, filled within that
  // time. Counts as a use for LRU. Never blocks on disk or network.
  std::optional<Hit> lookup(const std::string& key, std::optional<int64_t> max_age_ms = std::nullopt);

  struct Miss {
    FillStatus status = FillStatus::origin_error;  // filled = streaming below
    std::shared_ptr<Fill> fill;                    // set when status == filled
  };
  // Joins the in-flight fill of `key` or starts one, and waits until the origin
  // answered (size known) — not until the object arrived. May block.
  // `max_age_ms` as for lookup(): a cached entry older than that is refetched.
  Miss fetch(const std::string& key, store::ObjectStore& origin, std::optional<int64_t> max_age_ms = std::nullopt);
  // The same without waiting for the origin's answer: `filled` with the fill joined or
  // started (its head may still be pending: Fill::outcome / notify_on_change), or the
  // answer known at once (cached, not_found from the negative cache). When every fill
  // slot is taken it waits for one only with `wait_for_slot` (up to fill_queue_wait,
  // then busy); without, it returns busy at once with `would_wait` set and nothing
  // counted, for the caller to retry where it may block.
  struct Started : Miss {
    bool would_wait = false;
  };
  Started start_fetch(const std::string& key, store::ObjectStore& origin,
                      std::optional<int64_t> max_age_ms = std::nullopt, bool wait_for_slot = false);
  // Fetches `key` and waits for the whole object (warm). May block. `max_age_ms` as
  // for fetch(): warm passes 0 for playlists, which a publish may have changed.
  FillStatus fill_and_wait(const std::string& key, store::ObjectStore& origin,
                           std::optional<int64_t> max_age_ms = std::nullopt);

  // Drops the entry after its file vanished underneath us.
  void forget(const std::string& key);
  // Removes every cached file of the asset; returns how many.
  size_t purge_asset(const std::string& asset_id);
  bool writable() const;

  // Media seconds of a segment, learnt from EXTINF tags of playlists that went
  // through this cache (0 when unknown).
  double segment_seconds(const std::string& key) const;

  struct Stats {
    uint64_t bytes = 0, objects = 0;
    uint64_t in_flight_fills = 0;
    uint64_t fills_total = 0, fill_failures_total = 0, origin_requests_total = 0;
    uint64_t coalesced_waiters_total = 0;  // misses that joined a fill already running
    uint64_t evictions_total = 0, evicted_bytes_total = 0;
    uint64_t busy_total = 0;      // misses refused because every fill slot stayed taken
    uint64_t no_space_total = 0;  // fills refused because the disk could not hold the object
    // Times the free-space floor was missed but evicting the whole cache would not
    // have restored it (the disk is filled by something else): nothing was evicted.
    uint64_t floor_unfixable_total = 0;
    uint64_t negative_hits_total = 0;  // misses answered not_found from the negative cache
    uint64_t aux_entries = 0;          // side-table entries (segment durations, purge bookkeeping)
  };
  Stats stats() const;

  // Test seam: whether the index lock is free, i.e. can be taken within 200 ms. Call
  // it from a thread that does not hold it (e.g. from another thread inside an
  // on_fs_op hook, whose caller is blocked meanwhile: if the caller held the lock, it
  // stays held all along). Retried because other threads (fill workers, waiters)
  // legitimately hold it for a moment.
  bool index_lock_free() const {
    for (int i = 0; i < 200; ++i) {
      if (mu_.try_lock()) {
        mu_.unlock();
        return true;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    return false;
  }

  // Eviction class of a key (exposed for tests and docs): true = "head".
  static bool is_head(const std::string& key);

 private:
  struct Entry {
    uint64_t size = 0;
    int64_t filled_ms = 0;  // unix ms; playlists expire by this
    uint64_t tick = 0;      // logical last-use clock
    bool head = false;
    std::string etag;
    std::shared_ptr<const std::string> body;
    // For a playlist: the segment keys whose durations it taught (dropped with it).
    std::vector<std::string> taught;
  };
  struct Victim {
    std::string key, path;
    uint64_t size = 0;
  };
  using Order = std::tuple<bool, uint64_t, std::string_view>;  // (head, tick, key): begin() = next victim

  struct FillJob {
    std::string key;
    std::shared_ptr<Fill> fill;
    store::ObjectStore* origin = nullptr;
    // The origin request, started by the thread that missed (origin->start_get): it
    // is on its way while the job waits for a worker. Null: the worker get()s.
    std::unique_ptr<store::PendingGet> pending;
  };
  void run_fill(FillJob& job, std::vector<char>& buf);
  void worker_loop();
  void queue_fill(FillJob job);
  void abandon_fill(const std::string& key, const std::shared_ptr<Fill>& fill);
  void land(const std::string& key, const std::string& tmp, uint64_t size, int64_t filled_ms, std::string etag,
            std::shared_ptr<Fill> fill);
  Entry& insert_locked(const std::string& key, Entry e);
  void erase_locked(std::unordered_map<std::string, Entry>::iterator it);
  void take_victim_locked(std::unordered_map<std::string, Entry>::iterator it, std::vector<Victim>& out);
  // Chooses what to evict (removed from the index at once); the caller unlinks the
  // victims after releasing mu_. Returns true when the floor was missed and the cache
  // could not restore it (warn, outside the lock).
  bool choose_victims_locked(const std::string* landed, uint64_t free_now, std::vector<Victim>& out);
  void remove_victims(const std::vector<Victim>& victims);
  void warn_floor_unfixable(uint64_t free_now);
  void fs_op(std::string_view op, const std::string& path) const {
    if (opts_.on_fs_op) opts_.on_fs_op(op, path);
  }
  uint64_t free_bytes() const;
  int64_t steady_ms() const;
  void learn_segment_durations_locked(const std::string& key, Entry& e);
  void rebuild_index();
  std::string path_of(const std::string& key) const { return opts_.dir + "/objects/" + key; }

  CacheOptions opts_;
  const core::Clock& clock_;
  mutable std::mutex mu_;  // the index, fills, counters; never held across a filesystem call
  std::mutex fs_mu_;  // serializes landing/eviction/purge file work; lookups never take it (order: fs_mu_, then mu_)
  std::condition_variable slot_cv_;  // a fill slot freed / all fills ended
  std::unordered_map<std::string, Entry> index_;
  std::set<Order> order_;
  uint64_t lru_tick_ = 0, bytes_ = 0;  // lru_tick_: the logical last-use clock
  std::map<std::string, std::shared_ptr<Fill>> flights_;
  std::unordered_map<std::string, double> segment_seconds_;
  // Keys the origin answered "not found", with the monotonic ms until which that
  // answer is reused. Bounded: expired entries are pruned when it is full.
  std::unordered_map<std::string, int64_t> negative_;
  core::SteadyTime last_floor_warning_{};
  size_t running_fills_ = 0;
  Stats counters_;
  // Fill jobs for the workers. A job is queued only with a slot taken
  // (running_fills_), and workers grow up to max_in_flight_fills, so one is always
  // free or about to start for it.
  std::mutex jobs_mu_;  // order: mu_ is never taken while holding it
  std::condition_variable jobs_cv_;
  std::deque<FillJob> jobs_;
  bool stopping_ = false;
  size_t idle_workers_ = 0;  // workers waiting for a job
  std::vector<std::thread> workers_;
};

}  // namespace rend::edge
