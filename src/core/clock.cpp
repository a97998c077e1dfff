#include "core/clock.h"

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <string>
#include <utility>

namespace rend::core {

bool SystemClock::wait_once(std::unique_lock<std::mutex>& lk, std::condition_variable& cv, SteadyTime deadline) const {
  if (deadline == SteadyTime::max()) {
    cv.wait(lk);
    return true;
  }
  if (std::chrono::steady_clock::now() >= deadline) return false;
  // A timeout is reported by the next call (the deadline has passed by then), so the
  // caller's predicate is checked once more after every wake-up.
  cv.wait_until(lk, deadline);
  return true;
}

FakeClock::FakeClock(int64_t unix_ms) : unix_(std::chrono::milliseconds(unix_ms)), steady_(std::chrono::hours(1000)) {}

int64_t FakeClock::now_unix() const {
  std::lock_guard g(mu_);
  return std::chrono::duration_cast<std::chrono::seconds>(unix_).count();
}

int64_t FakeClock::now_unix_ms() const {
  std::lock_guard g(mu_);
  return std::chrono::duration_cast<std::chrono::milliseconds>(unix_).count();
}

SteadyTime FakeClock::steady_now() const {
  std::lock_guard g(mu_);
  return steady_;
}

void FakeClock::set_unix_ms(int64_t unix_ms) {
  std::lock_guard g(mu_);
  unix_ = std::chrono::milliseconds(unix_ms);
}

void FakeClock::advance(std::chrono::nanoseconds d) {
  struct Wake {
    std::mutex* mu;
    std::condition_variable* cv;
  };
  std::vector<Wake> wake;
  std::vector<uint64_t> woken;
  {
    std::lock_guard g(mu_);
    steady_ += d;
    unix_ += d;
    for (const Waiter* w : waiters_) {
      wake.push_back({w->mu, w->cv});
      woken.push_back(w->id);
    }
  }
  // Taking the waiter's mutex before notifying: a waiter registered above is either
  // asleep in cv.wait (the mutex is free) or about to be (it holds the mutex until it
  // sleeps), so the notification cannot fall between its check and its sleep. Waiters
  // that register after the time moved see the new time before they sleep.
  for (auto [mu, cv] : wake) {
    std::lock_guard g(*mu);
    cv->notify_all();
  }
  // Until each woken waiter has left its wait (bounded: a waiter stuck behind its own
  // mutex must not hang the test; it fails on its own assertion instead).
  std::unique_lock g(mu_);
  changed_.wait_for(g, std::chrono::seconds(10), [&] {
    return std::none_of(waiters_.begin(), waiters_.end(),
                        [&](const Waiter* w) { return std::find(woken.begin(), woken.end(), w->id) != woken.end(); });
  });
}

size_t FakeClock::waiters() const {
  std::lock_guard g(mu_);
  return waiters_.size();
}

bool FakeClock::await_waiters(size_t n, std::chrono::milliseconds real_timeout) const {
  std::unique_lock g(mu_);
  return changed_.wait_for(g, real_timeout, [&] { return waiters_.size() >= n; });
}

bool FakeClock::await_timed_waiters(size_t n, std::chrono::milliseconds real_timeout) const {
  std::unique_lock g(mu_);
  return changed_.wait_for(g, real_timeout, [&] {
    return size_t(std::count_if(waiters_.begin(), waiters_.end(),
                                [](const Waiter* w) { return w->deadline != SteadyTime::max(); })) >= n;
  });
}

std::optional<SteadyTime> FakeClock::next_deadline() const {
  std::lock_guard g(mu_);
  std::optional<SteadyTime> next;
  for (const Waiter* w : waiters_)
    if (w->deadline != SteadyTime::max() && (!next || w->deadline < *next)) next = w->deadline;
  return next;
}

bool FakeClock::wait_once(std::unique_lock<std::mutex>& lk, std::condition_variable& cv, SteadyTime deadline) const {
  Waiter w{0, lk.mutex(), &cv, deadline};
  {
    // The time check and the registration are one step under mu_, and advance() moves
    // the time and takes its list of waiters in one step: either this waiter sees the
    // new time, or advance() sees this waiter.
    std::lock_guard g(mu_);
    if (steady_ >= deadline) return false;
    w.id = next_id_++;
    waiters_.push_back(&w);
  }
  changed_.notify_all();
  cv.wait(lk);
  {
    std::lock_guard g(mu_);
    waiters_.erase(std::find(waiters_.begin(), waiters_.end(), &w));
  }
  changed_.notify_all();
  return true;
}

std::string format_rfc3339_ms(int64_t unix_ms) {
  time_t secs = unix_ms / 1000;
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char ts[64];
  std::snprintf(ts, sizeof ts, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                tm.tm_hour, tm.tm_min, tm.tm_sec, int(unix_ms % 1000));
  return ts;
}

}  // namespace rend::core
