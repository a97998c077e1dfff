#include "api/common.h"

#include "api/query_params.h"

#include <algorithm>
#include <cmath>

#include "auth/api_keys.h"
#include "billing/tier.h"
#include "core/clock.h"
#include "core/ids.h"
#include "core/json.h"

namespace rend::api {

namespace {
// The key, scope checks of authenticate(), without the rate limit.
std::variant<store::ApiKey, http::Response> check_key(const ApiDeps& d, const http::Request& req,
                                                      std::string_view scope) {
  auto header = req.header("authorization");
  auto token = header ? auth::bearer_token(*header) : std::nullopt;
  if (!token) return http::Response::error(401, "unauthorized", "missing API key: send Authorization: Bearer <key>");
  auto key = d.meta.find_api_key_by_hash(auth::hash_api_key(*token));
  if (!key || key->revoked_at_ms) return http::Response::error(401, "unauthorized", "invalid or revoked API key");
  if (std::find(key->scopes.begin(), key->scopes.end(), scope) == key->scopes.end())
    return http::Response::error(403, "insufficient_scope",
                                 "this API key lacks the '" + std::string(scope) + "' scope");
  return *key;
}
}  // namespace

http::RouteOptions key_checked(const ApiDeps& d, std::string scope, http::RouteOptions o) {
  o.before_body = [&d, scope = std::move(scope)](const http::Request& req) -> std::optional<http::Response> {
    auto who = check_key(d, req, scope);
    if (auto* refused = std::get_if<http::Response>(&who)) return std::move(*refused);
    return std::nullopt;
  };
  return o;
}

std::variant<store::ApiKey, http::Response> authenticate(const ApiDeps& d, const http::Request& req,
                                                         std::string_view scope) {
  auto who = check_key(d, req, scope);
  if (std::holds_alternative<http::Response>(who)) return who;
  auto key = std::get<store::ApiKey>(std::move(who));
  if (d.cfg.rate_limit_per_minute > 0) {
    auto decision =
        d.coord.rate_limit("api:" + key.id, static_cast<int64_t>(d.cfg.rate_limit_per_minute), 60, d.clock.now_unix());
    if (!decision.allowed) {
      auto r = http::Response::error(429, "rate_limited", "too many requests for this API key");
      r.headers.set("Retry-After", std::to_string(std::max<int64_t>(1, decision.retry_after_secs)));
      return r;
    }
  }
  return key;
}

namespace {
boost::json::value ts(const std::optional<int64_t>& ms) {
  if (!ms) return nullptr;
  return boost::json::value(core::format_rfc3339_ms(*ms));
}
}  // namespace

boost::json::object asset_json(const store::Asset& a) {
  boost::json::object o;
  o["id"] = a.id;
  o["status"] = a.status;
  o["visibility"] = a.visibility;
  o["name"] = a.name ? boost::json::value(*a.name) : boost::json::value(nullptr);
  o["filename"] = a.source_filename ? boost::json::value(*a.source_filename) : boost::json::value(nullptr);
  o["duration_s"] = a.duration_s ? boost::json::value(*a.duration_s) : boost::json::value(nullptr);
  o["width"] = a.width ? boost::json::value(*a.width) : boost::json::value(nullptr);
  o["height"] = a.height ? boost::json::value(*a.height) : boost::json::value(nullptr);
  boost::json::array tiers;
  for (const auto& t : a.tiers)
    tiers.push_back({{"name", t.name}, {"width", t.width}, {"height", t.height}, {"bandwidth", t.bandwidth}});
  o["tiers"] = std::move(tiers);
  o["billing_tier"] = a.billing_tier.empty() ? boost::json::value(nullptr) : boost::json::value(a.billing_tier);
  // Share of the ladder published (0..1), for progress bars while processing.
  o["progress"] = a.progress ? boost::json::value(std::round(*a.progress * 100) / 100) : boost::json::value(nullptr);
  o["source_bytes"] = a.source_bytes ? boost::json::value(*a.source_bytes) : boost::json::value(nullptr);
  o["created_at"] = ts(a.created_at_ms);
  o["uploaded_at"] = ts(a.uploaded_at_ms);
  o["processing_at"] = ts(a.processing_at_ms);
  o["playable_at"] = ts(a.playable_at_ms);
  o["hls_ready_at"] = ts(a.hls_ready_at_ms);
  o["failed_at"] = ts(a.failed_at_ms);
  o["deleted_at"] = ts(a.deleted_at_ms);
  if (a.error_code)
    o["error"] = boost::json::object{{"code", *a.error_code}, {"message", a.error_message.value_or("")}};
  else o["error"] = nullptr;
  return o;
}

http::Response json_response(int status, const boost::json::value& v) {
  // core::serialize_json: doubles as people read them (`10.5`, `1`), not `1.05E1`.
  return http::Response::json(status, core::serialize_json(v));
}

std::optional<store::Asset> owned_asset(const ApiDeps& d, const std::string& id, const store::ApiKey& key) {
  if (!core::is_valid_id(id)) return std::nullopt;
  auto a = d.meta.get_asset(id);
  // Ownership is the account's, not the uploading key's: any of its keys manages it.
  if (!a || a->account_id != key.account_id) return std::nullopt;
  return a;
}

std::optional<http::Response> entitlement_refusal(const ApiDeps& d, const std::string& account_id,
                                                  const std::string& feature) {
  if (!d.entitlements) return std::nullopt;
  auto e = d.entitlements->check(account_id, feature);
  using O = billing::Entitlement::Outcome;
  if (e.outcome == O::allowed) return std::nullopt;
  if (e.outcome == O::denied)
    return http::Response::error(402, "entitlement_denied",
                                 "this account's plan does not include the feature '" + feature + "'");
  auto r = http::Response::error(503, "entitlement_unavailable",
                                 "the billing service cannot confirm this account's plan right now; retry later");
  r.headers.set("Retry-After", std::to_string(std::max<int64_t>(1, e.retry_after_secs)));
  return r;
}

std::string_view playback_tier(const store::Asset& a) {
  if (billing::tier_index(a.billing_tier) >= 0) return a.billing_tier;
  if (a.width && a.height) return billing::tier_for_height(static_cast<int>(std::min(*a.width, *a.height)));
  return billing::kTiers[0];
}

std::variant<TimeRange, http::Response> request_range(const ApiDeps& d, const http::Request& req) {
  constexpr int64_t kDefaultRangeMs = 24 * 3600 * 1000;
  auto from = single_query_param(req, "from");
  auto to = single_query_param(req, "to");
  for (auto* p : {&from, &to})
    if (auto* err = std::get_if<std::string>(p)) return http::Response::error(400, "invalid_range", *err);
  auto r = parse_time_range(std::get<std::optional<std::string>>(from), std::get<std::optional<std::string>>(to),
                            d.clock.now_unix_ms(), kDefaultRangeMs);
  if (auto* err = std::get_if<std::string>(&r)) return http::Response::error(400, "invalid_range", *err);
  return std::get<TimeRange>(r);
}

}  // namespace rend::api
