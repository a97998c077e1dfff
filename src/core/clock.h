#pragma once
// Time as components see it, behind one interface so tests can drive it.
//
// Two kinds of time:
//   wall time (now_unix, now_unix_ms): timestamps, token expiry, anything stored or
//     compared across processes and restarts. It may jump (NTP, an operator).
//   monotonic time (steady_now): intervals, deadlines, backoff, TTLs that live only in
//     memory. It never jumps backwards.
// and one way to wait for monotonic time: wait_until / wait_for / wait, the
// std::condition_variable calls with the clock in the middle. A component that waits
// with a deadline waits through its clock, so that under FakeClock a test ends the wait
// by advancing time (no sleeping) and the wait never ends by itself in real time.
//
// Implementations: SystemClock (production) and FakeClock (tests). A test that fakes
// only the wall time may derive from SystemClock and override now_unix / now_unix_ms.
//
// Thread-safety: every method may be called from any thread. now_* and steady_now
// never block.
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace rend::core {

using SteadyTime = std::chrono::steady_clock::time_point;

class Clock {
 public:
  virtual ~Clock() = default;
  virtual int64_t now_unix() const = 0;
  virtual int64_t now_unix_ms() const = 0;
  virtual SteadyTime steady_now() const = 0;

  // As cv.wait_until(lk, deadline, pred), on this clock's monotonic time: true when
  // pred() holds, false when the deadline passed first. lk must hold the mutex that
  // guards what pred() reads and that notifiers of cv take.
  template <class Pred>
  bool wait_until(std::unique_lock<std::mutex>& lk, std::condition_variable& cv, SteadyTime deadline, Pred pred) const {
    while (!pred()) {
      if (!wait_once(lk, cv, deadline)) return pred();
    }
    return true;
  }
  template <class Rep, class Period, class Pred>
  bool wait_for(std::unique_lock<std::mutex>& lk, std::condition_variable& cv,
                std::chrono::duration<Rep, Period> timeout, Pred pred) const {
    return wait_until(lk, cv, steady_now() + std::chrono::duration_cast<SteadyTime::duration>(timeout), pred);
  }
  // No deadline: as cv.wait(lk, pred). Goes through the clock anyway so that a
  // FakeClock sees the thread parked (FakeClock::await_waiters).
  template <class Pred>
  void wait(std::unique_lock<std::mutex>& lk, std::condition_variable& cv, Pred pred) const {
    wait_until(lk, cv, SteadyTime::max(), pred);
  }
  // One wait without a predicate: returns when cv is notified (or spuriously) or
  // at the deadline. False when the deadline has passed.
  bool wait_until(std::unique_lock<std::mutex>& lk, std::condition_variable& cv, SteadyTime deadline) const {
    return wait_once(lk, cv, deadline);
  }

 protected:
  // Blocks on cv (lk held on entry and on return) until notified, a spurious wake-up,
  // or the deadline (SteadyTime::max(): none). False, without blocking, when the
  // deadline has already passed; true otherwise (the caller re-checks).
  virtual bool wait_once(std::unique_lock<std::mutex>& lk, std::condition_variable& cv, SteadyTime deadline) const = 0;
};

class SystemClock : public Clock {
 public:
  int64_t now_unix() const override {
    return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
  }
  int64_t now_unix_ms() const override {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
  }
  SteadyTime steady_now() const override { return std::chrono::steady_clock::now(); }

 protected:
  bool wait_once(std::unique_lock<std::mutex>& lk, std::condition_variable& cv, SteadyTime deadline) const override;
};

// Time that moves only when the test says so. advance() moves wall and monotonic time
// together and wakes every thread waiting on this clock, so each re-checks its
// predicate and deadline; a waiter whose deadline has not come goes back to sleep.
// advance() returns once every thread that was waiting has re-checked (it is asleep
// again or its wait returned), so after it a test can count on await_waiters() not
// seeing a stale sleeper.
//
// A component computes its deadlines from steady_now() when it starts waiting, so a
// test that wants "the interval passed" first lets the component reach its wait
// (await_waiters), then advances.
//
// advance() takes each waiter's mutex to notify it (so a wake-up is never lost between
// a waiter's check and its sleep): call it without holding a mutex a component waits
// with, and not while a component that waits on this clock is being destroyed.
class FakeClock final : public Clock {
 public:
  // Starts at a fixed wall time; monotonic time starts well after steady_clock's epoch,
  // so a default-constructed time_point (used as "never") is always in the past.
  explicit FakeClock(int64_t unix_ms = 1'800'000'000'000);

  int64_t now_unix() const override;
  int64_t now_unix_ms() const override;
  SteadyTime steady_now() const override;

  void advance(std::chrono::nanoseconds d);
  void advance_ms(int64_t ms) { advance(std::chrono::milliseconds(ms)); }
  // Moves only the wall clock (an NTP step); monotonic time and waiters are untouched.
  void set_unix_ms(int64_t unix_ms);

  // Threads blocked in a wait on this clock right now.
  size_t waiters() const;
  // Blocks (in real time, at most `real_timeout`) until at least n threads are blocked
  // in a wait on this clock. False on timeout.
  bool await_waiters(size_t n, std::chrono::milliseconds real_timeout = std::chrono::seconds(10)) const;
  // The same, counting only waits with a deadline. A thread woken by a notification is
  // still counted until it runs; a component that waits without a deadline while it
  // has work and with one while it is holding work back shows the latter state here.
  bool await_timed_waiters(size_t n, std::chrono::milliseconds real_timeout = std::chrono::seconds(10)) const;
  // The earliest deadline among the waiters (nullopt: none waits with a deadline).
  std::optional<SteadyTime> next_deadline() const;

 protected:
  bool wait_once(std::unique_lock<std::mutex>& lk, std::condition_variable& cv, SteadyTime deadline) const override;

 private:
  struct Waiter {
    uint64_t id;  // not the address: a thread's next wait reuses the same stack slot
    std::mutex* mu;
    std::condition_variable* cv;
    SteadyTime deadline;
  };
  mutable std::mutex mu_;
  mutable std::condition_variable changed_;  // a waiter arrived or left
  mutable std::vector<const Waiter*> waiters_;
  mutable uint64_t next_id_ = 0;
  std::chrono::nanoseconds unix_;  // wall time since the Unix epoch
  SteadyTime steady_;
};

// RFC 3339 UTC with milliseconds, e.g. 2026-11-26T20:00:00.123Z.
std::string format_rfc3339_ms(int64_t unix_ms);

}  // namespace rend::core
