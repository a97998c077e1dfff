// Player bootstrap (SPEC §5): JSON with tokenless direct edge URLs plus an HttpOnly
// playback cookie scoped to the asset's path on the edge, so the token never
// appears in JavaScript-visible URLs. The edge is chosen from the request's CDN
// geo headers against the route table, with no per-request control-plane lookup.
//
// When no edge URL is configured at all, the legacy same-origin route
// /api/player/{id}/artifact/{path} serves the bytes from the API itself (marked
// with `x-rend-fallback`); it is a fallback, not the production media path.
#include <any>
#include <memory>
#include <vector>

#include "api/asset_cache.h"
#include "api/common.h"
#include "auth/playback_token.h"
#include "core/crypto.h"
#include "core/ids.h"
#include "core/json.h"
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

// The bootstrap's state per router: the asset cache (api/asset_cache.h).
struct Bootstrap {
  explicit Bootstrap(const ApiDeps& deps) : d(deps), assets(deps.meta, deps.clock) {}
  const ApiDeps& d;
  AssetCache assets;
};

// One rendered answer: what it was rendered for (the edge part of the selection) and
// the JSON, shared by every response that sends it.
struct RenderedBody {
  bool legacy;
  std::string base_url, route_id, region;
  routing::Reason reason;
  std::shared_ptr<const std::string> json;
};
// An asset's rendered answers, one per edge selection seen (kept in its cache entry,
// so a change of the asset drops them with the row). Few: routes × reasons.
struct RenderedBodies {
  static constexpr size_t kMax = 16;
  std::vector<RenderedBody> bodies;
};

std::string render_body(const store::Asset& asset, const routing::Selection& sel, bool legacy, const std::string& base,
                        const ApiDeps& d) {
  const bool playable = asset.status == "playable" || asset.status == "hls_ready";
  boost::json::object edge{{"base_url", legacy ? d.cfg.public_base_url : sel.base_url},
                           {"route_id", sel.route_id},
                           {"region", sel.region},
                           {"reason", std::string(routing::to_string(sel.reason))},
                           {"fallback", legacy}};
  boost::json::object body{{"asset_id", asset.id},
                           {"status", asset.status},
                           {"playable", playable},
                           {"duration_s", asset.duration_s ? boost::json::value(*asset.duration_s) : nullptr},
                           {"progress", asset.progress ? boost::json::value(*asset.progress) : nullptr},
                           {"edge", edge}};
  if (playable) {
    boost::json::object urls{{"master", base + "master.m3u8"}, {"poster", base + "poster.jpg"}};
    // The worker publishes the storyboard before the asset is hls_ready; a video
    // whose storyboard failed answers 404 there and the player shows no previews.
    urls["storyboard"] = asset.status == "hls_ready" ? boost::json::value(base + "storyboard.vtt") : nullptr;
    // Rendered by the edge (?time=&width=); the legacy same-origin route has none.
    urls["thumbnail"] = legacy ? boost::json::value(nullptr) : boost::json::value(base + "thumbnail.jpg");
    body["urls"] = std::move(urls);
  } else {
    body["urls"] = nullptr;
  }
  if (asset.error_code) body["error"] = {{"code", *asset.error_code}, {"message", asset.error_message.value_or("")}};
  // core::serialize_json, as json_response: doubles as people read them.
  return core::serialize_json(body);
}

// The answer for this asset row and selection: rendered once, then shared.
std::shared_ptr<const std::string> body_for(const AssetCache::Entry& entry, const routing::Selection& sel, bool legacy,
                                            const ApiDeps& d) {
  std::lock_guard lock(entry.memo_mu);
  if (!entry.memo.has_value()) entry.memo = RenderedBodies{};
  auto& memo = std::any_cast<RenderedBodies&>(entry.memo);
  for (const auto& b : memo.bodies)
    if (b.legacy == legacy && b.reason == sel.reason && b.base_url == sel.base_url && b.route_id == sel.route_id &&
        b.region == sel.region)
      return b.json;
  const std::string base = legacy ? d.cfg.public_base_url + "/api/player/" + entry.asset.id + "/artifact/"
                                  : sel.base_url + "/v/" + entry.asset.id + "/";
  auto json = std::make_shared<const std::string>(render_body(entry.asset, sel, legacy, base, d));
  if (memo.bodies.size() < RenderedBodies::kMax)
    memo.bodies.push_back({legacy, sel.base_url, sel.route_id, sel.region, sel.reason, json});
  return json;
}

