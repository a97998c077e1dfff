#pragma once
// The in-process half of job wake-ups, shared by every Coordinator: waiters block
// on a condition variable until notified or timed out.
//  - One notify wakes every current waiter (a generation counter, not a flag).
//  - A notify with nobody waiting (the worker is busy between waits) is kept for
//    the next wait, which would otherwise sleep through a job that is already queued.
// Thread-safe.
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>

namespace rend::store {

class Wakeup {
 public:
  void notify() {
    {
      std::lock_guard lock(mu_);
      ++generation_;
      if (waiters_ == 0) pending_ = true;
    }
    cv_.notify_all();
  }

  void wait(std::chrono::milliseconds max_wait) {
    std::unique_lock lock(mu_);
    if (pending_) {
      pending_ = false;
      return;
    }
    const uint64_t seen = generation_;
    ++waiters_;
    cv_.wait_for(lock, max_wait, [&] { return generation_ != seen; });
    --waiters_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  uint64_t generation_ = 0;
  int waiters_ = 0;
  bool pending_ = false;
};

}  // namespace rend::store
