#pragma once
// The media worker's settings and media limits, parsed once by the role
// (src/roles/settings.h).
#include <cstdint>
#include <string>
#include <vector>

#include "auth/settings.h"
#include "core/config.h"
#include "http/outbound.h"

namespace rend::worker {

struct Settings {
  auth::Settings common;                      // internal token (warm calls), deployment mode
  std::string worker_id;                      // REND_MEDIA_WORKER_ID, default hostname-pid
  uint64_t poll_interval_secs = 0;            // REND_MEDIA_WORKER_POLL_INTERVAL_SECS, 2
  uint64_t lock_timeout_secs = 0;             // REND_MEDIA_JOB_LOCK_TIMEOUT_SECS, 120
  uint64_t process_timeout_secs = 0;          // REND_MEDIA_PROCESS_TIMEOUT_SECS, 7200
  uint64_t max_duration_secs = 0;             // REND_MEDIA_MAX_DURATION_SECS, 21600
  uint64_t max_pixels = 0;                    // REND_MEDIA_MAX_PIXELS, 67108864 (8192x8192), coded pixels a frame
  uint64_t max_fps = 0;                       // REND_MEDIA_MAX_FPS, 240
  std::string ffmpeg_path;                    // REND_FFMPEG_PATH, ffmpeg
  std::string ffprobe_path;                   // REND_FFPROBE_PATH, ffprobe
  std::string work_dir;                       // REND_MEDIA_WORK_DIR, {data_dir}/work
  std::vector<std::string> edge_warm_urls;    // REND_EDGE_WARM_URL, comma-separated single-edge fallback
  uint64_t active_heartbeat_window_secs = 0;  // REND_EDGE_ACTIVE_HEARTBEAT_WINDOW_SECS, 60
  // Imports from a URL (worker/import.h).
  uint64_t max_source_bytes = 0;     // REND_MAX_UPLOAD_BYTES, 20 GiB (the same limit as uploads)
  uint64_t import_timeout_secs = 0;  // REND_IMPORT_TIMEOUT_SECS, 600: the whole fetch
  http::OutboundPolicy outbound;     // REND_ALLOW_PRIVATE_OUTBOUND_URLS, production https only
};

// Throws core::ConfigError naming the variable.
Settings parse(const core::Env& env, const core::Deployment& deployment, const auth::Settings& common);

}  // namespace rend::worker
