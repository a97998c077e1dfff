// The edge registry's API side (SPEC §6): edges register and heartbeat with the
// internal token; the registry drives warm/purge fanout (control/edge_control.h).
#include <algorithm>
#include <regex>

#include "api/common.h"
#include "auth/api_keys.h"
#include "core/log.h"

namespace rend::api {
namespace {

bool internal_ok(const ApiDeps& d, const http::Request& req) {
  auto h = req.header("authorization");
  return h && auth::internal_token_matches(*h, d.cfg.common.edge_internal_token);
}

http::Response heartbeat(const ApiDeps& d, http::Request& req) {
  if (!internal_ok(d, req)) return http::Response::error(401, "unauthorized", "internal token required");
  auto body = parse_json_object(req.body);
  if (!body) return http::Response::error(400, "invalid_json", "body must be a JSON object");
  auto str = [&](const char* k) -> std::string {
    auto* v = body->if_contains(k);
    return v && v->is_string() ? std::string(v->as_string()) : std::string();
  };
  auto num = [&](const char* k) -> int64_t {
    auto* v = body->if_contains(k);
    return v && v->is_int64() && v->as_int64() >= 0 ? v->as_int64() : 0;
  };
  store::EdgeNode e;
  e.edge_id = str("edge_id");
  e.region = str("region");
  e.base_url = str("base_url");
  e.version = str("version");
  e.cache_bytes = num("cache_bytes");
  e.cache_objects = num("cache_objects");
  static const std::regex kId("[a-z0-9][a-z0-9-]{0,62}");
  static const std::regex kRegion("[a-z0-9-]{1,63}");
  if (!std::regex_match(e.edge_id, kId))
    return http::Response::error(400, "invalid_edge_id", "edge_id must match [a-z0-9-]");
  if (!std::regex_match(e.region, kRegion))
    return http::Response::error(400, "invalid_region", "region must match [a-z0-9-]");
  bool https = e.base_url.rfind("https://", 0) == 0;
  if (!https && e.base_url.rfind("http://", 0) != 0)
    return http::Response::error(400, "invalid_base_url", "base_url must be an http(s) URL");
  if (d.cfg.common.production && !https && !d.cfg.allow_insecure_edge_urls)
    return http::Response::error(400, "insecure_edge_url",
                                 "edge base URLs must be https in production (REND_ALLOW_INSECURE_EDGE_URLS)");
  if (!d.cfg.expected_edges.empty()) {
    auto it = std::find_if(d.cfg.expected_edges.begin(), d.cfg.expected_edges.end(),
                           [&](const auto& x) { return x.edge_id == e.edge_id; });
    if (it == d.cfg.expected_edges.end() || it->region != e.region || it->base_url != e.base_url) {
      core::log::warn("edge_registration_refused", {{"edge_id", e.edge_id}, {"region", e.region}});
      return http::Response::error(409, "unexpected_edge", "this edge does not match REND_EXPECTED_EDGES");
    }
  }
  e.last_heartbeat_at_ms = d.clock.now_unix_ms();
  // A fresh record is another live edge: overwriting its URL would send it (and the
  // internal token) elsewhere. A stale one is an edge that moved and may be taken over.
  int64_t fresh_since = e.last_heartbeat_at_ms - int64_t(d.cfg.active_heartbeat_window_secs) * 1000;
  uint64_t max_edges = std::max<uint64_t>(d.cfg.edge_registry_max_edges, d.cfg.expected_edges.size());
  switch (d.meta.heartbeat_edge(e, fresh_since, max_edges)) {
    case store::EdgeHeartbeat::conflict:
      core::log::warn("edge_id_conflict", {{"edge_id", e.edge_id}, {"region", e.region}, {"base_url", e.base_url}});
      return http::Response::error(409, "edge_id_conflict",
                                   "edge_id '" + e.edge_id +
                                       "' is registered by a live edge with another base_url or region; pick a "
                                       "unique REND_EDGE_ID or wait until the old record is stale");
    case store::EdgeHeartbeat::registry_full:
      core::log::warn("edge_registry_full", {{"edge_id", e.edge_id}, {"max_edges", static_cast<int64_t>(max_edges)}});
      return http::Response::error(507, "edge_registry_full",
                                   "the edge registry already holds " + std::to_string(max_edges) +
                                       " live edges (REND_EDGE_REGISTRY_MAX_EDGES)");
    case store::EdgeHeartbeat::taken_over:
      core::log::warn("edge_id_taken_over", {{"edge_id", e.edge_id}, {"region", e.region}, {"base_url", e.base_url}});
      break;
    case store::EdgeHeartbeat::recorded: break;
  }
  return json_response(200, boost::json::object{{"edge_id", e.edge_id}, {"ok", true}});
}

http::Response list(const ApiDeps& d, http::Request& req) {
  if (!internal_ok(d, req)) return http::Response::error(401, "unauthorized", "internal token required");
  auto now = d.clock.now_unix_ms();
  boost::json::array out;
  for (const auto& e : d.meta.list_edges()) {
    bool active = now - e.last_heartbeat_at_ms <= int64_t(d.cfg.active_heartbeat_window_secs) * 1000;
    out.push_back({{"edge_id", e.edge_id},
                   {"region", e.region},
                   {"base_url", e.base_url},
                   {"version", e.version},
                   {"registered_at", core::format_rfc3339_ms(e.registered_at_ms)},
                   {"last_heartbeat_at", core::format_rfc3339_ms(e.last_heartbeat_at_ms)},
                   {"cache_bytes", e.cache_bytes},
                   {"cache_objects", e.cache_objects},
                   {"active", active}});
  }
  return json_response(200, boost::json::object{{"data", std::move(out)}});
}

}  // namespace

void add_edge_routes(http::Router& r, const ApiDeps& d) {
  http::RouteOptions checked;  // the token before the body
  checked.before_body = [&d](const http::Request& q) -> std::optional<http::Response> {
    if (!internal_ok(d, q)) return http::Response::error(401, "unauthorized", "internal token required");
    return std::nullopt;
  };
  r.add(
      "POST", "/internal/edges/heartbeat", [&d](http::Request& q) { return heartbeat(d, q); }, checked);
  r.add("GET", "/internal/edges", [&d](http::Request& q) { return list(d, q); });
}

}  // namespace rend::api