// GET /api/player/{id}. Registered inline (on the I/O thread): with the asset cached
// it needs no store, file or network, so it answers there; anything that may block
// (a cache miss, a private asset's key check, an entitlement check through Autumn)
// answers Response::blocking() and the server runs it again on the handler pool.
http::Response bootstrap(Bootstrap& b, http::Request& req) {
  const ApiDeps& d = b.d;
  const auto& id = req.params["id"];
  if (!core::is_valid_id(id)) return http::Response::error(404, "not_found", "no such asset");
  std::shared_ptr<const AssetCache::Entry> entry;
  if (req.may_block) {
    entry = b.assets.get(id);
  } else if (!(entry = b.assets.peek(id))) {
    return http::Response::blocking();
  }
  if (!entry || entry->asset.status == "deleted") return http::Response::error(404, "not_found", "no such asset");
  const store::Asset& asset = entry->asset;
  if (asset.visibility == "private") {
    if (!req.may_block) return http::Response::blocking();
    auto who = authenticate(d, req, "read");
    if (auto* err = std::get_if<http::Response>(&who)) return std::move(*err);
    if (std::get<store::ApiKey>(who).account_id != asset.account_id)
      return http::Response::error(403, "private_asset", "this asset is private");
  }

  bool playable = asset.status == "playable" || asset.status == "hls_ready";
  // Only a playable asset gets a credential, so only then is delivery checked: the
  // owner account pays for it, whoever watches.
  if (playable && d.billing) {
    if (!req.may_block && d.entitlements && d.billing->mode != billing::Mode::local) return http::Response::blocking();
    if (auto refused = entitlement_refusal(d, asset.account_id, d.billing->delivery_feature(playback_tier(asset))))
      return std::move(*refused);
  }

  auto geo = routing::read_geo([&](std::string_view name) { return req.header(name); }, d.routing.headers);
  auto sel = routing::select_edge(d.routing.table, geo, d.routing.selection);
  bool legacy = !sel.has_edge();
  std::string playback_host = routing::url_authority(legacy ? d.cfg.public_base_url : sel.base_url);
  routing::log_selection(geo, sel, playback_host);

  http::Response res;
  res.headers.set("Content-Type", "application/json");
  res.shared_body = body_for(*entry, sel, legacy, d);
  res.headers.set("Cache-Control", "no-store");
  if (playable) {
    int64_t exp = d.clock.now_unix() + d.cfg.token_ttl_secs;
    auto token = auth::sign_playback_token({d.cfg.common.signing_key_id, d.cfg.common.signing_secret}, asset.id, exp,
                                           core::random_token(12));  // one playback session per page load
    auto site_host = req.header("host").value_or("");
    auto domain = routing::cookie_domain_for(d.cfg.cookie_domain, site_host, playback_host);
    auto path = legacy ? "/api/player/" + asset.id + "/artifact/" : "/v/" + asset.id + "/";
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
  // Shared by the route's copies of the handler; dies with the router (before `d`).
  auto state = std::make_shared<Bootstrap>(d);
  http::RouteOptions inline_opts;
  inline_opts.inline_handler = true;
  r.add(
      "GET", "/api/player/{id}", [state](http::Request& q) { return bootstrap(*state, q); }, inline_opts);
  r.add("GET", "/api/player/{id}/artifact/{path*}", [&d](http::Request& q) { return legacy_artifact(d, q); });
}

}  // namespace rend::api
