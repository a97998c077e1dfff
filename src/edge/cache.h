#pragma once
// The edge's disk cache: artifacts under {dir}/objects/{object key}, filled from
// the origin object store.
//
// Crash safety: a fill writes {dir}/tmp/<random> and renames it into place only
// after the whole object arrived with the length the origin announced, so a
// file under objects/ is always complete. tmp/ is emptied at start.
//
// Coalescing: concurrent misses for one key share one origin fetch (the later
// callers wait for the first). Purge: bumps the asset's generation, so a fill
// that started before the purge does not land after it.
//
// Thread-safety: all methods may be called concurrently.
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "store/objects.h"

namespace rend::edge {

struct CacheEntry {
  std::string file;  // absolute path of the complete cached file
  uint64_t size = 0;
  int64_t mtime_ns = 0;
  std::string etag;  // strong validator derived from size and mtime
};

enum class FillStatus { filled, not_found, too_large, origin_error, purged };

class DiskCache {
 public:
  explicit DiskCache(std::string dir);

  // The cached entry if present and, when max_age_secs is set, younger than that.
  std::optional<CacheEntry> lookup(const std::string& key, std::optional<int64_t> max_age_secs) const;
  // Fetches `key` from origin into the cache (coalesced with concurrent callers).
  FillStatus fill(const std::string& key, store::ObjectStore& origin, uint64_t max_bytes);
  // Removes every cached file of the asset; returns how many.
  size_t purge_asset(const std::string& asset_id);
  // True when the cache directory accepts writes (readiness).
  bool writable() const;
  struct Usage {
    uint64_t bytes = 0, objects = 0;
  };
  // Walks the cache directory (for heartbeats every few seconds, not per request).
  Usage usage() const;

 private:
  struct Flight {
    bool done = false;
    FillStatus status = FillStatus::origin_error;
    std::condition_variable cv;
  };
  FillStatus do_fill(const std::string& key, store::ObjectStore& origin, uint64_t max_bytes);
  uint64_t generation(const std::string& asset_id);
  static std::string asset_of(const std::string& key);

  std::string dir_;
  std::mutex mu_;
  std::map<std::string, std::shared_ptr<Flight>> flights_;
  std::map<std::string, uint64_t> generations_;
};

}  // namespace rend::edge
