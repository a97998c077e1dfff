#include "worker/settings.h"

#include <unistd.h>

namespace rend::worker {

Settings parse(const core::Env& env, const core::Deployment& deployment, const auth::Settings& common) {
  using core::ConfigError;
  Settings c;
  c.common = common;
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
  c.work_dir = env.get_or("REND_MEDIA_WORK_DIR", deployment.data_dir + "/work");
  c.edge_warm_urls = env.get_list("REND_EDGE_WARM_URL");
  for (const auto& u : c.edge_warm_urls) core::check_base_url(u, "REND_EDGE_WARM_URL");
  c.active_heartbeat_window_secs = env.get_u64("REND_EDGE_ACTIVE_HEARTBEAT_WINDOW_SECS", 60);
  // Parsed as the API parses it: an import obeys the upload limit.
  c.max_source_bytes = env.get_u64("REND_MAX_UPLOAD_BYTES", 20ull << 30);
  if (c.max_source_bytes == 0) throw ConfigError("REND_MAX_UPLOAD_BYTES must be greater than 0");
  c.import_timeout_secs = env.get_u64("REND_IMPORT_TIMEOUT_SECS", 600);
  if (c.import_timeout_secs == 0) throw ConfigError("REND_IMPORT_TIMEOUT_SECS must be at least 1");
  c.outbound = http::parse_outbound(env, deployment);
  return c;
}

}  // namespace rend::worker
