#pragma once
// The player bootstrap's cache of asset rows (issue 17): GET /api/player/{id} reads
// an asset's status, visibility, tier and error on every request, and those change a
// few times in an asset's life. Entries are shared, immutable rows.
//
// Freshness:
//   - writes through this process's MetadataStore (the API's deletes; in `rend dev`
//     also the worker's status, progress and ladder changes) drop the entry before the
//     write returns (MetadataStore::add_asset_listener), so the next request reads the
//     new row;
//   - writes by other processes (a separate worker, another API replica deleting an
//     asset) are seen within `ttl` (1 s by default): an entry older than that is
//     read again.
// A fill that raced with a change (read the old row while the change was being made)
// is not kept: every change bumps a generation and a fill that started before it
// is dropped. Missing assets are not cached (unknown ids cannot fill memory).
//
// Thread-safety: every method may be called from any thread.
#include <any>
#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

#include "core/clock.h"
#include "store/metadata.h"

namespace rend::api {

class AssetCache {
 public:
  static constexpr std::chrono::milliseconds kDefaultTtl{1000};
  // A hot set, not every asset: an entry with its rendered answers is a few KiB.
  static constexpr size_t kDefaultMaxEntries = 10000;

  // What the cache keeps per asset: the row, and a slot where its user keeps what it
  // derived from that row (the bootstrap's rendered answers); both go together.
  struct Entry {
    store::Asset asset;
    // Derived data; guarded by `memo_mu`, dropped with the entry.
    mutable std::mutex memo_mu;
    mutable std::any memo;
  };

  AssetCache(store::MetadataStore& meta, const core::Clock& clock, std::chrono::milliseconds ttl = kDefaultTtl,
             size_t max_entries = kDefaultMaxEntries);
  ~AssetCache();
  AssetCache(const AssetCache&) = delete;
  AssetCache& operator=(const AssetCache&) = delete;

  // The fresh cached row, without touching the store (so it never blocks); null on a
  // miss or an expired entry.
  std::shared_ptr<const Entry> peek(const std::string& id);
  // The fresh cached row, or the store's (read now and cached); null when there is no
  // such asset. May block on the store.
  std::shared_ptr<const Entry> get(const std::string& id);
  // Drops the entry (the store's listener calls it).
  void invalidate(const std::string& id);

  struct Stats {
    uint64_t hits = 0, misses = 0, invalidations = 0;
  };
  Stats stats() const;

 private:
  struct Slot {
    std::shared_ptr<const Entry> entry;
    core::SteadyTime fetched;
  };
  store::MetadataStore& meta_;
  const core::Clock& clock_;
  const std::chrono::milliseconds ttl_;
  const size_t max_entries_;
  int listener_ = 0;
  mutable std::mutex mu_;
  std::unordered_map<std::string, Slot> slots_;
  uint64_t generation_ = 0;  // bumped by every invalidation
  Stats stats_;
};

}  // namespace rend::api
