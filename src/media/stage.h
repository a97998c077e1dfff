#pragma once
// A job as a short chain of stages, after Shaka Packager's MediaHandler: each stage
// has Initialize / Process / Flush returning a Status, and a small driver runs them.
//
// The driver runs initialize() of every stage in order, then process() of every
// stage, then flush() of every stage, and stops at the first non-OK status (nothing
// after it runs). So a stage that starts background work in initialize() (a helper
// thread) runs it concurrently with the process() of the stages after it, and
// waits for it in flush().
//
// Lifetime: stages share state through an explicit context object that outlives
// them. A stage's destructor stops and joins whatever it started, however the run
// ended (a failure status, an exception passing through the driver).
#include <span>

#include "core/status.h"

namespace rend::media {

class Stage {
 public:
  virtual ~Stage() = default;
  virtual const char* name() const = 0;
  // Checks inputs, prepares, may start background work. Caller's thread.
  virtual core::Status initialize() { return {}; }
  // The stage's main work. Caller's thread.
  virtual core::Status process() { return {}; }
  // Waits for background work and writes final outputs. Caller's thread.
  virtual core::Status flush() { return {}; }
};

// Exceptions are not caught here: a stage maps the failures it knows to a Status,
// and anything else is the job's caller's to handle (the worker retries it).
inline core::Status run_stages(std::span<Stage* const> stages) {
  for (auto phase : {&Stage::initialize, &Stage::process, &Stage::flush})
    for (Stage* s : stages)
      if (core::Status st = (s->*phase)(); !st.ok()) return st;
  return {};
}

}  // namespace rend::media
