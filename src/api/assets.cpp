// Asset resources (SPEC §4): imports from a URL, read, list with cursor pagination,
// delete, and signed playback URLs for players that cannot carry the cookie.
#include "api/asset_text.h"
#include "api/common.h"
#include "api/query_params.h"
#include "auth/playback_token.h"
#include "control/edge_control.h"
#include "core/crypto.h"
#include "core/ids.h"
#include "core/log.h"
#include "http/outbound.h"

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

// POST /v1/assets {"input_url", "visibility"?, "name"?, "filename"?}: an import from a URL (docs/uploads-import.md).
// Only the URL's shape is checked here; the addresses it leads to are checked by the
// worker as it connects (after DNS, on every redirect), so a refused address fails the
// asset with input_forbidden rather than this request. The URL may carry a signed
// query: it is stored, never logged or returned.
http::Response create_import(const ApiDeps& d, http::Request& req) {
  auto who = authenticate(d, req, "upload");
  if (auto* err = std::get_if<http::Response>(&who)) return std::move(*err);
  const auto& key = std::get<store::ApiKey>(who);
  auto body = parse_json_object(req.body);
  if (!body) return http::Response::error(400, "invalid_json", "request body must be a JSON object");
  auto* url = body->if_contains("input_url");
  if (!url || !url->is_string() || url->as_string().empty())
    return http::Response::error(400, "invalid_input_url",
                                 "input_url must be an http(s) URL (uploads of bytes start at POST /v1/uploads)");
  store::Asset asset;
  asset.input_url = std::string(url->as_string());
  if (auto why = http::check_outbound_url(*asset.input_url, d.outbound))
    return http::Response::error(400, "input_forbidden", "input_url is refused: " + *why);
  asset.id = core::new_id("ast");
  asset.status = "queued";
  asset.visibility = "public";
  asset.account_id = key.account_id;
  asset.owner_key_id = key.id;
  asset.created_at_ms = d.clock.now_unix_ms();
  if (auto* v = body->if_contains("visibility")) {
    if (!v->is_string() || (v->as_string() != "public" && v->as_string() != "private"))
      return http::Response::error(400, "invalid_visibility", "visibility must be \"public\" or \"private\"");
    asset.visibility = std::string(v->as_string());
  }
  auto names = asset_names_from_json(*body);
  if (auto* bad = std::get_if<AssetTextRefusal>(&names)) return http::Response::error(400, bad->code, bad->message);
  asset.name = std::get<AssetNames>(names).name;
  asset.source_filename = std::get<AssetNames>(names).filename;
  // As for an upload: storing needs the lowest tier's storage feature; higher tiers are
  // the worker's ladder cap.
  if (auto refused =
          entitlement_refusal(d, key.account_id,
                              d.billing ? d.billing->storage_feature(billing::kTiers[0]) : std::string("storage_720p")))
    return std::move(*refused);
  d.meta.create_import(asset);
  d.coord.notify_job();
  core::log::info("import_created", {{"asset_id", asset.id},
                                     {"key_id", key.id},
                                     {"account_id", key.account_id},
                                     {"host", http::url_host_for_log(*asset.input_url)}});
  // The asset as created: a woken worker may already have moved it on.
  return json_response(201, asset_json(asset));
}

http::Response list_assets(const ApiDeps& d, http::Request& req) {
  auto who = authenticate(d, req, "read");
  if (auto* err = std::get_if<http::Response>(&who)) return std::move(*err);
  auto l = page_limit(req, 20);
  if (auto* err = std::get_if<http::Response>(&l)) return std::move(*err);
  const int limit = std::get<int>(l);
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

// PATCH /v1/assets/{id} {"name": "…" | null}: renames (null clears). The name is the
// only field that can change; any other is refused rather than silently ignored.
http::Response rename_asset(const ApiDeps& d, http::Request& req) {
  return with_asset(d, req, "upload", [&](const store::Asset& a) {
    auto body = parse_json_object(req.body);
    if (!body) return http::Response::error(400, "invalid_json", "request body must be a JSON object");
    for (const auto& field : *body)
      if (field.key() != "name") {
        // Named back only when it is short, printable text.
        const bool showable = field.key().size() <= 64 && !asset_text_problem(field.key());
        return http::Response::error(400, "unsupported_field",
                                     "only name can be changed" +
                                         (showable ? "; not " + std::string(field.key()) : std::string()));
      }
    if (!body->contains("name"))
      return http::Response::error(400, "invalid_name", "send {\"name\": \"...\"} (or null to clear the name)");
    auto names = asset_names_from_json(*body);
    if (auto* bad = std::get_if<AssetTextRefusal>(&names)) return http::Response::error(400, bad->code, bad->message);
    if (!d.meta.set_asset_name(a.id, std::get<AssetNames>(names).name))
      return http::Response::error(409, "asset_deleted", "a deleted asset cannot be renamed");
    core::log::info("asset_renamed", {{"asset_id", a.id}});
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
  r.add(
      "POST", "/v1/assets", [&d](http::Request& q) { return create_import(d, q); }, key_checked(d, "upload"));
  r.add("GET", "/v1/assets/{id}", [&d](http::Request& q) {
    return with_asset(d, q, "read", [](const store::Asset& a) { return json_response(200, asset_json(a)); });
  });
  r.add(
      "PATCH", "/v1/assets/{id}", [&d](http::Request& q) { return rename_asset(d, q); }, key_checked(d, "upload"));
  r.add(
      "DELETE", "/v1/assets/{id}", [&d](http::Request& q) { return delete_asset(d, q); }, key_checked(d, "delete"));
  r.add(
      "POST", "/v1/assets/{id}/playback", [&d](http::Request& q) { return create_playback(d, q); },
      key_checked(d, "read"));
}

}  // namespace rend::api
