#include "core/config.h"

#include <unistd.h>

#include <climits>
#include <filesystem>

namespace rend::core {
namespace {

// Where the executable lives, to find web/ and node_modules/ of a source checkout
// (build/rend -> ../web) when REND_WEB_DIR / REND_HLSJS_PATH are not set.
std::filesystem::path exe_dir() {
  char buf[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0) return std::filesystem::current_path();
  buf[n] = 0;
  return std::filesystem::path(buf).parent_path();
}

std::filesystem::path find_up(const std::string& rel) {
  for (auto dir = exe_dir(); !dir.empty(); dir = dir.parent_path()) {
    if (std::filesystem::exists(dir / rel)) return dir / rel;
    if (dir == dir.parent_path()) break;
  }
  return std::filesystem::current_path() / rel;
}

void check_url(const std::string& value, const std::string& var) {
  if (value.rfind("http://", 0) != 0 && value.rfind("https://", 0) != 0)
    throw ConfigError(var + " must start with http:// or https://");
  if (value.back() == '/') throw ConfigError(var + " must not end with '/'");
}

// SPEC §3: production never runs on an embedded backend. Each role names the
// backends it uses (an edge host has no database, for instance).
struct Needs {
  bool database = false, objects = false, redis = false, clickhouse = false;
};
void require_production_backends(const CommonConfig& c, Needs n) {
  if (!c.production) return;
  if (n.database && c.database_url.rfind("sqlite:", 0) == 0)
    throw ConfigError("DATABASE_URL must point at Postgres when REND_ENV=production (got an embedded sqlite:// URL)");
  if (n.objects && !c.s3.enabled())
    throw ConfigError("S3_ENDPOINT and S3_BUCKET are required when REND_ENV=production (the directory object store is for local use)");
  if (n.redis && c.redis_url.empty())
    throw ConfigError("REND_REDIS_URL is required when REND_ENV=production (in-process coordination is for local use)");
  if (n.clickhouse && !c.clickhouse.enabled())
    throw ConfigError("CLICKHOUSE_URL is required when REND_ENV=production (the SQLite analytics table is for local use)");
}

}  // namespace

std::string url_for_bind(const HostPort& hp) {
  std::string host = hp.host == "0.0.0.0" ? "127.0.0.1" : hp.host;
  if (host.find(':') != std::string::npos) host = "[" + host + "]";
  return "http://" + host + ":" + std::to_string(hp.port);
}

CommonConfig CommonConfig::from_env(const Env& env, const std::string& data_dir) {
  CommonConfig c;
  auto mode = env.get_or("REND_ENV", "local");
  if (mode != "local" && mode != "production") throw ConfigError("REND_ENV must be local or production");
  c.production = mode == "production";
  c.data_dir = data_dir;
  c.database_url = env.get_or("DATABASE_URL", "sqlite://" + data_dir + "/rend.db");
  c.object_store_dir = env.get_or("REND_OBJECT_STORE_DIR", data_dir + "/objects");
  c.redis_url = env.get_or("REND_REDIS_URL", "");
  if (!c.redis_url.empty() && c.redis_url.rfind("redis://", 0) != 0)
    throw ConfigError("REND_REDIS_URL must start with redis://");
  c.s3.endpoint = env.get_or("S3_ENDPOINT", "");
  c.s3.region = env.get_or("S3_REGION", "us-east-1");
  c.s3.bucket = env.get_or("S3_BUCKET", "");
  c.s3.access_key_id = env.get_or("AWS_ACCESS_KEY_ID", "");
  c.s3.secret_access_key = env.get_or("AWS_SECRET_ACCESS_KEY", "");
  c.s3.path_style = env.get_bool("S3_FORCE_PATH_STYLE", true);
  c.s3.health_url = env.get_or("OBJECT_STORE_HEALTH_URL", "");
  if (!c.s3.endpoint.empty() != !c.s3.bucket.empty())
    throw ConfigError(c.s3.endpoint.empty() ? "S3_ENDPOINT must be set when S3_BUCKET is" : "S3_BUCKET must be set when S3_ENDPOINT is");
  if (c.s3.enabled()) check_url(c.s3.endpoint, "S3_ENDPOINT");
  c.clickhouse.url = env.get_or("CLICKHOUSE_URL", "");
  c.clickhouse.database = env.get_or("CLICKHOUSE_DATABASE", "rend");
  c.clickhouse.user = env.get_or("CLICKHOUSE_USER", "default");
  c.clickhouse.password = env.get_or("CLICKHOUSE_PASSWORD", "");
  if (c.clickhouse.enabled()) check_url(c.clickhouse.url, "CLICKHOUSE_URL");
  c.signing_key_id = env.get_or("REND_PLAYBACK_SIGNING_KEY_ID", "dev");
  c.signing_secret = env.get_or("REND_PLAYBACK_SIGNING_SECRET", "");
  c.edge_internal_token = env.get_or("REND_EDGE_INTERNAL_TOKEN", "");
  c.http_max_connections = env.get_u64("REND_HTTP_MAX_CONNECTIONS", 10000);
  if (c.http_max_connections == 0) throw ConfigError("REND_HTTP_MAX_CONNECTIONS must be at least 1");
  c.http_min_body_bytes_per_sec = env.get_u64("REND_HTTP_MIN_BODY_BYTES_PER_SEC", 1024);
  if (c.signing_secret.size() < 32)
    throw ConfigError("REND_PLAYBACK_SIGNING_SECRET must be set to at least 32 characters");
  if (c.production && c.edge_internal_token.size() < 32)
    throw ConfigError("REND_EDGE_INTERNAL_TOKEN must be set to at least 32 characters when REND_ENV=production");
  return c;
}

ApiConfig ApiConfig::from_env(const Env& env, const std::string& data_dir) {
  ApiConfig c;
  c.common = CommonConfig::from_env(env, data_dir);
  require_production_backends(c.common, {.database = true, .objects = true, .redis = true, .clickhouse = true});
  c.bind = parse_host_port(env.get_or("REND_API_BIND_ADDR", "127.0.0.1:4000"), "REND_API_BIND_ADDR");
  c.public_base_url = env.get_or("REND_API_PUBLIC_BASE_URL", url_for_bind(c.bind));
  check_url(c.public_base_url, "REND_API_PUBLIC_BASE_URL");
  c.playback_base_url = env.get_or("REND_PLAYBACK_BASE_URL", "http://127.0.0.1:4100");
  check_url(c.playback_base_url, "REND_PLAYBACK_BASE_URL");
  c.cors_allowed_origins = env.get_list("REND_API_CORS_ALLOWED_ORIGINS");
  c.max_upload_bytes = env.get_u64("REND_MAX_UPLOAD_BYTES", 20ull << 30);
  if (c.max_upload_bytes == 0) throw ConfigError("REND_MAX_UPLOAD_BYTES must be greater than 0");
  c.token_ttl_secs = static_cast<int64_t>(env.get_u64("REND_PLAYBACK_TOKEN_TTL_SECS", 21600));
  if (c.token_ttl_secs < 60) throw ConfigError("REND_PLAYBACK_TOKEN_TTL_SECS must be at least 60");
  c.cookie_domain = env.get_or("REND_PLAYBACK_COOKIE_DOMAIN", "");
  c.auto_migrate = env.get_bool("REND_API_AUTO_MIGRATE", true);
  c.edge_purge_urls = env.get_list("REND_EDGE_PURGE_URL");
  for (const auto& u : c.edge_purge_urls) check_url(u, "REND_EDGE_PURGE_URL");
  c.web_dir = env.get_or("REND_WEB_DIR", find_up("web").string());
  c.hlsjs_path = env.get_or("REND_HLSJS_PATH", find_up("node_modules/hls.js/dist/hls.min.js").string());
  c.rate_limit_per_minute = env.get_u64("REND_API_RATE_LIMIT_PER_MINUTE", 0);
  for (const auto& entry : env.get_list("REND_EXPECTED_EDGES")) {
    auto a = entry.find('='), b = entry.find('=', a == std::string::npos ? a : a + 1);
    if (a == std::string::npos || b == std::string::npos || a == 0 || b == a + 1 || b + 1 >= entry.size())
      throw ConfigError("REND_EXPECTED_EDGES entries must be edge_id=region=base_url, got '" + entry + "'");
    ApiConfig::ExpectedEdge e{entry.substr(0, a), entry.substr(a + 1, b - a - 1), entry.substr(b + 1)};
    check_url(e.base_url, "REND_EXPECTED_EDGES");
    c.expected_edges.push_back(std::move(e));
  }
  c.allow_insecure_edge_urls = env.get_bool("REND_ALLOW_INSECURE_EDGE_URLS", false);
  c.active_heartbeat_window_secs = env.get_u64("REND_EDGE_ACTIVE_HEARTBEAT_WINDOW_SECS", 60);
  c.edge_registry_max_edges = env.get_u64("REND_EDGE_REGISTRY_MAX_EDGES", 256);
  if (c.edge_registry_max_edges == 0) throw ConfigError("REND_EDGE_REGISTRY_MAX_EDGES must be at least 1");
  c.internal_telemetry_token = env.get_or("REND_INTERNAL_TELEMETRY_TOKEN", "");
  if (c.common.production && c.internal_telemetry_token.size() < 32)
    throw ConfigError("REND_INTERNAL_TELEMETRY_TOKEN must be set to at least 32 characters when REND_ENV=production");
  c.telemetry_max_batch_bytes = env.get_u64("REND_TELEMETRY_MAX_BATCH_BYTES", 8ull << 20);
  if (c.telemetry_max_batch_bytes < 1024) throw ConfigError("REND_TELEMETRY_MAX_BATCH_BYTES must be at least 1024");
  // Every holder of the shared edge token could otherwise claim any edge id and URL
  // and receive warm/purge calls carrying that token.
  if (c.common.production && c.expected_edges.empty())
    throw ConfigError("REND_EXPECTED_EDGES must list every edge (edge_id=region=base_url,...) when REND_ENV=production");
  return c;
}

WorkerConfig WorkerConfig::from_env(const Env& env, const std::string& data_dir) {
  WorkerConfig c;
  c.common = CommonConfig::from_env(env, data_dir);
  require_production_backends(c.common, {.database = true, .objects = true, .redis = true});
  char host[256] = "worker";
  gethostname(host, sizeof host - 1);
  c.worker_id = env.get_or("REND_MEDIA_WORKER_ID", std::string(host) + "-" + std::to_string(getpid()));
  c.poll_interval_secs = env.get_u64("REND_MEDIA_WORKER_POLL_INTERVAL_SECS", 2);
  if (c.poll_interval_secs == 0) throw ConfigError("REND_MEDIA_WORKER_POLL_INTERVAL_SECS must be at least 1");
  c.lock_timeout_secs = env.get_u64("REND_MEDIA_JOB_LOCK_TIMEOUT_SECS", 120);
  if (c.lock_timeout_secs < 5) throw ConfigError("REND_MEDIA_JOB_LOCK_TIMEOUT_SECS must be at least 5");
  c.process_timeout_secs = env.get_u64("REND_MEDIA_PROCESS_TIMEOUT_SECS", 7200);
  c.max_duration_secs = env.get_u64("REND_MEDIA_MAX_DURATION_SECS", 21600);
  c.max_pixels = env.get_u64("REND_MEDIA_MAX_PIXELS", 8192ULL * 8192);
  if (c.max_pixels == 0) throw ConfigError("REND_MEDIA_MAX_PIXELS must be at least 1");
  c.max_fps = env.get_u64("REND_MEDIA_MAX_FPS", 240);
  if (c.max_fps == 0) throw ConfigError("REND_MEDIA_MAX_FPS must be at least 1");
  c.ffmpeg_path = env.get_or("REND_FFMPEG_PATH", "ffmpeg");
  c.ffprobe_path = env.get_or("REND_FFPROBE_PATH", "ffprobe");
  c.work_dir = env.get_or("REND_MEDIA_WORK_DIR", data_dir + "/work");
  c.edge_warm_urls = env.get_list("REND_EDGE_WARM_URL");
  for (const auto& u : c.edge_warm_urls) check_url(u, "REND_EDGE_WARM_URL");
  c.active_heartbeat_window_secs = env.get_u64("REND_EDGE_ACTIVE_HEARTBEAT_WINDOW_SECS", 60);
  return c;
}

EdgeConfig EdgeConfig::from_env(const Env& env, const std::string& data_dir) {
  EdgeConfig c;
  c.common = CommonConfig::from_env(env, data_dir);
  require_production_backends(c.common, {.objects = true});
  c.bind = parse_host_port(env.get_or("REND_EDGE_BIND_ADDR", "127.0.0.1:4100"), "REND_EDGE_BIND_ADDR");
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
  c.base_url = env.get_or("REND_EDGE_BASE_URL", url_for_bind(c.bind));
  check_url(c.base_url, "REND_EDGE_BASE_URL");
  c.cors_allowed_origins = env.get_list("REND_EDGE_CORS_ALLOWED_ORIGINS");
  c.cache_dir = env.get_or("REND_EDGE_CACHE_DIR", data_dir + "/edge-cache");
  c.playlist_ttl_secs = env.get_u64("REND_EDGE_PLAYLIST_TTL_SECS", 2);
  c.negative_cache_secs = env.get_u64("REND_EDGE_NEGATIVE_CACHE_SECS", 2);
  c.max_origin_artifact_bytes = env.get_u64("REND_EDGE_MAX_ORIGIN_ARTIFACT_BYTES", 512ull << 20);
  c.control_plane_url = env.get_or("REND_CONTROL_PLANE_URL", "");
  if (!c.control_plane_url.empty()) check_url(c.control_plane_url, "REND_CONTROL_PLANE_URL");
  c.heartbeat_interval_secs = env.get_u64("REND_EDGE_HEARTBEAT_INTERVAL_SECS", 10);
  if (c.heartbeat_interval_secs == 0) throw ConfigError("REND_EDGE_HEARTBEAT_INTERVAL_SECS must be at least 1");
  if (auto internal = env.get("REND_EDGE_INTERNAL_BIND_ADDR"); internal && !internal->empty())
    c.internal_bind = parse_host_port(*internal, "REND_EDGE_INTERNAL_BIND_ADDR");
  // Without it /metrics and /internal/* answer on the public listener.
  if (c.common.production && !c.internal_bind)
    throw ConfigError("REND_EDGE_INTERNAL_BIND_ADDR must be set when REND_ENV=production "
                      "(/internal/* and /metrics must not be served on the public listener)");
  c.max_in_flight_fills = env.get_u64("REND_EDGE_MAX_IN_FLIGHT_FILLS", 64);
  if (c.max_in_flight_fills == 0) throw ConfigError("REND_EDGE_MAX_IN_FLIGHT_FILLS must be at least 1");
  c.fill_queue_wait_ms = env.get_u64("REND_EDGE_FILL_QUEUE_WAIT_MS", 1000);
  c.cache_max_bytes = env.get_u64("REND_EDGE_CACHE_MAX_BYTES", 10ull << 30);
  if (c.cache_max_bytes == 0) throw ConfigError("REND_EDGE_CACHE_MAX_BYTES must be greater than 0");
  c.cache_min_free_bytes = env.get_u64("REND_EDGE_CACHE_MIN_FREE_BYTES", 1ull << 30);
  c.warm_max_artifacts = env.get_u64("REND_EDGE_WARM_MAX_ARTIFACTS", 16);
  if (c.warm_max_artifacts == 0) throw ConfigError("REND_EDGE_WARM_MAX_ARTIFACTS must be at least 1");

  auto& t = c.telemetry;
  t.enabled = env.get_bool("REND_EDGE_TELEMETRY_ENABLED", true);
  t.token = env.get_or("REND_INTERNAL_TELEMETRY_TOKEN", "");
  std::string default_ingest;
  if (!c.control_plane_url.empty()) {
    default_ingest = c.control_plane_url;
    while (!default_ingest.empty() && default_ingest.back() == '/') default_ingest.pop_back();
    default_ingest += "/internal/telemetry";
  }
  t.ingest_url = env.get_or("REND_EDGE_TELEMETRY_INGEST_URL", default_ingest);
  if (!t.ingest_url.empty()) check_url(t.ingest_url, "REND_EDGE_TELEMETRY_INGEST_URL");
  t.queue_capacity = env.get_u64("REND_EDGE_TELEMETRY_QUEUE_CAPACITY", 100000);
  t.batch_size = env.get_u64("REND_EDGE_TELEMETRY_BATCH_SIZE", 1000);
  if (t.queue_capacity == 0 || t.batch_size == 0)
    throw ConfigError("REND_EDGE_TELEMETRY_QUEUE_CAPACITY and REND_EDGE_TELEMETRY_BATCH_SIZE must be at least 1");
  t.flush_interval_ms = env.get_millis("REND_EDGE_TELEMETRY_FLUSH_INTERVAL_SECS", 1000);
  t.request_timeout_ms = env.get_millis("REND_EDGE_TELEMETRY_REQUEST_TIMEOUT_SECS", 5000);
  if (t.flush_interval_ms == 0 || t.request_timeout_ms == 0)
    throw ConfigError("REND_EDGE_TELEMETRY_FLUSH_INTERVAL_SECS and REND_EDGE_TELEMETRY_REQUEST_TIMEOUT_SECS must be positive");
  t.spool_dir = env.get_or("REND_EDGE_TELEMETRY_SPOOL_DIR", data_dir + "/telemetry-spool");
  t.spool_max_bytes = env.get_u64("REND_EDGE_TELEMETRY_SPOOL_MAX_BYTES", 1ull << 30);
  if (t.enabled && !t.ingest_url.empty() && t.token.empty())
    throw ConfigError("REND_INTERNAL_TELEMETRY_TOKEN must be set when REND_EDGE_TELEMETRY_INGEST_URL is");
  if (c.common.production && t.enabled && t.ingest_url.empty())
    throw ConfigError("REND_EDGE_TELEMETRY_INGEST_URL (or REND_CONTROL_PLANE_URL) must be set when REND_ENV=production; "
                      "set REND_EDGE_TELEMETRY_ENABLED=false to run without telemetry");
  return c;
}

}  // namespace rend::core
