// Player bootstrap (SPEC §5): JSON with tokenless direct edge URLs plus an HttpOnly
// playback cookie scoped to the asset's path on the edge, so the token never
// appears in JavaScript-visible URLs.
#include "api/common.h"
#include "auth/playback_token.h"
#include "core/ids.h"

namespace rend::api {
namespace {

http::Response bootstrap(const ApiDeps& d, http::Request& req) {
  const auto& id = req.params["id"];
  auto asset = core::is_valid_id(id) ? d.meta.get_asset(id) : std::nullopt;
  if (!asset || asset->status == "deleted") return http::Response::error(404, "not_found", "no such asset");
  if (asset->visibility == "private") {
    auto who = authenticate(d, req, "read");
    if (auto* err = std::get_if<http::Response>(&who)) return std::move(*err);
    if (std::get<store::ApiKey>(who).id != asset->owner_key_id)
      return http::Response::error(403, "private_asset", "this asset is private");
  }
  bool playable = asset->status == "playable" || asset->status == "hls_ready";
  auto base = d.cfg.playback_base_url + "/v/" + asset->id + "/";
  boost::json::object body{{"asset_id", asset->id},
                           {"status", asset->status},
                           {"playable", playable},
                           {"duration_s", asset->duration_s ? boost::json::value(*asset->duration_s) : nullptr},
                           {"edge", {{"base_url", d.cfg.playback_base_url}}}};
  if (playable)
    body["urls"] = {{"master", base + "master.m3u8"}, {"poster", base + "poster.jpg"}};
  else
    body["urls"] = nullptr;
  if (asset->error_code) body["error"] = {{"code", *asset->error_code}, {"message", asset->error_message.value_or("")}};
  auto res = json_response(200, body);
  res.headers.set("Cache-Control", "no-store");
  if (playable) {
    int64_t exp = d.clock.now_unix() + d.cfg.token_ttl_secs;
    auto token = auth::sign_playback_token({d.cfg.common.signing_key_id, d.cfg.common.signing_secret}, asset->id, exp);
    std::string cookie = "rend_playback=" + token + "; Path=/v/" + asset->id + "/; Max-Age=" +
                         std::to_string(d.cfg.token_ttl_secs) + "; HttpOnly; SameSite=Lax";
    if (d.cfg.common.production) cookie += "; Secure";
    if (!d.cfg.cookie_domain.empty()) cookie += "; Domain=" + d.cfg.cookie_domain;
    res.headers.add("Set-Cookie", cookie);
  }
  return res;
}

}  // namespace

void add_player_routes(http::Router& r, const ApiDeps& d) {
  r.add("GET", "/api/player/{id}", [&d](http::Request& q) { return bootstrap(d, q); });
}

}  // namespace rend::api
