#include "api/api.h"

#include "api/common.h"
#include "api/upload_access.h"
#include "http/cors.h"

namespace rend::api {

std::shared_ptr<http::Router> make_router(const ApiDeps& d) {
  auto r = std::make_shared<http::Router>();
  r->add("GET", "/healthz", [](http::Request&) { return http::Response::json(200, "{\"ok\":true}"); });
  // Readiness: the dependencies this process needs to do useful work, each named,
  // so an operator sees which one is down (SPEC §9). Probed on every call: a
  // dependency that comes back is reported ready without restarting Rend.
  r->add("GET", "/readyz", [&d](http::Request&) {
    bool db = d.meta.healthy();
    bool coord = d.coord.healthy();
    auto obj = d.objects.health();
    bool ok = db && coord && obj.ok;
    boost::json::object checks{{"database", db ? "ok" : "down"},
                               {"coordination", coord ? "ok" : "down"},
                               {"object_store", obj.ok ? "ok" : "down"}};
    // Analytics is reported but does not gate readiness (the seed's rule: Postgres,
    // Redis, object storage): while it is away, edges spool their telemetry and
    // uploads and playback go on, so taking every API process out of its load
    // balancer would turn a lost dashboard into an outage.
    bool analytics = d.analytics.healthy();
    boost::json::object body{{"ready", ok}, {"checks", checks}};
    if (!ok) {
      boost::json::array down;
      for (const auto& [k, v] : checks)
        if (v != "ok") down.push_back(boost::json::string(k));
      body["down"] = std::move(down);
    }
    body["checks"].as_object()["analytics"] = analytics ? "ok" : "down";
    if (!analytics) body["degraded"] = boost::json::array{"analytics"};
    return json_response(ok ? 200 : 503, body);
  });
  add_upload_routes(*r, d);
  add_asset_routes(*r, d);
  add_player_routes(*r, d);
  add_web_routes(*r, d);
  add_edge_routes(*r, d);
  auto telemetry_sync = add_telemetry_routes(*r, d);
  add_analytics_routes(*r, d, telemetry_sync);
  add_account_routes(*r, d);
  add_usage_routes(*r, d);
  add_key_routes(*r, d);
  add_openapi_routes(*r, d);
  add_webhook_routes(*r, d);
  add_readiness_routes(*r, d);
  return r;
}

std::function<void(const http::Request&, http::Response&)> make_decorator(const Settings& cfg) {
  return [origins = cfg.cors_allowed_origins](const http::Request& req, http::Response& res) {
    // The upload headers (tus) are allowed and exposed for every configured origin.
    http::apply_cors(origins, req, res, "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS", kUploadAllowedHeaders,
                     kUploadExposedHeaders);
    res.headers.set("X-Request-Id", req.request_id);
    if (!res.headers.get("cache-control")) res.headers.set("Cache-Control", "no-store");
    // Nothing the API answers is a document to render (the watch page sets its own
    // policy): a JSON body opened in a browser or framed runs and loads nothing.
    if (!res.headers.get("content-security-policy"))
      res.headers.set("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'");
    res.headers.set("X-Content-Type-Options", "nosniff");
  };
}

}  // namespace rend::api
