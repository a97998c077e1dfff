#pragma once
// In-process Coordinator: enough for `rend dev`, where API and worker share a process.
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <unordered_map>

#include "store/coord.h"
#include "store/wakeup.h"

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

  Wakeup wakeup_;

  std::mutex rate_mu_;
  std::unordered_map<std::string, Window> windows_;
  int64_t calls_since_prune_ = 0;
};

}  // namespace rend::store::memory
