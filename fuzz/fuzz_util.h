#pragma once
// Shared by the libFuzzer targets: a failed invariant aborts, so libFuzzer records
// the input as a crash (assert() would vanish under NDEBUG in RelWithDebInfo).
#include <cstdio>
#include <cstdlib>
#include <string_view>

#define FUZZ_CHECK(cond)                                                                \
  do {                                                                                  \
    if (!(cond)) {                                                                      \
      std::fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, #cond); \
      std::abort();                                                                     \
    }                                                                                   \
  } while (0)

namespace rend::fuzz {

// Splits the input at the first '\n' (an easy format for seeds and dictionaries):
// returns the head and leaves the rest in `in`.
inline std::string_view take_line(std::string_view& in) {
  const auto nl = in.find('\n');
  std::string_view head = in.substr(0, nl);
  in = nl == std::string_view::npos ? std::string_view() : in.substr(nl + 1);
  return head;
}

}  // namespace rend::fuzz
