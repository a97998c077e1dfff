#include "telemetry/settings.h"

namespace rend::telemetry {

SenderSettings parse_sender(const core::Env& env, const core::Deployment& deployment,
                            const std::string& control_plane_url) {
  SenderSettings t;
  t.enabled = env.get_bool("REND_EDGE_TELEMETRY_ENABLED", true);
  t.token = env.get_or("REND_INTERNAL_TELEMETRY_TOKEN", "");
  std::string default_ingest;
  if (!control_plane_url.empty()) {
    default_ingest = control_plane_url;
    while (!default_ingest.empty() && default_ingest.back() == '/') default_ingest.pop_back();
    default_ingest += "/internal/telemetry";
  }
  t.ingest_url = env.get_or("REND_EDGE_TELEMETRY_INGEST_URL", default_ingest);
  if (!t.ingest_url.empty()) core::check_base_url(t.ingest_url, "REND_EDGE_TELEMETRY_INGEST_URL");
  t.queue_capacity = env.get_u64("REND_EDGE_TELEMETRY_QUEUE_CAPACITY", 100000);
  t.batch_size = env.get_u64("REND_EDGE_TELEMETRY_BATCH_SIZE", 1000);
  if (t.queue_capacity == 0 || t.batch_size == 0)
    throw core::ConfigError("REND_EDGE_TELEMETRY_QUEUE_CAPACITY and REND_EDGE_TELEMETRY_BATCH_SIZE must be at least 1");
  t.flush_interval_ms = env.get_millis("REND_EDGE_TELEMETRY_FLUSH_INTERVAL_SECS", 1000);
  t.request_timeout_ms = env.get_millis("REND_EDGE_TELEMETRY_REQUEST_TIMEOUT_SECS", 5000);
  if (t.flush_interval_ms == 0 || t.request_timeout_ms == 0)
    throw core::ConfigError(
        "REND_EDGE_TELEMETRY_FLUSH_INTERVAL_SECS and REND_EDGE_TELEMETRY_REQUEST_TIMEOUT_SECS must be positive");
  t.spool_dir = env.get_or("REND_EDGE_TELEMETRY_SPOOL_DIR", deployment.data_dir + "/telemetry-spool");
  t.spool_max_bytes = env.get_u64("REND_EDGE_TELEMETRY_SPOOL_MAX_BYTES", 1ull << 30);
  if (t.enabled && !t.ingest_url.empty() && t.token.empty())
    throw core::ConfigError("REND_INTERNAL_TELEMETRY_TOKEN must be set when REND_EDGE_TELEMETRY_INGEST_URL is");
  if (deployment.production && t.enabled && t.ingest_url.empty())
    throw core::ConfigError(
        "REND_EDGE_TELEMETRY_INGEST_URL (or REND_CONTROL_PLANE_URL) must be set when REND_ENV=production; "
        "set REND_EDGE_TELEMETRY_ENABLED=false to run without telemetry");
  return t;
}

IngestSettings parse_ingest(const core::Env& env, const core::Deployment& deployment) {
  IngestSettings s;
  s.token = env.get_or("REND_INTERNAL_TELEMETRY_TOKEN", "");
  if (deployment.production && s.token.size() < 32)
    throw core::ConfigError(
        "REND_INTERNAL_TELEMETRY_TOKEN must be set to at least 32 characters when REND_ENV=production");
  s.max_batch_bytes = env.get_u64("REND_TELEMETRY_MAX_BATCH_BYTES", 8ull << 20);
  if (s.max_batch_bytes < 1024) throw core::ConfigError("REND_TELEMETRY_MAX_BATCH_BYTES must be at least 1024");
  return s;
}

}  // namespace rend::telemetry
