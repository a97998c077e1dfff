// Asset resources (SPEC §4): read, list with cursor pagination, delete, and signed
// playback URLs for players that cannot carry the cookie.
#include "api/common.h"
#include "api/query_params.h"
#include "auth/playback_token.h"
#include "control/edge_control.h"
#include "core/crypto.h"
#include "core/log.h"

namespace rend::api {
namespace {

template <class F>
http::Response with_asset(const ApiDeps& d, http::Request& req, std::string_view scope, F&& f) {
  auto who = authenticate(d, req, scope);
  if (auto* err = std::get_if<http::Response>(&who)) return std::move(*err);
  auto asset = owned_asset(d, req.params["id"], std::get<store::ApiKey>(who));
  if (!asset) return http::Response::error(404, "not_found", "no such asset");
  return f(*asset);
}

http::Response list_assets(const ApiDeps& d, http::Request& req) {
  auto who = authenticate(d, req, "read");
  if (auto* err = std::get_if<http::Response>(&who)) return std::move(*err);
  int limit = 20;
  auto l = single_query_param(req, "limit");
  if (auto* err = std::get_if<std::string>(&l)) return http::Response::error(400, "invalid_limit", *err);
  if (const auto& text = std::get<std::optional<std::string>>(l)) {
    auto v = parse_int_strict(*text, 1, 100);
    if (!v) return http::Response::error(400, "invalid_limit", "limit must be an integer from 1 to 100");
    limit = static_cast<int>(*v);
  }
  auto c = single_query_param(req, "cursor");
  if (auto* err = std::get_if<std::string>(&c)) return http::Response::error(400, "invalid_cursor", *err);
  auto cursor = std::get<std::optional<std::string>>(c);
  if (cursor && cursor->empty()) cursor.reset();
  store::ListPage page;
  try {
    page = d.meta.list_assets(std::get<store::ApiKey>(who).account_id, limit, cursor, false);
  } catch (const std::invalid_argument&) {
    return http::Response::error(400, "invalid_cursor", "cursor is not one this API returned");
  }
  boost::json::array data;
  for (const auto& a : page.assets) data.push_back(asset_json(a));
  return json_response(200, boost::json::object{{"data", std::move(data)},
                                                {"next_cursor",
                                                 page.next_cursor ? boost::json::value(*page.next_cursor) : nullptr}});
}

http::Response delete_asset(const ApiDeps& d, http::Request& req) {
  return with_asset(d, req, "delete", [&](const store::Asset& a) {
    if (a.status != "deleted") d.meta.mark_deleted(a.id, d.clock.now_unix_ms());
    // The worker notices the deletion and stops; anything it still writes is
    // removed by its own clean-up, so these deletes only need to run once here.
    size_t n = d.objects.delete_prefix("assets/" + a.id + "/");
    n += d.objects.delete_prefix("sources/" + a.id);
    // Best effort and off the request path: an edge that is down must not fail or
    // slow the delete.
    for (const auto& url : control::control_urls(d.meta, d.cfg.edge_purge_urls, "/internal/purge",
                                                 d.clock.now_unix_ms(), d.cfg.active_heartbeat_window_secs))
      control::notify_edge_async("edge_purge", url, d.cfg.common.edge_internal_token, a.id, std::chrono::seconds(5));
    core::log::info("asset_deleted", {{"asset_id", a.id}, {"objects_removed", static_cast<uint64_t>(n)}});
    auto updated = d.meta.get_asset(a.id);
    return json_response(200, asset_json(updated ? *updated : a));
  });
}

http::Response create_playback(const ApiDeps& d, http::Request& req) {
  return with_asset(d, req, "read", [&](const store::Asset& a) {
    if (a.status != "playable" && a.status != "hls_ready")
      return http::Response::error(409, "not_playable", "asset is " + a.status + ", not playable yet");
    if (d.billing)
      if (auto refused = entitlement_refusal(d, a.account_id, d.billing->delivery_feature(playback_tier(a))))
        return std::move(*refused);
    int64_t exp = d.clock.now_unix() + d.cfg.token_ttl_secs;
    auto token = auth::sign_playback_token({d.cfg.common.signing_key_id, d.cfg.common.signing_secret}, a.id, exp,
                                           core::random_token(12));  // one playback session per credential
    auto base = d.cfg.playback_base_url + "/v/" + a.id + "/";
    return json_response(200, boost::json::object{{"asset_id", a.id},
                                                  {"token", token},
                                                  {"expires_at", core::format_rfc3339_ms(exp * 1000)},
                                                  {"urls",
                                                   {{"master", base + "master.m3u8?token=" + token},
                                                    {"poster", base + "poster.jpg?token=" + token}}}});
  });
}

}  // namespace

void add_asset_routes(http::Router& r, const ApiDeps& d) {
  r.add("GET", "/v1/assets", [&d](http::Request& q) { return list_assets(d, q); });
  r.add("GET", "/v1/assets/{id}", [&d](http::Request& q) {
    return with_asset(d, q, "read", [](const store::Asset& a) { return json_response(200, asset_json(a)); });
  });
  r.add(
      "DELETE", "/v1/assets/{id}", [&d](http::Request& q) { return delete_asset(d, q); }, key_checked(d, "delete"));
  r.add(
      "POST", "/v1/assets/{id}/playback", [&d](http::Request& q) { return create_playback(d, q); },
      key_checked(d, "read"));
}

}  // namespace rend::api
