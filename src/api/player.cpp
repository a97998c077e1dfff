// Player bootstrap (SPEC §5): JSON with tokenless direct edge URLs plus an HttpOnly
// playback cookie scoped to the asset's path on the edge, so the token never
// appears in JavaScript-visible URLs. The edge is chosen from the request's CDN
// geo headers against the route table, with no per-request control-plane lookup.
//
// When no edge URL is configured at all, the legacy same-origin route
// /api/player/{id}/artifact/{path} serves the bytes from the API itself (marked
// with `x-rend-fallback`); it is a fallback, not the production media path.
#include <vector>

#include "api/common.h"
#include "auth/playback_token.h"
#include "core/crypto.h"
#include "core/ids.h"
#include "hls/rewrite.h"
#include "playback/credential.h"
#include "playback/paths.h"
#include "playback/vtt_rewrite.h"

namespace rend::api {
namespace {

std::string playback_cookie(const ApiDeps& d, const std::string& token, const std::string& path,
                            const std::optional<std::string>& domain) {
  std::string c = std::string(playback::kCookieName) + "=" + token + "; Path=" + path +
                  "; Max-Age=" + std::to_string(d.cfg.token_ttl_secs) + "; HttpOnly; SameSite=Lax";
  if (d.cfg.common.production) c += "; Secure";
  if (domain) c += "; Domain=" + *domain;
  return c;
}

http::Response bootstrap(const ApiDeps& d, http::Request& req) {
  const auto& id = req.params["id"];
  auto asset = core::is_valid_id(id) ? d.meta.get_asset(id) : std::nullopt;
  if (!asset || asset->status == "deleted") return http::Response::error(404, "not_found", "no such asset");
  if (asset->visibility == "private") {
    auto who = authenticate(d, req, "read");
    if (auto* err = std::get_if<http::Response>(&who)) return std::move(*err);
    if (std::get<store::ApiKey>(who).account_id != asset->account_id)
      return http::Response::error(403, "private_asset", "this asset is private");
  }

  bool playable = asset->status == "playable" || asset->status == "hls_ready";
  // Only a playable asset gets a credential, so only then is delivery checked: the
  // owner account pays for it, whoever watches.
  if (playable && d.billing)
    if (auto refused = entitlement_refusal(d, asset->account_id, d.billing->delivery_feature(playback_tier(*asset))))
      return std::move(*refused);

  auto geo = routing::read_geo([&](std::string_view name) { return req.header(name); }, d.routing.headers);
  auto sel = routing::select_edge(d.routing.table, geo, d.routing.selection);
  bool legacy = !sel.has_edge();
  std::string base = legacy ? d.cfg.public_base_url + "/api/player/" + asset->id + "/artifact/"
                            : sel.base_url + "/v/" + asset->id + "/";
  std::string playback_host = routing::url_authority(legacy ? d.cfg.public_base_url : sel.base_url);
  routing::log_selection(geo, sel, playback_host);

  boost::json::object edge{{"base_url", legacy ? d.cfg.public_base_url : sel.base_url},
                           {"route_id", sel.route_id},
                           {"region", sel.region},
                           {"reason", std::string(routing::to_string(sel.reason))},
                           {"fallback", legacy}};
  boost::json::object body{{"asset_id", asset->id},
                           {"status", asset->status},
                           {"playable", playable},
                           {"duration_s", asset->duration_s ? boost::json::value(*asset->duration_s) : nullptr},
                           {"progress", asset->progress ? boost::json::value(*asset->progress) : nullptr},
                           {"edge", edge}};
  if (playable) {
    boost::json::object urls{{"master", base + "master.m3u8"}, {"poster", base + "poster.jpg"}};
    // The worker publishes the storyboard before the asset is hls_ready; a video
    // whose storyboard failed answers 404 there and the player shows no previews.
    urls["storyboard"] = asset->status == "hls_ready" ? boost::json::value(base + "storyboard.vtt") : nullptr;
    // Rendered by the edge (?time=&width=); the legacy same-origin route has none.
    urls["thumbnail"] = legacy ? boost::json::value(nullptr) : boost::json::value(base + "thumbnail.jpg");
    body["urls"] = std::move(urls);
  } else {
    body["urls"] = nullptr;
  }
  if (asset->error_code) body["error"] = {{"code", *asset->error_code}, {"message", asset->error_message.value_or("")}};
  auto res = json_response(200, body);
  res.headers.set("Cache-Control", "no-store");
  if (playable) {
    int64_t exp = d.clock.now_unix() + d.cfg.token_ttl_secs;
    auto token = auth::sign_playback_token({d.cfg.common.signing_key_id, d.cfg.common.signing_secret}, asset->id, exp,
                                           core::random_token(12));  // one playback session per page load
    auto site_host = req.header("host").value_or("");
    auto domain = routing::cookie_domain_for(d.cfg.cookie_domain, site_host, playback_host);
    auto path = legacy ? "/api/player/" + asset->id + "/artifact/" : "/v/" + asset->id + "/";
    res.headers.add("Set-Cookie", playback_cookie(d, token, path, legacy ? std::nullopt : domain));
  }
  return res;
}

// Streams an object from the store (the API's origin) to the client.
class ObjectSource final : public http::BodySource {
 public:
  explicit ObjectSource(std::unique_ptr<store::ObjectReader> r) : r_(std::move(r)) {}
  size_t read(char* buf, size_t n) override { return r_->read(buf, n); }
  bool may_block() const override { return true; }

