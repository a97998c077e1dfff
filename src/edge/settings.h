#pragma once
// A playback edge's settings, parsed once by the role (src/roles/settings.h).
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "auth/settings.h"
#include "core/config.h"

namespace rend::edge {

struct Settings {
  auth::Settings common;                          // signing key, internal token, deployment mode
  core::HostPort bind;                            // REND_EDGE_BIND_ADDR, 127.0.0.1:4100
  std::string edge_id;                            // REND_EDGE_ID, edge-local
  std::string region;                             // REND_EDGE_REGION, local
  std::string base_url;                           // REND_EDGE_BASE_URL, default http://{bind}
  std::vector<std::string> cors_allowed_origins;  // REND_EDGE_CORS_ALLOWED_ORIGINS
  std::string cache_dir;                          // REND_EDGE_CACHE_DIR, {data_dir}/edge-cache
  uint64_t playlist_ttl_secs = 0;                 // REND_EDGE_PLAYLIST_TTL_SECS, 2
  uint64_t negative_cache_secs = 0;  // REND_EDGE_NEGATIVE_CACHE_SECS, 2: a 404 from the origin is reused this long
  uint64_t max_origin_artifact_bytes = 0;  // REND_EDGE_MAX_ORIGIN_ARTIFACT_BYTES, 512 MiB
  std::string control_plane_url;           // REND_CONTROL_PLANE_URL: the API it registers with; empty = none
  uint64_t heartbeat_interval_secs = 0;    // REND_EDGE_HEARTBEAT_INTERVAL_SECS, 10
  // REND_EDGE_INTERNAL_BIND_ADDR: when set, /internal/* and /metrics are served only
  // on this (private) listener and the public one answers 404 for them. Required
  // in production.
  std::optional<core::HostPort> internal_bind;
  uint64_t max_in_flight_fills = 0;   // REND_EDGE_MAX_IN_FLIGHT_FILLS, 64
  uint64_t fill_queue_wait_ms = 0;    // REND_EDGE_FILL_QUEUE_WAIT_MS, 1000: then 503 + Retry-After
  uint64_t cache_max_bytes = 0;       // REND_EDGE_CACHE_MAX_BYTES, 10 GiB
  uint64_t cache_min_free_bytes = 0;  // REND_EDGE_CACHE_MIN_FREE_BYTES, 1 GiB (statvfs of the cache dir)
  uint64_t warm_max_artifacts = 0;    // REND_EDGE_WARM_MAX_ARTIFACTS, 16
  // REND_EDGE_ORIGIN_HEALTH_URL: when set, /readyz GETs it (2xx = the origin is up,
  // 2 s timeout) instead of asking the object store itself.
  std::string origin_health_url;
  std::string ffmpeg_path;  // REND_FFMPEG_PATH, ffmpeg: /v/{id}/thumbnail.jpg (edge/thumbnail.h)
};

// The edge's playback telemetry sender is configured by telemetry::parse_sender
// (the role wires it). Throws core::ConfigError naming the variable.
Settings parse(const core::Env& env, const core::Deployment& deployment, const auth::Settings& common);

}  // namespace rend::edge
