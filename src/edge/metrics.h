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

class EdgeMetrics {
 public:
  void record_response(int status, CacheResult cache, uint64_t body_bytes, bool complete);

  // Appends the request counters to `out`.
  void render(std::string& out) const;

 private:
  static constexpr int kMinStatus = 100, kMaxStatus = 599;
  static constexpr size_t kSlots = (kMaxStatus - kMinStatus + 1) * 3;
  std::array<std::atomic<uint64_t>, kSlots> requests_{};
  std::atomic<uint64_t> bytes_sent_{0};
  std::atomic<uint64_t> incomplete_{0};
};

// Helpers for rendering one sample with HELP/TYPE lines.
void render_metric(std::string& out, std::string_view name, std::string_view type, std::string_view help,
                   double value);

}  // namespace rend::edge
