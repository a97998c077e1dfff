#pragma once
// Running external programs (ffprobe, ffmpeg). An interface so media tests can
// substitute a scripted runner; the real one fork/execs without a shell, so no
// argument is ever interpreted by /bin/sh.
#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <string>
#include <vector>

namespace rend::core {

struct ProcessResult {
  int exit_code = -1;  // -1 when killed by a signal or on timeout
  bool timed_out = false;
  bool cancelled = false;
  std::string out;               // stdout (when capture_stdout), at most max_stdout_bytes
  bool stdout_overflow = false;  // stdout passed max_stdout_bytes: the child was killed
  std::string err_tail;          // last ~8 KiB of stderr, for error messages
};

struct ProcessOptions {
  std::chrono::milliseconds timeout{std::chrono::hours(6)};
  bool capture_stdout = true;
  // Upper bound for the captured stdout (0: none). A child writing more is killed
  // and the result says stdout_overflow: its output comes from untrusted input
  // (ffprobe on an upload) and must not grow the worker's memory without bound.
  size_t max_stdout_bytes = 0;
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

// The child gets /dev/null as stdin, the pipes as stdout/stderr and no other file
// descriptor: everything >= 3 is closed before exec, so ffmpeg never inherits the
// listening sockets, database connections or files of `rend dev`. Every pipe is
// closed on every error path (pipe, fork failing).
class PosixProcessRunner final : public ProcessRunner {
 public:
  PosixProcessRunner() = default;
  // For tests: replaces fork(2), e.g. to simulate EAGAIN.
  explicit PosixProcessRunner(std::function<pid_t()> fork_fn) : fork_(std::move(fork_fn)) {}
  ProcessResult run(const std::vector<std::string>& argv, const ProcessOptions& opts) override;

 private:
  std::function<pid_t()> fork_;
};

}  // namespace rend::core
