#pragma once
// The control plane's settings, parsed once by the role (src/roles/settings.h).
#include <cstdint>
#include <string>
#include <vector>

#include "auth/settings.h"
#include "core/config.h"
#include "telemetry/settings.h"
#include "uploads/settings.h"

namespace rend::api {

struct Settings {
  auth::Settings common;                          // signing key, internal token, deployment mode
  core::HostPort bind;                            // REND_API_BIND_ADDR, 127.0.0.1:4000
  std::string public_base_url;                    // REND_API_PUBLIC_BASE_URL, default http://{bind}
  std::string playback_base_url;                  // REND_PLAYBACK_BASE_URL, default http://127.0.0.1:4100
  std::vector<std::string> cors_allowed_origins;  // REND_API_CORS_ALLOWED_ORIGINS
  uint64_t max_upload_bytes = 0;                  // REND_MAX_UPLOAD_BYTES, default 20 GiB
  int64_t token_ttl_secs = 0;                     // REND_PLAYBACK_TOKEN_TTL_SECS, default 21600
  std::string cookie_domain;                      // REND_PLAYBACK_COOKIE_DOMAIN
  bool auto_migrate = true;                       // REND_API_AUTO_MIGRATE
  std::vector<std::string> edge_purge_urls;       // REND_EDGE_PURGE_URL, comma-separated single-edge fallback
  std::string web_dir;                            // REND_WEB_DIR: watch page
  std::string hlsjs_path;                         // REND_HLSJS_PATH: hls.min.js from npm
  std::string tusjs_path;                         // REND_TUSJS_PATH: tus.min.js (tus-js-client) from npm
  uint64_t rate_limit_per_minute = 0;             // REND_API_RATE_LIMIT_PER_MINUTE, 0 = off
  // REND_EXPECTED_EDGES: "edge_id=region=base_url,..."; when set, only these edges
  // may register, with exactly these regions and URLs. Required in production.
  struct ExpectedEdge {
    std::string edge_id, region, base_url;
  };
  std::vector<ExpectedEdge> expected_edges;
  bool allow_insecure_edge_urls = false;      // REND_ALLOW_INSECURE_EDGE_URLS (production only)
  uint64_t active_heartbeat_window_secs = 0;  // REND_EDGE_ACTIVE_HEARTBEAT_WINDOW_SECS, 60
  uint64_t edge_registry_max_edges = 0;       // REND_EDGE_REGISTRY_MAX_EDGES, 256: new edge ids beyond are refused
  telemetry::IngestSettings telemetry;        // parsed by telemetry::parse_ingest
  uploads::Settings uploads;                  // REND_UPLOAD_EXPIRY_SECS (uploads::parse)
};

// Everything but `telemetry`, which the role fills from telemetry::parse_ingest.
// Throws core::ConfigError naming the variable.
Settings parse(const core::Env& env, const auth::Settings& common);

}  // namespace rend::api
