#include "edge/metrics.h"

#include <cstdio>
#include <iterator>

namespace rend::edge {

void EdgeMetrics::record_response(int status, CacheResult cache, uint64_t body_bytes, bool complete) {
  if (status < kMinStatus || status > kMaxStatus) status = 500;
  requests_[size_t(status - kMinStatus) * 3 + size_t(cache)].fetch_add(1, std::memory_order_relaxed);
  bytes_sent_.fetch_add(body_bytes, std::memory_order_relaxed);
  if (!complete) incomplete_.fetch_add(1, std::memory_order_relaxed);
}

void render_metric(std::string& out, std::string_view name, std::string_view type, std::string_view help,
                   double value) {
  char num[64];
  std::snprintf(num, sizeof num, "%.17g", value);
  out.append("# HELP ").append(name).append(" ").append(help).append("\n");
  out.append("# TYPE ").append(name).append(" ").append(type).append("\n");
  out.append(name).append(" ").append(num).append("\n");
}

void EdgeMetrics::render(std::string& out) const {
  static const char* kCache[] = {"HIT", "MISS", "none"};
  out.append("# HELP rend_edge_requests_total Viewer-facing responses by status code and cache result.\n");
  out.append("# TYPE rend_edge_requests_total counter\n");
  for (size_t i = 0; i < kSlots; ++i) {
    uint64_t v = requests_[i].load(std::memory_order_relaxed);
    if (v == 0) continue;
    char line[160];
    std::snprintf(line, sizeof line, "rend_edge_requests_total{code=\"%d\",cache=\"%s\"} %llu\n",
                  int(i / 3) + kMinStatus, kCache[i % 3], (unsigned long long)v);
    out.append(line);
  }
  static const char* kUnbilled[] = {
      "head",      "preflight",          "not_modified",   "bad_request",           "unauthorized", "forbidden",
      "not_found", "method_not_allowed", "body_too_large", "range_not_satisfiable", "no_body",      "error"};
  static_assert(std::size(kUnbilled) == size_t(Unbilled::count_));
  out.append(
      "# HELP rend_edge_unbilled_responses_total Viewer-facing responses that are not playback (no analytics "
      "event), by reason.\n");
  out.append("# TYPE rend_edge_unbilled_responses_total counter\n");
  for (size_t i = 0; i < unbilled_.size(); ++i) {
    char line[160];
    std::snprintf(line, sizeof line, "rend_edge_unbilled_responses_total{reason=\"%s\"} %llu\n", kUnbilled[i],
                  (unsigned long long)unbilled_[i].load(std::memory_order_relaxed));
    out.append(line);
  }
  render_metric(out, "rend_edge_response_bytes_total", "counter", "Response body bytes written to viewers.",
                double(bytes_sent_.load(std::memory_order_relaxed)));
  render_metric(out, "rend_edge_responses_incomplete_total", "counter",
                "Responses that ended before their whole body was written (viewer gone, origin failed mid-fill).",
                double(incomplete_.load(std::memory_order_relaxed)));
}

}  // namespace rend::edge
