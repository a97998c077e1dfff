#pragma once
#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>

namespace rend::core {

// Wall-clock source, swapped for a fixed clock in tests (token expiry, timestamps).
// Thread-safe; implementations must not block.
class Clock {
 public:
  virtual ~Clock() = default;
  virtual int64_t now_unix() const = 0;
  virtual int64_t now_unix_ms() const = 0;
};

class SystemClock final : public Clock {
 public:
  int64_t now_unix() const override {
    return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
  }
  int64_t now_unix_ms() const override {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
  }
};

class FixedClock final : public Clock {
 public:
  explicit FixedClock(int64_t unix_secs) : t_(unix_secs) {}
  int64_t now_unix() const override { return t_; }
  int64_t now_unix_ms() const override { return t_ * 1000; }
  void set(int64_t t) { t_ = t; }

 private:
  int64_t t_;
};

// A clock tests move by hand, in milliseconds; safe to read from other threads
// (a job's helper threads) while the test advances it.
class ManualClock final : public Clock {
 public:
  explicit ManualClock(int64_t unix_ms) : ms_(unix_ms) {}
  int64_t now_unix() const override { return ms_.load() / 1000; }
  int64_t now_unix_ms() const override { return ms_.load(); }
  void advance_ms(int64_t d) { ms_ += d; }
  void set_ms(int64_t t) { ms_ = t; }

 private:
  std::atomic<int64_t> ms_;
};

// RFC 3339 UTC with milliseconds, e.g. 2026-11-26T20:00:00.123Z.
std::string format_rfc3339_ms(int64_t unix_ms);

}  // namespace rend::core
