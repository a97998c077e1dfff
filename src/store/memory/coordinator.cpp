#include "store/memory/coordinator.h"

#include <stdexcept>

namespace rend::store::memory {

namespace {
// Pruning is a full scan, so it runs every N calls: amortized O(1) per call while
// keeping memory bounded by the keys seen in roughly the last window.
constexpr int64_t kPruneEvery = 1024;
}  // namespace

void MemoryCoordinator::notify_job() { wakeup_.notify(); }

void MemoryCoordinator::wait_for_job(std::chrono::milliseconds max_wait) { wakeup_.wait(max_wait); }

RateDecision MemoryCoordinator::rate_limit(const std::string& key, int64_t limit, int64_t window_secs,
                                           int64_t now_secs) {
  if (window_secs <= 0) throw std::invalid_argument("rate_limit: window_secs must be positive");
  const int64_t start = now_secs - now_secs % window_secs;

  std::lock_guard lock(rate_mu_);
  if (++calls_since_prune_ >= kPruneEvery) prune(now_secs);
  auto& w = windows_[key];
  if (w.start_secs != start || w.window_secs != window_secs) w = Window{start, window_secs, 0};
  if (w.hits < limit) {
    ++w.hits;
    return {true, 0};
  }
  return {false, start + window_secs - now_secs};
}

void MemoryCoordinator::prune(int64_t now_secs) {
  calls_since_prune_ = 0;
  std::erase_if(windows_, [&](const auto& kv) { return kv.second.start_secs + kv.second.window_secs <= now_secs; });
}

}  // namespace rend::store::memory
