#include "api/settings.h"

#include <unistd.h>

#include <climits>
#include <filesystem>

namespace rend::api {
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

}  // namespace

Settings parse(const core::Env& env, const auth::Settings& common) {
  using core::check_base_url;
  using core::ConfigError;
  Settings c;
  c.common = common;
  c.bind = core::parse_host_port(env.get_or("REND_API_BIND_ADDR", "127.0.0.1:4000"), "REND_API_BIND_ADDR");
  c.public_base_url = env.get_or("REND_API_PUBLIC_BASE_URL", core::url_for_bind(c.bind));
  check_base_url(c.public_base_url, "REND_API_PUBLIC_BASE_URL");
  c.playback_base_url = env.get_or("REND_PLAYBACK_BASE_URL", "http://127.0.0.1:4100");
  check_base_url(c.playback_base_url, "REND_PLAYBACK_BASE_URL");
  c.cors_allowed_origins = env.get_list("REND_API_CORS_ALLOWED_ORIGINS");
  c.max_upload_bytes = env.get_u64("REND_MAX_UPLOAD_BYTES", 20ull << 30);
  if (c.max_upload_bytes == 0) throw ConfigError("REND_MAX_UPLOAD_BYTES must be greater than 0");
  c.token_ttl_secs = static_cast<int64_t>(env.get_u64("REND_PLAYBACK_TOKEN_TTL_SECS", 21600));
  if (c.token_ttl_secs < 60) throw ConfigError("REND_PLAYBACK_TOKEN_TTL_SECS must be at least 60");
  c.cookie_domain = env.get_or("REND_PLAYBACK_COOKIE_DOMAIN", "");
  c.auto_migrate = env.get_bool("REND_API_AUTO_MIGRATE", true);
  c.edge_purge_urls = env.get_list("REND_EDGE_PURGE_URL");
  for (const auto& u : c.edge_purge_urls) check_base_url(u, "REND_EDGE_PURGE_URL");
  c.web_dir = env.get_or("REND_WEB_DIR", find_up("web").string());
  c.hlsjs_path = env.get_or("REND_HLSJS_PATH", find_up("node_modules/hls.js/dist/hls.min.js").string());
  c.tusjs_path = env.get_or("REND_TUSJS_PATH", find_up("node_modules/tus-js-client/dist/tus.min.js").string());
  c.rate_limit_per_minute = env.get_u64("REND_API_RATE_LIMIT_PER_MINUTE", 0);
  for (const auto& entry : env.get_list("REND_EXPECTED_EDGES")) {
    auto a = entry.find('='), b = entry.find('=', a == std::string::npos ? a : a + 1);
    if (a == std::string::npos || b == std::string::npos || a == 0 || b == a + 1 || b + 1 >= entry.size())
      throw ConfigError("REND_EXPECTED_EDGES entries must be edge_id=region=base_url, got '" + entry + "'");
    Settings::ExpectedEdge e{entry.substr(0, a), entry.substr(a + 1, b - a - 1), entry.substr(b + 1)};
    check_base_url(e.base_url, "REND_EXPECTED_EDGES");
    c.expected_edges.push_back(std::move(e));
  }
  c.allow_insecure_edge_urls = env.get_bool("REND_ALLOW_INSECURE_EDGE_URLS", false);
  c.active_heartbeat_window_secs = env.get_u64("REND_EDGE_ACTIVE_HEARTBEAT_WINDOW_SECS", 60);
  c.edge_registry_max_edges = env.get_u64("REND_EDGE_REGISTRY_MAX_EDGES", 256);
  c.uploads = uploads::parse(env);
  if (c.edge_registry_max_edges == 0) throw ConfigError("REND_EDGE_REGISTRY_MAX_EDGES must be at least 1");
  // Every holder of the shared edge token could otherwise claim any edge id and URL
  // and receive warm/purge calls carrying that token.
  if (common.production && c.expected_edges.empty())
    throw ConfigError(
        "REND_EXPECTED_EDGES must list every edge (edge_id=region=base_url,...) when REND_ENV=production");
  return c;
}

}  // namespace rend::api
