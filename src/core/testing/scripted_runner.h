#pragma once
// Test only. A core::ProcessRunner that runs nothing: per argv pattern it writes
// scripted output files where the argv says its output goes and returns a scripted
// ProcessResult, so code driving ffprobe and ffmpeg runs end to end without them.
//
//   ScriptedRunner r;
//   r.on(program("ffprobe"), {.result = ok_with_stdout(json)});
//   r.on(program_with("ffmpeg", "-filter_complex"), {.files = {{"720p/seg_00000.ts", "..."}, ...}});
//   r.on(program("ffmpeg"), Reply::exits(1, "[libx264 @ 0x1] broken"), 1);  // once, wins over older rules
//
// Rules: the newest matching rule that has uses left answers. An argv no rule
// matches gets exit code 127 and is recorded (unmatched()), so a test can say so.
// Thread-safe (a job runs ffmpeg from helper threads too).
#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "core/process.h"

namespace rend::core::testing {

using Argv = std::vector<std::string>;
using Matcher = std::function<bool(const Argv&)>;

// argv[0] is `name`.
inline Matcher program(std::string name) {
  return [name = std::move(name)](const Argv& a) { return !a.empty() && a[0] == name; };
}
// argv[0] is `name` and one argument equals `arg`.
inline Matcher program_with(std::string name, std::string arg) {
  return [name = std::move(name), arg = std::move(arg)](const Argv& a) {
    if (a.empty() || a[0] != name) return false;
    for (size_t i = 1; i < a.size(); ++i)
      if (a[i] == arg) return true;
    return false;
  };
}

// The directory an argv writes into: the parent of its last argument (where
// ffmpeg and ffprobe put the output or input file), without ffmpeg's per-variant
// "%v" component ("/w/ladder/%v/index.m3u8" -> "/w/ladder").
inline std::filesystem::path output_dir(const Argv& argv) {
  if (argv.empty()) return {};
  std::filesystem::path p = std::filesystem::path(argv.back()).parent_path();
  if (p.filename() == "%v") p = p.parent_path();
  return p;
}

// Writes `files` (path relative to output_dir(argv), bytes) in order, creating parents.
inline void write_files(const Argv& argv, const std::vector<std::pair<std::string, std::string>>& files) {
  auto dir = output_dir(argv);
  for (const auto& [rel, bytes] : files) {
    auto path = dir / rel;
    std::filesystem::create_directories(path.parent_path());
    std::ofstream(path, std::ios::binary) << bytes;
  }
}

struct Reply {
  ProcessResult result = exit_result(0);
  // Written in order before the reply returns, relative to output_dir(argv)
  // (parents created): segments before the playlist that lists them, as ffmpeg does.
  std::vector<std::pair<std::string, std::string>> files;
  // Like a run that does not end by itself: ticks and polls should_cancel every
  // 10 ms until it says stop (result: cancelled, exit -1) or opts.timeout passes
  // (timed_out). Files are written first.
  bool until_cancelled = false;
  // Replaces everything above (e.g. to throw as a failing fork does, or to act on
  // the test's state mid-run).
  std::function<ProcessResult(const Argv&, const ProcessOptions&)> custom;

  static ProcessResult exit_result(int code, std::string err_tail = {}, std::string out = {}) {
    ProcessResult r;
    r.exit_code = code;
    r.err_tail = std::move(err_tail);
    r.out = std::move(out);
    return r;
  }
  static Reply exits(int code, std::string err_tail = {}) { return {.result = exit_result(code, std::move(err_tail))}; }
  static Reply prints(std::string out) { return {.result = exit_result(0, {}, std::move(out))}; }
  static Reply throws(std::string what) {
    return {.custom = [what = std::move(what)](const Argv&, const ProcessOptions&) -> ProcessResult {
      throw std::runtime_error(what);
    }};
  }
};

// What a long run does while the caller waits: tick, poll should_cancel.
inline ProcessResult run_until_cancelled(const ProcessOptions& opts) {
  auto deadline = std::chrono::steady_clock::now() + opts.timeout;
  ProcessResult r;
  while (true) {
    if (opts.on_tick) opts.on_tick();
    if (opts.should_cancel && opts.should_cancel()) {
      r.cancelled = true;
      return r;
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      r.timed_out = true;
      return r;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

class ScriptedRunner final : public ProcessRunner {
 public:
  // times < 0: every time.
  void on(Matcher m, Reply r, int times = -1) {
    std::lock_guard lock(mu_);
    rules_.push_back({std::move(m), std::move(r), times});
  }

  ProcessResult run(const Argv& argv, const ProcessOptions& opts) override {
    Reply reply;
    bool found = false;
    {
      std::lock_guard lock(mu_);
      calls_.push_back(argv);
      for (auto it = rules_.rbegin(); it != rules_.rend(); ++it) {
        if (it->times == 0 || !it->match(argv)) continue;
        if (it->times > 0) --it->times;
        reply = it->reply;
        found = true;
        break;
      }
      if (!found) unmatched_.push_back(argv);
    }
    if (!found) return Reply::exit_result(127, "scripted runner: no rule for " + (argv.empty() ? "" : argv[0]));
    if (reply.custom) return reply.custom(argv, opts);
    write_files(argv, reply.files);
    if (reply.until_cancelled) return run_until_cancelled(opts);
    // The real runner ticks while the child runs: give progress publishing one turn.
    if (opts.on_tick) opts.on_tick();
    return reply.result;
  }

  Argv last_call(const Matcher& m) const {
    std::lock_guard lock(mu_);
    for (auto it = calls_.rbegin(); it != calls_.rend(); ++it)
      if (m(*it)) return *it;
    return {};
  }
  int count(const Matcher& m) const {
    std::lock_guard lock(mu_);
    int n = 0;
    for (const auto& c : calls_) n += m(c) ? 1 : 0;
    return n;
  }
  std::vector<Argv> unmatched() const {
    std::lock_guard lock(mu_);
    return unmatched_;
  }

 private:
  struct Rule {
    Matcher match;
    Reply reply;
    int times;
  };
  mutable std::mutex mu_;
  std::vector<Rule> rules_;
  std::vector<Argv> calls_, unmatched_;
};

}  // namespace rend::core::testing