 private:
  std::unique_ptr<store::ObjectReader> r_;
};

http::Response legacy_artifact(const ApiDeps& d, http::Request& req) {
  const auto& id = req.params["id"];
  // Reuse the edge's strict validation by checking the equivalent edge path.
  auto ref = playback::parse_playback_target("/v/" + id + "/" + req.params["path"]);
  if (!ref) return http::Response::error(400, "invalid_path", "invalid playback path");
  auto query_token = req.query_param("token");
  const auto keys = auth::accepted_signing_keys(d.cfg.common);  // current + previous (a rotation)
  const int64_t now = d.clock.now_unix();
  auto check = playback::check_credential(query_token, req.cookie_view(playback::kCookieName), ref->asset_id,
                                          [&](std::string_view token, std::string_view asset_id) {
                                            return auth::verify_playback_token(keys, token, asset_id, now);
                                          });
  if (!check.allowed()) return http::Response::error(check.status, check.code, check.message);
  auto reader = d.objects.get(playback::object_key_for(*ref));
  if (!reader) return http::Response::error(404, "not_found", "no such artifact");
  http::Response res;
  res.headers.set("Content-Type", playback::content_type_for(ref->path));
  res.headers.set("x-rend-fallback", "legacy-artifact-route");
  res.headers.set("Cache-Control", std::string(playback::cache_control_for(ref->kind)));
  // As the edge: a ?token= carries into playlists' URIs and the storyboard's cues.
  const bool storyboard = ref->path == "storyboard.vtt" && query_token;
  if (playback::is_playlist(ref->kind) || storyboard) {
    std::string text;
    std::vector<char> buf(64 * 1024);
    while (size_t n = reader->read(buf.data(), buf.size())) text.append(buf.data(), n);
    if (storyboard) res.body = playback::add_query_to_vtt_cue_uris(text, "token", *query_token);
    else res.body = query_token ? hls::add_query_to_playlist_uris(text, "token", *query_token) : std::move(text);
    return res;
  }
  res.source_length = reader->size();
  res.source = std::make_unique<ObjectSource>(std::move(reader));
  return res;
}

}  // namespace

void add_player_routes(http::Router& r, const ApiDeps& d) {
  r.add("GET", "/api/player/{id}", [&d](http::Request& q) { return bootstrap(d, q); });
  r.add("GET", "/api/player/{id}/artifact/{path*}", [&d](http::Request& q) { return legacy_artifact(d, q); });
}

}  // namespace rend::api
