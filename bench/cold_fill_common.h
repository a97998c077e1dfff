#pragma once
// What bench/cold_fill_origin.cpp and bench/cold_fill_storm.cpp share: their clocks
// (the storm's and the origin's timestamps are compared in one report), the JSON
// string writer of their one-line reports, and how an object's body follows from its
// key (the origin serves it, the storm checks every byte against it).
#include <time.h>

#include <cstdint>
#include <string>
#include <string_view>

namespace cold_fill {

inline int64_t mono_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

inline double unix_s() {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  return double(ts.tv_sec) + double(ts.tv_nsec) / 1e9;
}

// Keys are paths: no control characters expected, any are dropped.
inline std::string json_str(std::string_view s) {
  std::string o = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') o += '\\';
    if (static_cast<unsigned char>(c) < 0x20) continue;
    o += c;
  }
  return o + "\"";
}

// The repeating unit of `key`'s body: the body is (key + "|") repeated, cut at its size.
inline std::string body_unit(const std::string& key) { return key + "|"; }

}  // namespace cold_fill
