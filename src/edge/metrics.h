#pragma once
// The edge's Prometheus metrics (text exposition format 0.0.4).
//
// Why hand-written: prometheus-cpp is not packaged in Debian 12, and the edge needs
// only counters and gauges with one fixed label set, which are a few atomics and a
// printf. Hot-path cost is one relaxed atomic add per counter.
#include <array>
#include <atomic>
#include <cstdint>
#include <string>
#include <string_view>

namespace rend::edge {

enum class CacheResult { hit = 0, miss = 1, none = 2 };  // none: answered before the cache (401, 400, ...)

// Why a viewer response produced no playback event (only GETs answered 200/206 that
// sent body bytes are playback; everything else is counted here instead, so a
// customer's analytics and billing never include it).
enum class Unbilled {
  head = 0,               // HEAD: headers only
  preflight,              // OPTIONS (CORS preflight)
  not_modified,           // 304
  bad_request,            // 400 (invalid path)
  unauthorized,           // 401 (missing, invalid or expired credential)
  forbidden,              // 403 (credential for another asset)
  not_found,              // 404
  method_not_allowed,     // 405
  body_too_large,         // 413
  range_not_satisfiable,  // 416
  no_body,                // 200/206 but the viewer left before any body byte
  error,                  // anything else (5xx: origin error, busy, ...)
  count_
};

class EdgeMetrics {
 public:
  void record_response(int status, CacheResult cache, uint64_t body_bytes, bool complete);
  void record_unbilled(Unbilled why) { unbilled_[size_t(why)].fetch_add(1, std::memory_order_relaxed); }

  // Appends the request counters to `out`.
  void render(std::string& out) const;

 private:
  static constexpr int kMinStatus = 100, kMaxStatus = 599;
  static constexpr size_t kSlots = (kMaxStatus - kMinStatus + 1) * 3;
  std::array<std::atomic<uint64_t>, kSlots> requests_{};
  std::atomic<uint64_t> bytes_sent_{0};
  std::atomic<uint64_t> incomplete_{0};
  std::array<std::atomic<uint64_t>, size_t(Unbilled::count_)> unbilled_{};
};

// Helpers for rendering one sample with HELP/TYPE lines.
void render_metric(std::string& out, std::string_view name, std::string_view type, std::string_view help, double value);

}  // namespace rend::edge
