#pragma once
// Helpers shared by the API handlers (internal to src/api).
#include <boost/json.hpp>
#include <functional>
#include <optional>
#include <string>
#include <variant>

#include "api/analytics_range.h"
#include "api/api.h"
#include "api/json_body.h"

namespace rend::api {

// The caller's key when it is valid, not revoked, has `scope` and is within its
// rate limit; otherwise the error response to send (401, 403, 429).
std::variant<store::ApiKey, http::Response> authenticate(const ApiDeps& d, const http::Request& req,
                                                         std::string_view scope);

// Route options whose pre-body check (http::RouteOptions::before_body) refuses a
// request without a valid, unrevoked key holding `scope` (401/403) before its body
// is read or 100 Continue is sent. The handler still calls authenticate(), which
// also applies the rate limit (counted once, there).
http::RouteOptions key_checked(const ApiDeps& d, std::string scope, http::RouteOptions o = {});

boost::json::object asset_json(const store::Asset& a);
http::Response json_response(int status, const boost::json::value& v);

// The [from, to) range of a request's `from`/`to` query parameters (default: the 24
// hours before now), or the 400 invalid_range to send. The analytics and usage routes.
std::variant<TimeRange, http::Response> request_range(const ApiDeps& d, const http::Request& req);
// parse_json_object (request bodies): api/json_body.h.

// The asset if it exists and belongs to `key`'s account (others' assets look missing).
std::optional<store::Asset> owned_asset(const ApiDeps& d, const std::string& id, const store::ApiKey& key);

// May `account_id` use `feature` (a storage or delivery feature id) now? nullopt when
// allowed (or when the API has no entitlement checks); otherwise the answer to send:
// 402 entitlement_denied, or 503 + Retry-After when Autumn cannot answer and the
// failure policy is deny.
std::optional<http::Response> entitlement_refusal(const ApiDeps& d, const std::string& account_id,
                                                  const std::string& feature);
// The billing tier playback of `a` is charged at: its recorded billing tier, or, before
// the ladder has recorded one (the fast path's remux), the tier of its probed lines.
std::string_view playback_tier(const store::Asset& a);

// Handlers, one file per resource.
void add_upload_routes(http::Router& r, const ApiDeps& d);  // and the tus routes (tus.cpp)
void add_tus_routes(http::Router& r, const ApiDeps& d);
void add_asset_routes(http::Router& r, const ApiDeps& d);
void add_player_routes(http::Router& r, const ApiDeps& d);
void add_web_routes(http::Router& r, const ApiDeps& d);
void add_edge_routes(http::Router& r, const ApiDeps& d);
// Returns what a reader calls to see every event ingest has answered (telemetry's sync).
std::function<void()> add_telemetry_routes(http::Router& r, const ApiDeps& d);
void add_analytics_routes(http::Router& r, const ApiDeps& d, std::function<void()> telemetry_sync = {});
void add_account_routes(http::Router& r, const ApiDeps& d);
void add_usage_routes(http::Router& r, const ApiDeps& d);
void add_key_routes(http::Router& r, const ApiDeps& d);
void add_openapi_routes(http::Router& r, const ApiDeps& d);
void add_webhook_routes(http::Router& r, const ApiDeps& d);
void add_readiness_routes(http::Router& r, const ApiDeps& d);

}  // namespace rend::api
