#pragma once
// Settings of the playback readiness gate (`rend readiness`, issue 15) and of the
// operator page that shows its latest result. Parsed once; a bad value throws
// core::ConfigError naming the variable (never its value: some are secrets).
#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "core/env.h"

namespace rend::readiness {

// The eight timings the seed names, in the order the run measures them. Each has
// REND_READINESS_WARN_{NAME}_MS and REND_READINESS_FAIL_{NAME}_MS (NAME upper-cased).
inline constexpr std::array<const char*, 8> kTimingNames = {
    "upload_response", "upload_to_opener_playable", "upload_to_hls_ready",  "playback_bootstrap", "edge_ttfb_miss",
    "edge_ttfb_hit",   "edge_ttfb_warmed_hit",      "telemetry_visibility",
};

struct Limit {
  uint64_t warn_ms = 0;
  uint64_t fail_ms = 0;
};

// The documented conservative defaults (docs/launch-gate-v1.md): loose enough that a
// healthy small deployment passes, tight enough that a stuck path fails.
Limit default_limit(std::string_view timing);

struct EdgeTarget {
  std::string id;            // as registered (REND_EDGE_ID)
  std::string region;        // as registered (REND_EDGE_REGION)
  std::string public_base;   // where viewers fetch /v/...
  std::string private_base;  // /readyz, /internal/warm, /internal/purge, /metrics (default: public_base)
};

// Where artifacts go. The history of runs lives in `runs_dir`, beside the latest file.
struct Outputs {
  std::string latest;    // REND_READINESS_LATEST_OUTPUT, default .rend/readiness/playback-readiness-latest.json
  std::string runs_dir;  // {dir of latest}/runs
  std::string run_file;  // REND_READINESS_OUTPUT; empty: {runs_dir}/{time}.json
};

// What one run checks and against what.
struct Settings {
  std::string api_base_url;         // REND_API_BASE_URL
  std::string api_key;              // REND_READINESS_API_KEY (scopes upload, read, delete, analytics)
  std::string edge_internal_token;  // REND_EDGE_INTERNAL_TOKEN
  std::vector<EdgeTarget> edges;    // REND_READINESS_EDGES
  std::array<Limit, kTimingNames.size()> limits;
  Outputs outputs;

  const Limit& limit(std::string_view timing) const;
};

// Thresholds and outputs only (every target).
Settings parse_common(const core::Env& env);
// Target `configured`: parse_common plus REND_API_BASE_URL, REND_READINESS_API_KEY,
// REND_EDGE_INTERNAL_TOKEN and REND_READINESS_EDGES, all required.
Settings parse_configured(const core::Env& env);
// "edge_id=region=public_base[=private_base],..." (REND_READINESS_EDGES).
std::vector<EdgeTarget> parse_edges(const std::string& value, const std::string& var);

// The operator page (API): which artifact it shows and where the history is.
struct PageSettings {
  std::string artifact_path;  // REND_READINESS_ARTIFACT_PATH, default the default latest file
  std::string runs_dir;       // {dir of artifact_path}/runs
};
PageSettings parse_page(const core::Env& env);

}  // namespace rend::readiness
