#pragma once
// Running external programs (ffprobe, ffmpeg). An interface so media tests can
// substitute a scripted runner; the real one fork/execs without a shell, so no
// argument is ever interpreted by /bin/sh.
#include <atomic>
#include <chrono>
#include <functional>
#include <string>
#include <vector>

namespace rend::core {

struct ProcessResult {
  int exit_code = -1;        // -1 when killed by a signal or on timeout
  bool timed_out = false;
  bool cancelled = false;
  std::string out;           // full stdout (when capture_stdout)
  std::string err_tail;      // last ~8 KiB of stderr, for error messages
};

struct ProcessOptions {
  std::chrono::milliseconds timeout{std::chrono::hours(6)};
  bool capture_stdout = true;
  std::string working_dir;  // empty: inherit
  // Polled about every 100 ms while the child runs; returning true kills it.
  std::function<bool()> should_cancel;
  // Called about every 100 ms while the child runs (progress publishing).
  std::function<void()> on_tick;
};

class ProcessRunner {
 public:
  virtual ~ProcessRunner() = default;
  // Blocks until the child exits, times out or is cancelled. Thread-safe.
  virtual ProcessResult run(const std::vector<std::string>& argv, const ProcessOptions& opts) = 0;
};

class PosixProcessRunner final : public ProcessRunner {
 public:
  ProcessResult run(const std::vector<std::string>& argv, const ProcessOptions& opts) override;
};

}  // namespace rend::core
