#pragma once
// One readiness run's result and its artifact (issue 15): the checks, the timings
// against their thresholds, per-edge results, the overall status, and the redacted
// JSON files the operator page reads.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "readiness/settings.h"

namespace rend::readiness {

enum class Status { pass, warn, fail };
std::string_view to_string(Status s);

// A correctness or safety check. `edge_id` is empty for a check of the whole
// deployment. `detail` is written by the runner from ids, codes and numbers only.
struct Check {
  std::string name;
  std::string edge_id;
  bool ok = false;
  std::string detail;
};

// One of the eight timings (readiness::kTimingNames); nullopt: not measured (a
// step before it failed).
struct Timing {
  std::string name;
  std::optional<double> ms;
  Limit limit;
  Status status() const;  // not measured counts as fail
};

struct EdgeResult {
  std::string id, region;
  std::optional<double> ttfb_miss_ms, ttfb_hit_ms, ttfb_warmed_hit_ms;
  std::optional<int64_t> telemetry_dropped_delta, telemetry_rejected_delta, telemetry_spool_bytes;
};

struct Result {
  std::string run_id;
  std::string target;  // "local" | "configured"
  int64_t started_at_ms = 0;
  int64_t finished_at_ms = 0;
  std::vector<Check> checks;
  std::vector<Timing> timings;
  std::vector<EdgeResult> edges;
  // Bytes the edges sent per delivered minute of this run's playback, from analytics:
  // a proxy for delivery cost, not a billing figure.
  std::optional<double> bytes_per_delivered_minute_proxy;

  Status status() const;
  Status edge_status(const std::string& edge_id) const;
  // Human-readable, one line each: "check edge_ready (edge-london): readyz answered 0".
  std::vector<std::string> failures() const;
  std::vector<std::string> warnings() const;
};

std::string to_json(const Result& r);

// Writes {runs_dir}/{time}.json (or the REND_READINESS_OUTPUT file) and the latest
// file, each atomically (temp + rename), after scanning the serialized text with
// find_leak. On a leak nothing of `r` is written: `r` gets a failed
// `artifact_redaction` check naming the kind of leak (never the text), and that
// stripped result (no details) is what is written instead. Returns the run file path;
// `r` is updated in place either way.
std::string write_artifacts(Result& r, const Outputs& out, const std::vector<std::string>& known_secrets);

}  // namespace rend::readiness
