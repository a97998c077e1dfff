#pragma once
// The expiry sweeper: a background thread of the API role (started and stopped by
// src/roles) that ends expired uploads: their multipart write is aborted, their
// buffered tail deleted, the upload marked expired (410 from then on) and its asset
// failed with upload_expired. Several API processes may sweep at once: each upload
// is ended under its receiving claim, so by one of them.
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "core/clock.h"
#include "uploads/resumable.h"

namespace rend::uploads {

class Sweeper {
 public:
  // Sweeps every `interval` (by `clock`'s monotonic time).
  Sweeper(ResumableUploads& uploads, const core::Clock& clock, std::chrono::milliseconds interval);
  ~Sweeper();  // stops
  void start();
  void stop();
  // A tenth of the expiry, between 1 s and 60 s: expired uploads go soon after their
  // expiry, at most one scan a second.
  static std::chrono::milliseconds interval_for(const Settings& s);

 private:
  void run();

  ResumableUploads& uploads_;
  const core::Clock& clock_;
  std::chrono::milliseconds interval_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace rend::uploads
