#include "uploads/sweeper.h"

#include <algorithm>

#include "core/log.h"

namespace rend::uploads {

Sweeper::Sweeper(ResumableUploads& uploads, const core::Clock& clock, std::chrono::milliseconds interval)
    : uploads_(uploads), clock_(clock), interval_(interval) {}

Sweeper::~Sweeper() { stop(); }

std::chrono::milliseconds Sweeper::interval_for(const Settings& s) {
  return std::chrono::milliseconds(std::clamp<int64_t>(s.expiry_secs * 100, 1000, 60'000));
}

void Sweeper::start() {
  std::lock_guard lk(mu_);
  if (thread_.joinable()) return;
  stopping_ = false;
  thread_ = std::thread([this] { run(); });
}

void Sweeper::stop() {
  {
    std::lock_guard lk(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void Sweeper::run() {
  std::unique_lock lk(mu_);
  while (!stopping_) {
    lk.unlock();
    try {
      uploads_.sweep_expired();
    } catch (const std::exception& e) {
      // The metadata store is away: the next round tries again.
      core::log::warn("upload_sweep_failed", {{"error", e.what()}});
    }
    lk.lock();
    clock_.wait_for(lk, cv_, interval_, [this] { return stopping_; });
  }
}

}  // namespace rend::uploads
