#include "api/api.h"

#include "api/common.h"
#include "http/cors.h"

namespace rend::api {

std::shared_ptr<http::Router> make_router(const ApiDeps& d) {
  auto r = std::make_shared<http::Router>();
  r->add("GET", "/healthz", [](http::Request&) { return http::Response::json(200, "{\"ok\":true}"); });
  // Readiness: the stores this process needs to do any useful work.
  r->add("GET", "/readyz", [&d](http::Request&) {
    bool db = d.meta.healthy();
    auto obj = d.objects.health();
    boost::json::object checks{{"database", db ? "ok" : "down"}, {"object_store", obj.ok ? "ok" : obj.detail}};
    return json_response(db && obj.ok ? 200 : 503, boost::json::object{{"ready", db && obj.ok}, {"checks", checks}});
  });
  add_upload_routes(*r, d);
  add_asset_routes(*r, d);
  add_player_routes(*r, d);
  add_web_routes(*r, d);
  return r;
}

std::function<void(const http::Request&, http::Response&)> make_decorator(const core::ApiConfig& cfg) {
  return [origins = cfg.cors_allowed_origins](const http::Request& req, http::Response& res) {
    http::apply_cors(origins, req, res, "GET, POST, PUT, DELETE, OPTIONS",
                     "Authorization, Content-Type, X-Request-Id");
    res.headers.set("X-Request-Id", req.request_id);
    if (!res.headers.get("cache-control")) res.headers.set("Cache-Control", "no-store");
  };
}

}  // namespace rend::api
