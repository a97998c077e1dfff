#pragma once
// Every role's configuration, parsed and validated once at startup from an Env
// snapshot into plain structs that are passed down by const reference. A bad value
// throws ConfigError naming the variable; roles print it and exit 2.
//
// Defaults are for the embedded single-machine setup (`rend dev`). Paths default to
// places under the data dir (`--data-dir`, default .rend/dev).
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/env.h"

namespace rend::core {

// S3-compatible object storage; used when endpoint and bucket are both set.
struct S3Settings {
  std::string endpoint;           // S3_ENDPOINT
  std::string region;             // S3_REGION, default us-east-1
  std::string bucket;             // S3_BUCKET
  std::string access_key_id;      // AWS_ACCESS_KEY_ID
  std::string secret_access_key;  // AWS_SECRET_ACCESS_KEY
  bool path_style = true;         // S3_FORCE_PATH_STYLE (false: virtual-hosted, as on AWS)
  std::string health_url;         // OBJECT_STORE_HEALTH_URL
  bool enabled() const { return !endpoint.empty() && !bucket.empty(); }
};

// ClickHouse over HTTP; used when url is set.
struct ClickHouseSettings {
  std::string url;                // CLICKHOUSE_URL
  std::string database;           // CLICKHOUSE_DATABASE, default rend
  std::string user;               // CLICKHOUSE_USER, default default
  std::string password;           // CLICKHOUSE_PASSWORD
  bool enabled() const { return !url.empty(); }
};

struct CommonConfig {
  bool production = false;        // REND_ENV=production
  std::string data_dir;           // --data-dir
  std::string database_url;       // DATABASE_URL, default sqlite://{data_dir}/rend.db
  std::string object_store_dir;   // REND_OBJECT_STORE_DIR, default {data_dir}/objects
  std::string redis_url;          // REND_REDIS_URL; unset: in-process coordination
  S3Settings s3;
  ClickHouseSettings clickhouse;
  std::string signing_key_id;     // REND_PLAYBACK_SIGNING_KEY_ID
  std::string signing_secret;     // REND_PLAYBACK_SIGNING_SECRET
  std::string edge_internal_token;  // REND_EDGE_INTERNAL_TOKEN
  uint64_t http_max_connections = 10000;        // REND_HTTP_MAX_CONNECTIONS, per listener
  uint64_t http_min_body_bytes_per_sec = 1024;  // REND_HTTP_MIN_BODY_BYTES_PER_SEC, 0 = off

  static CommonConfig from_env(const Env& env, const std::string& data_dir);
};

struct ApiConfig {
  CommonConfig common;
  HostPort bind;                   // REND_API_BIND_ADDR, 127.0.0.1:4000
  std::string public_base_url;     // REND_API_PUBLIC_BASE_URL, default http://{bind}
  std::string playback_base_url;   // REND_PLAYBACK_BASE_URL, default http://127.0.0.1:4100
  std::vector<std::string> cors_allowed_origins;  // REND_API_CORS_ALLOWED_ORIGINS
  uint64_t max_upload_bytes = 0;   // REND_MAX_UPLOAD_BYTES, default 20 GiB
  int64_t token_ttl_secs = 0;      // REND_PLAYBACK_TOKEN_TTL_SECS, default 21600
  std::string cookie_domain;       // REND_PLAYBACK_COOKIE_DOMAIN
  bool auto_migrate = true;        // REND_API_AUTO_MIGRATE
  std::vector<std::string> edge_purge_urls;  // REND_EDGE_PURGE_URL, comma-separated single-edge fallback
  std::string web_dir;             // REND_WEB_DIR: watch page
  std::string hlsjs_path;          // REND_HLSJS_PATH: hls.min.js from npm
  uint64_t rate_limit_per_minute = 0;  // REND_API_RATE_LIMIT_PER_MINUTE, 0 = off
  // REND_EXPECTED_EDGES: "edge_id=region=base_url,..."; when set, only these edges
  // may register, with exactly these regions and URLs. Required in production.
  struct ExpectedEdge {
    std::string edge_id, region, base_url;
  };
  std::vector<ExpectedEdge> expected_edges;
  bool allow_insecure_edge_urls = false;     // REND_ALLOW_INSECURE_EDGE_URLS (production only)
  uint64_t active_heartbeat_window_secs = 0;  // REND_EDGE_ACTIVE_HEARTBEAT_WINDOW_SECS, 60
  uint64_t edge_registry_max_edges = 0;  // REND_EDGE_REGISTRY_MAX_EDGES, 256: new edge ids beyond are refused
  std::string internal_telemetry_token;  // REND_INTERNAL_TELEMETRY_TOKEN: edges' bearer for /internal/telemetry
  uint64_t telemetry_max_batch_bytes = 0;  // REND_TELEMETRY_MAX_BATCH_BYTES, 8 MiB: larger batches get 413

