#pragma once
// In-process Coordinator: enough for `rend dev`, where API and worker share a process.
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <unordered_map>

#include "store/coord.h"

namespace rend::store::memory {

class MemoryCoordinator final : public Coordinator {
 public:
  void notify_job() override;
  void wait_for_job(std::chrono::milliseconds max_wait) override;
  RateDecision rate_limit(const std::string& key, int64_t limit, int64_t window_secs, int64_t now_secs) override;
  // Nothing outside the process to lose.
  bool healthy() override { return true; }

 private:
  struct Window {
    int64_t start_secs = 0;
    int64_t window_secs = 0;
    int64_t hits = 0;
  };
  // Drops windows that have ended. Caller holds rate_mu_.
  void prune(int64_t now_secs);

  std::mutex wake_mu_;
  std::condition_variable wake_cv_;
  // Bumped by every notify; a waiter returns once it changes, so one notify wakes
  // every current waiter.
  uint64_t generation_ = 0;
  int waiters_ = 0;
  // A notify with nobody waiting (the worker is busy between polls) is kept for the
  // next wait, which would otherwise sleep through a job that is already queued.
  bool pending_ = false;

  std::mutex rate_mu_;
  std::unordered_map<std::string, Window> windows_;
  int64_t calls_since_prune_ = 0;
};

}  // namespace rend::store::memory
