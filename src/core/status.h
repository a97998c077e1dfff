#pragma once
// The outcome of a step of work (a pipeline stage, a job), as a value rather than an
// exception: Shaka Packager's handlers return one from Initialize/Process/Flush.
//
// A failure carries a machine-readable code (stored on the asset, shown to the
// user), a message safe to show the user (never paths or secrets: details belong
// in logs), and which kind it is:
//   retryable  the infrastructure failed (a store, fork, the disk); the input is not
//              at fault and trying again later may succeed;
//   permanent  a verdict on the input (or a deliberate stop); trying again would
//              end the same way.
#include <string>
#include <utility>

namespace rend::core {

struct Status {
  std::string code;  // empty: OK
  bool retryable = false;
  std::string message;

  bool ok() const { return code.empty(); }

  static Status permanent(std::string code, std::string message) {
    return {std::move(code), false, std::move(message)};
  }
  static Status transient(std::string code, std::string message) { return {std::move(code), true, std::move(message)}; }
};

}  // namespace rend::core