  static ApiConfig from_env(const Env& env, const std::string& data_dir);
};

struct WorkerConfig {
  CommonConfig common;
  std::string worker_id;           // REND_MEDIA_WORKER_ID, default hostname-pid
  uint64_t poll_interval_secs = 0; // REND_MEDIA_WORKER_POLL_INTERVAL_SECS, 2
  uint64_t lock_timeout_secs = 0;  // REND_MEDIA_JOB_LOCK_TIMEOUT_SECS, 120
  uint64_t process_timeout_secs = 0;  // REND_MEDIA_PROCESS_TIMEOUT_SECS, 7200
  uint64_t max_duration_secs = 0;  // REND_MEDIA_MAX_DURATION_SECS, 21600
  uint64_t max_pixels = 0;         // REND_MEDIA_MAX_PIXELS, 67108864 (8192x8192), coded pixels a frame
  uint64_t max_fps = 0;            // REND_MEDIA_MAX_FPS, 240
  std::string ffmpeg_path;         // REND_FFMPEG_PATH, ffmpeg
  std::string ffprobe_path;        // REND_FFPROBE_PATH, ffprobe
  std::string work_dir;            // REND_MEDIA_WORK_DIR, {data_dir}/work
  std::vector<std::string> edge_warm_urls;  // REND_EDGE_WARM_URL, comma-separated single-edge fallback
  uint64_t active_heartbeat_window_secs = 0;  // REND_EDGE_ACTIVE_HEARTBEAT_WINDOW_SECS, 60

  static WorkerConfig from_env(const Env& env, const std::string& data_dir);
};

struct EdgeConfig {
  CommonConfig common;
  HostPort bind;                   // REND_EDGE_BIND_ADDR, 127.0.0.1:4100
  std::string edge_id;             // REND_EDGE_ID, edge-local
  std::string region;              // REND_EDGE_REGION, local
  std::string base_url;            // REND_EDGE_BASE_URL, default http://{bind}
  std::vector<std::string> cors_allowed_origins;  // REND_EDGE_CORS_ALLOWED_ORIGINS
  std::string cache_dir;           // REND_EDGE_CACHE_DIR, {data_dir}/edge-cache
  uint64_t playlist_ttl_secs = 0;  // REND_EDGE_PLAYLIST_TTL_SECS, 2
  uint64_t negative_cache_secs = 0;  // REND_EDGE_NEGATIVE_CACHE_SECS, 2: a 404 from the origin is reused this long
  uint64_t max_origin_artifact_bytes = 0;  // REND_EDGE_MAX_ORIGIN_ARTIFACT_BYTES, 512 MiB
  std::string control_plane_url;   // REND_CONTROL_PLANE_URL: the API it registers with; empty = none
  uint64_t heartbeat_interval_secs = 0;  // REND_EDGE_HEARTBEAT_INTERVAL_SECS, 10
  // REND_EDGE_INTERNAL_BIND_ADDR: when set, /internal/* and /metrics are served only
  // on this (private) listener and the public one answers 404 for them. Required
  // in production.
  std::optional<HostPort> internal_bind;
  uint64_t max_in_flight_fills = 0;   // REND_EDGE_MAX_IN_FLIGHT_FILLS, 64
  uint64_t fill_queue_wait_ms = 0;    // REND_EDGE_FILL_QUEUE_WAIT_MS, 1000: then 503 + Retry-After
  uint64_t cache_max_bytes = 0;       // REND_EDGE_CACHE_MAX_BYTES, 10 GiB
  uint64_t cache_min_free_bytes = 0;  // REND_EDGE_CACHE_MIN_FREE_BYTES, 1 GiB (statvfs of the cache dir)
  uint64_t warm_max_artifacts = 0;    // REND_EDGE_WARM_MAX_ARTIFACTS, 16

  struct Telemetry {
    bool enabled = true;              // REND_EDGE_TELEMETRY_ENABLED
    std::string ingest_url;           // REND_EDGE_TELEMETRY_INGEST_URL, default {control plane}/internal/telemetry
    std::string token;                // REND_INTERNAL_TELEMETRY_TOKEN
    uint64_t queue_capacity = 0;      // REND_EDGE_TELEMETRY_QUEUE_CAPACITY, 100000 events
    uint64_t batch_size = 0;          // REND_EDGE_TELEMETRY_BATCH_SIZE, 1000 events
    uint64_t flush_interval_ms = 0;   // REND_EDGE_TELEMETRY_FLUSH_INTERVAL_SECS (fractions allowed), 1 s
    uint64_t request_timeout_ms = 0;  // REND_EDGE_TELEMETRY_REQUEST_TIMEOUT_SECS, 5 s
    std::string spool_dir;            // REND_EDGE_TELEMETRY_SPOOL_DIR, {data_dir}/telemetry-spool
    uint64_t spool_max_bytes = 0;     // REND_EDGE_TELEMETRY_SPOOL_MAX_BYTES, 1 GiB
  } telemetry;

  static EdgeConfig from_env(const Env& env, const std::string& data_dir);
};

// "http://host:port" for a bind address (0.0.0.0 is shown as 127.0.0.1).
std::string url_for_bind(const HostPort& hp);

}  // namespace rend::core
