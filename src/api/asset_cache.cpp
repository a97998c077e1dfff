#include "api/asset_cache.h"

#include <algorithm>

namespace rend::api {

AssetCache::AssetCache(store::MetadataStore& meta, const core::Clock& clock, std::chrono::milliseconds ttl,
                       size_t max_entries)
    : meta_(meta), clock_(clock), ttl_(ttl), max_entries_(max_entries) {
  listener_ = meta_.add_asset_listener([this](const std::string& id) { invalidate(id); });
}

AssetCache::~AssetCache() { meta_.remove_asset_listener(listener_); }

std::shared_ptr<const AssetCache::Entry> AssetCache::peek(const std::string& id) {
  const auto now = clock_.steady_now();
  std::lock_guard lock(mu_);
  auto it = slots_.find(id);
  if (it == slots_.end() || now - it->second.fetched >= ttl_) {
    ++stats_.misses;
    return nullptr;
  }
  ++stats_.hits;
  return it->second.entry;
}

std::shared_ptr<const AssetCache::Entry> AssetCache::get(const std::string& id) {
  if (auto e = peek(id)) return e;
  uint64_t generation;
  {
    std::lock_guard lock(mu_);
    generation = generation_;
  }
  const auto fetched = clock_.steady_now();
  auto row = meta_.get_asset(id);
  if (!row) return nullptr;
  auto entry = std::make_shared<Entry>();
  entry->asset = std::move(*row);
  std::lock_guard lock(mu_);
  // A change made while we read may not be in what we read: serve it this once,
  // keep nothing.
  if (generation != generation_) return entry;
  if (slots_.size() >= max_entries_ && !slots_.contains(id)) {
    // Past the bound: drop the expired entries, then, if that is not enough, an eighth
    // of the rest in the map's (arbitrary, so about random) order: more distinct hot
    // assets than the bound cost re-reads, never unbounded memory.
    std::erase_if(slots_, [&](const auto& kv) { return fetched - kv.second.fetched >= ttl_; });
    const size_t keep = max_entries_ - std::max<size_t>(1, max_entries_ / 8);
    for (auto it = slots_.begin(); slots_.size() > keep && it != slots_.end();) it = slots_.erase(it);
  }
  slots_[id] = Slot{entry, fetched};
  return entry;
}

void AssetCache::invalidate(const std::string& id) {
  std::lock_guard lock(mu_);
  ++generation_;
  ++stats_.invalidations;
  slots_.erase(id);
}

AssetCache::Stats AssetCache::stats() const {
  std::lock_guard lock(mu_);
  return stats_;
}

}  // namespace rend::api
