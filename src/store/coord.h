#pragma once
// Coordination: short-lived cross-process state. In production Redis; embedded, an
// in-process implementation (memory/), which is enough for `rend dev` where the
// API and worker share a process; separate processes fall back to polling.
//
// Thread-safety: all methods may be called concurrently.
#include <chrono>
#include <cstdint>
#include <string>

namespace rend::store {

struct RateDecision {
  bool allowed = true;
  int64_t retry_after_secs = 0;
};

class Coordinator {
 public:
  virtual ~Coordinator() = default;
  // Wakes workers waiting in wait_for_job.
  virtual void notify_job() = 0;
  // Returns when notified or after `max_wait`, whichever is first.
  virtual void wait_for_job(std::chrono::milliseconds max_wait) = 0;
  // Fixed-window counter: at most `limit` hits per `window_secs` for `key`.
  virtual RateDecision rate_limit(const std::string& key, int64_t limit, int64_t window_secs, int64_t now_secs) = 0;
  // Whether the backing service answers right now (for /readyz). Quick (bounded by
  // a short timeout) and never throws.
  virtual bool healthy() = 0;
};

}  // namespace rend::store
