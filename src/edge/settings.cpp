#include "edge/settings.h"

namespace rend::edge {

Settings parse(const core::Env& env, const core::Deployment& deployment, const auth::Settings& common) {
  using core::ConfigError;
  Settings c;
  c.common = common;
  c.bind = core::parse_host_port(env.get_or("REND_EDGE_BIND_ADDR", "127.0.0.1:4100"), "REND_EDGE_BIND_ADDR");
  c.edge_id = env.get_or("REND_EDGE_ID", "edge-local");
  c.region = env.get_or("REND_EDGE_REGION", "local");
  // Both go into every playback event and header; the telemetry wire format allows
  // only these characters, so a bad value is refused here rather than poisoning batches.
  for (const auto& [name, value] : {std::pair{"REND_EDGE_ID", c.edge_id}, std::pair{"REND_EDGE_REGION", c.region}}) {
    bool ok = !value.empty() && value.size() <= 128;
    for (char ch : value)
      ok = ok && ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '.' ||
                  ch == '_' || ch == ':' || ch == '-');
    if (!ok) throw ConfigError(std::string(name) + " must be 1-128 characters of [A-Za-z0-9._:-], got '" + value + "'");
  }
  c.base_url = env.get_or("REND_EDGE_BASE_URL", core::url_for_bind(c.bind));
  core::check_base_url(c.base_url, "REND_EDGE_BASE_URL");
  c.cors_allowed_origins = env.get_list("REND_EDGE_CORS_ALLOWED_ORIGINS");
  c.cache_dir = env.get_or("REND_EDGE_CACHE_DIR", deployment.data_dir + "/edge-cache");
  c.playlist_ttl_secs = env.get_u64("REND_EDGE_PLAYLIST_TTL_SECS", 2);
  c.negative_cache_secs = env.get_u64("REND_EDGE_NEGATIVE_CACHE_SECS", 2);
  c.max_origin_artifact_bytes = env.get_u64("REND_EDGE_MAX_ORIGIN_ARTIFACT_BYTES", 512ull << 20);
  c.control_plane_url = env.get_or("REND_CONTROL_PLANE_URL", "");
  if (!c.control_plane_url.empty()) core::check_base_url(c.control_plane_url, "REND_CONTROL_PLANE_URL");
  c.heartbeat_interval_secs = env.get_u64("REND_EDGE_HEARTBEAT_INTERVAL_SECS", 10);
  if (c.heartbeat_interval_secs == 0) throw ConfigError("REND_EDGE_HEARTBEAT_INTERVAL_SECS must be at least 1");
  if (auto internal = env.get("REND_EDGE_INTERNAL_BIND_ADDR"); internal && !internal->empty())
    c.internal_bind = core::parse_host_port(*internal, "REND_EDGE_INTERNAL_BIND_ADDR");
  // Without it /metrics and /internal/* answer on the public listener.
  if (deployment.production && !c.internal_bind)
    throw ConfigError(
        "REND_EDGE_INTERNAL_BIND_ADDR must be set when REND_ENV=production "
        "(/internal/* and /metrics must not be served on the public listener)");
  c.max_in_flight_fills = env.get_u64("REND_EDGE_MAX_IN_FLIGHT_FILLS", 64);
  if (c.max_in_flight_fills == 0) throw ConfigError("REND_EDGE_MAX_IN_FLIGHT_FILLS must be at least 1");
  c.fill_queue_wait_ms = env.get_u64("REND_EDGE_FILL_QUEUE_WAIT_MS", 1000);
  c.cache_max_bytes = env.get_u64("REND_EDGE_CACHE_MAX_BYTES", 10ull << 30);
  if (c.cache_max_bytes == 0) throw ConfigError("REND_EDGE_CACHE_MAX_BYTES must be greater than 0");
  c.cache_min_free_bytes = env.get_u64("REND_EDGE_CACHE_MIN_FREE_BYTES", 1ull << 30);
  c.warm_max_artifacts = env.get_u64("REND_EDGE_WARM_MAX_ARTIFACTS", 16);
  if (c.warm_max_artifacts == 0) throw ConfigError("REND_EDGE_WARM_MAX_ARTIFACTS must be at least 1");
  c.origin_health_url = env.get_or("REND_EDGE_ORIGIN_HEALTH_URL", "");
  if (!c.origin_health_url.empty() && !c.origin_health_url.starts_with("http://") &&
      !c.origin_health_url.starts_with("https://"))
    throw ConfigError("REND_EDGE_ORIGIN_HEALTH_URL must be an http:// or https:// URL");
  c.ffmpeg_path = env.get_or("REND_FFMPEG_PATH", "ffmpeg");
  if (c.ffmpeg_path.empty()) throw ConfigError("REND_FFMPEG_PATH must not be empty");
  return c;
}

}  // namespace rend::edge
