#include "edge/control.h"

#include <algorithm>
#include <thread>

#include "core/log.h"
#include "http/client.h"

namespace rend::edge {

std::vector<std::string> control_urls(store::MetadataStore& meta, const std::vector<std::string>& fallback_urls,
                                      const std::string& path, int64_t now_ms, uint64_t window_secs) {
  std::vector<std::string> out;
  auto add = [&](std::string url) {
    if (std::find(out.begin(), out.end(), url) == out.end()) out.push_back(std::move(url));
  };
  try {
    for (const auto& e : meta.list_edges())
      if (now_ms - e.last_heartbeat_at_ms <= int64_t(window_secs) * 1000) add(e.base_url + path);
  } catch (const std::exception& ex) {
    // The registry is unreachable: the fallbacks still get the call.
    core::log::warn("edge_registry_unavailable", {{"error", ex.what()}});
  }
  for (const auto& u : fallback_urls) add(u);
  return out;
}

void notify_edge_async(std::string action, std::string url, std::string token, std::string asset_id,
                       std::chrono::milliseconds timeout) {
  if (url.empty()) return;
  std::thread([action = std::move(action), url = std::move(url), token = std::move(token),
               asset_id = std::move(asset_id), timeout] {
    http::ClientRequest r;
    r.method = "POST";
    r.url = url;
    r.headers = {{"Authorization", "Bearer " + token}, {"Content-Type", "application/json"}};
    r.body = "{\"asset_id\":\"" + asset_id + "\"}";
    r.timeout = timeout;
    auto res = http::send(r);
    if (!res.ok())
      core::log::warn(action + "_failed",
                      {{"asset_id", asset_id}, {"status", static_cast<int64_t>(res.status)}, {"error", res.error}});
  }).detach();
}

}  // namespace rend::edge
