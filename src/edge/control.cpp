#include "edge/control.h"

#include <thread>

#include "core/log.h"
#include "http/client.h"

namespace rend::edge {

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
