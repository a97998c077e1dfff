// Analytics API (SPEC §7): usage per asset and per edge over a time range, from the
// playback events edges send to /internal/telemetry. API keys need the `analytics`
// scope.
//
//   GET /v1/analytics/assets/{asset_id}?from=&to=
//   GET /v1/analytics/edges?from=&to=
//
// from/to: unix milliseconds or RFC 3339; the range is [from, to). Default: the 24
// hours up to now.
//
// Every summary counts each event_id once and has: requests, views (distinct sessions
// that requested a segment), bytes, delivered_minutes {tier: minutes of 200/206
// segments}, cache_hits, cache_misses, cache_hit_ratio (null without either),
// ttfb_ms {p50, p95} (null without requests). An asset with no events in the range
// has zeros. /edges lists {edge_id, region, ...} per edge and a per-region rollup of
// the fields that add up across edges.
#include <map>

#include "api/analytics_range.h"
#include "api/common.h"
#include "api/query_params.h"
#include "auth/api_keys.h"
#include "core/clock.h"
#include "core/ids.h"
#include "store/metadata.h"

namespace rend::api {
namespace {

boost::json::value ratio(int64_t hits, int64_t misses) {
  if (hits + misses == 0) return nullptr;
  return double(hits) / double(hits + misses);
}

boost::json::object minutes_json(const std::vector<store::TierMinutes>& tiers) {
  boost::json::object o;
  for (const auto& t : tiers) o[t.tier.empty() ? "unknown" : t.tier] = t.minutes;
  return o;
}

// The usage fields shared by every summary. `u` may be all zeros (nothing in range).
void put_usage(boost::json::object& o, const store::UsageSummary& u) {
  o["requests"] = u.requests;
  o["views"] = u.views;
  o["bytes"] = u.bytes;
  o["delivered_minutes"] = minutes_json(u.delivered_minutes);
  o["cache_hits"] = u.hits;
  o["cache_misses"] = u.misses;
  o["cache_hit_ratio"] = ratio(u.hits, u.misses);
  // No requests, no percentile: null rather than a made-up 0 ms.
  o["ttfb_ms"] = u.requests ? boost::json::object{{"p50", u.ttfb_p50_ms}, {"p95", u.ttfb_p95_ms}}
                            : boost::json::object{{"p50", nullptr}, {"p95", nullptr}};
}

void put_range(boost::json::object& o, const TimeRange& r) {
  o["from"] = core::format_rfc3339_ms(r.from_ms);
  o["to"] = core::format_rfc3339_ms(r.to_ms);
}

http::Response store_down() {
  auto r = http::Response::error(503, "analytics_unavailable", "the analytics store is unavailable; retry later");
  r.headers.set("Retry-After", "5");
  return r;
}

http::Response asset_usage(const ApiDeps& d, const std::function<void()>& sync, http::Request& req) {
  auto who = authenticate(d, req, "analytics");
  if (auto* err = std::get_if<http::Response>(&who)) return std::move(*err);
  const auto& id = req.params["asset_id"];
  if (!core::is_valid_id(id) || id.rfind("ast_", 0) != 0)
    return http::Response::error(400, "invalid_asset_id", "asset ids look like ast_ followed by 26 characters");
  auto range = request_range(d, req);
  if (auto* err = std::get_if<http::Response>(&range)) return std::move(*err);
  const auto& r = std::get<TimeRange>(range);
  if (!owned_asset(d, id, std::get<store::ApiKey>(who)))
    return http::Response::error(404, "not_found", "no such asset");

  std::optional<store::UsageSummary> u;
  if (sync) sync();  // every event ingest has answered is counted
  try {
    u = d.analytics.asset_summary(id, r.from_ms, r.to_ms);
  } catch (const store::StoreError&) {
    return store_down();
  }
  boost::json::object o;
  o["asset_id"] = id;
  put_range(o, r);
  put_usage(o, u.value_or(store::UsageSummary{}));
  return json_response(200, o);
}

http::Response edge_usage(const ApiDeps& d, const std::function<void()>& sync, http::Request& req) {
  // Totals over every tenant's traffic: an operator view, not a customer one.
  auto who = authenticate(d, req, auth::kOperatorScope);
  if (auto* err = std::get_if<http::Response>(&who)) return std::move(*err);
  auto range = request_range(d, req);
  if (auto* err = std::get_if<http::Response>(&range)) return std::move(*err);
  const auto& r = std::get<TimeRange>(range);

  std::vector<store::UsageSummary> rows;
  if (sync) sync();
  try {
    rows = d.analytics.edge_summaries(r.from_ms, r.to_ms);
  } catch (const store::StoreError&) {
    return store_down();
  }

  // The per-region rollup carries only what adds up across edges. Views (distinct
  // sessions) and TTFB percentiles do not: a session may use two edges of a region,
  // and percentiles of parts do not give the percentile of the whole.
  struct Region {
    int64_t edges = 0, requests = 0, bytes = 0, hits = 0, misses = 0;
    std::map<std::string, double> minutes;
  };
  std::map<std::string, Region> regions;
  boost::json::array edges;
  for (const auto& u : rows) {
    boost::json::object e;
    e["edge_id"] = u.key;
    e["region"] = u.region;
    put_usage(e, u);
    edges.push_back(std::move(e));
    auto& g = regions[u.region];
    g.edges += 1;
    g.requests += u.requests;
    g.bytes += u.bytes;
    g.hits += u.hits;
    g.misses += u.misses;
    for (const auto& t : u.delivered_minutes) g.minutes[t.tier] += t.minutes;
  }
  boost::json::array region_list;
  for (const auto& [name, g] : regions) {
    std::vector<store::TierMinutes> tiers;
    for (const auto& [tier, m] : g.minutes) tiers.push_back({tier, m});
    region_list.push_back({{"region", name},
                           {"edges", g.edges},
                           {"requests", g.requests},
                           {"bytes", g.bytes},
                           {"delivered_minutes", minutes_json(tiers)},
                           {"cache_hits", g.hits},
                           {"cache_misses", g.misses},
                           {"cache_hit_ratio", ratio(g.hits, g.misses)}});
  }
  boost::json::object o;
  put_range(o, r);
  o["edges"] = std::move(edges);
  o["regions"] = std::move(region_list);
  return json_response(200, o);
}

}  // namespace

void add_analytics_routes(http::Router& r, const ApiDeps& d, std::function<void()> telemetry_sync) {
  r.add("GET", "/v1/analytics/assets/{asset_id}",
        [&d, telemetry_sync](http::Request& q) { return asset_usage(d, telemetry_sync, q); });
  r.add("GET", "/v1/analytics/edges",
        [&d, telemetry_sync](http::Request& q) { return edge_usage(d, telemetry_sync, q); });
}

}  // namespace rend::api
