// The caller's billed usage (issue 12; docs/billing-autumn-v1.md "Usage sync"),
// read from the usage sync's window ledger (store::BillingStateStore), so it shows
// exactly what was (autumn mode) or would have been (local mode) sent to Autumn.
//
//   GET /v1/usage?from=&to=        (scope analytics; from/to as the analytics routes)
//
// {account_id, mode, from, to,
//  delivered_minutes {tier: minutes}   summed over the committed delivery windows that
//                                      overlap [from, to) (a window counts whole)
//  stored_minutes {tier: minutes}      the last committed storage snapshot in range
//  windows [{stream, start, end, delivered_minutes | stored_minutes}]  the account's
//                                      committed (synced) windows with usage
//  synced_through {delivery, storage}  each stream's cursor: usage before it is synced,
//                                      usage after it is pending (null: nothing yet)}
//
//   GET /metrics                   (scope operator) the usage sync's counters
#include <map>

#include "api/analytics_range.h"
#include "api/common.h"
#include "api/query_params.h"
#include "auth/api_keys.h"
#include "billing/sync.h"
#include "core/clock.h"

namespace rend::api {
namespace {

// The tier a feature id bills, or "unknown" (features renamed since the window).
std::string tier_of(const billing::Settings& s, const std::string& feature, bool delivery) {
  for (auto tier : billing::kTiers)
    if ((delivery ? s.delivery_feature(tier) : s.storage_feature(tier)) == feature) return std::string(tier);
  return "unknown";
}

boost::json::value time_or_null(const std::optional<int64_t>& ms) {
  if (!ms) return nullptr;
  return boost::json::string(core::format_rfc3339_ms(*ms));
}

http::Response get_usage(const ApiDeps& d, http::Request& req) {
  auto who = authenticate(d, req, "analytics");
  if (auto* err = std::get_if<http::Response>(&who)) return std::move(*err);
  const std::string& account = std::get<store::ApiKey>(who).account_id;
  auto range = request_range(d, req);
  if (auto* err = std::get_if<http::Response>(&range)) return std::move(*err);
  const auto& r = std::get<TimeRange>(range);
  if (!d.billing_state || !d.billing)
    return http::Response::error(503, "billing_unavailable", "this API process keeps no billing state");

  std::vector<store::WindowRow> delivery, storage;
  std::vector<store::StreamStatus> streams;
  try {
    delivery = d.billing_state->list_windows(std::string(billing::kDeliveryStream), r.from_ms, r.to_ms);
    storage = d.billing_state->list_windows(std::string(billing::kStorageStream), r.from_ms, r.to_ms);
    streams = d.billing_state->list_streams();
  } catch (const std::exception&) {  // the database away
    auto res = http::Response::error(503, "billing_unavailable", "the billing state is unavailable; retry later");
    res.headers.set("Retry-After", "5");
    return res;
  }

  boost::json::object delivered, stored;
  boost::json::array windows;
  std::map<std::pair<int64_t, int64_t>, boost::json::object> by_window;
  for (const auto& w : delivery) {
    if (w.record.account_id != account) continue;
    auto tier = tier_of(*d.billing, w.record.feature_id, true);
    delivered[tier] = delivered.contains(tier) ? delivered[tier].as_double() + w.record.value : w.record.value;
    by_window[{w.start_ms, w.end_ms}][tier] = w.record.value;
  }
  for (auto& [k, minutes] : by_window)
    windows.push_back(boost::json::object{{"stream", billing::kDeliveryStream},
                                          {"start", core::format_rfc3339_ms(k.first)},
                                          {"end", core::format_rfc3339_ms(k.second)},
                                          {"delivered_minutes", std::move(minutes)}});
  // Storage windows are absolute snapshots: the latest one in range is what is held.
  std::optional<std::pair<int64_t, int64_t>> last;
  for (const auto& w : storage)
    if (w.record.account_id == account)
      last = std::max(last.value_or(std::pair{w.start_ms, w.end_ms}), std::pair{w.start_ms, w.end_ms});
  if (last) {
    for (const auto& w : storage)
      if (w.record.account_id == account && std::pair{w.start_ms, w.end_ms} == *last)
        stored[tier_of(*d.billing, w.record.feature_id, false)] = w.record.value;
    windows.push_back(boost::json::object{{"stream", billing::kStorageStream},
                                          {"start", core::format_rfc3339_ms(last->first)},
                                          {"end", core::format_rfc3339_ms(last->second)},
                                          {"stored_minutes", stored}});
  }
  boost::json::object synced{{"delivery", nullptr}, {"storage", nullptr}};
  for (const auto& s : streams)
    if (synced.contains(s.stream)) synced[s.stream] = time_or_null(s.cursor_ms);

  return json_response(200, boost::json::object{{"account_id", account},
                                                {"mode", d.billing_mode},
                                                {"from", core::format_rfc3339_ms(r.from_ms)},
                                                {"to", core::format_rfc3339_ms(r.to_ms)},
                                                {"delivered_minutes", std::move(delivered)},
                                                {"stored_minutes", std::move(stored)},
                                                {"windows", std::move(windows)},
                                                {"synced_through", std::move(synced)}});
}

}  // namespace

void add_usage_routes(http::Router& r, const ApiDeps& d) {
  r.add("GET", "/v1/usage", [&d](http::Request& q) { return get_usage(d, q); });
  // The API's metrics (issue 12: windows sent, retries, lag). Operator keys only: the
  // API listens publicly, and billing counters are not for every customer's key.
  if (d.render_metrics)
    r.add("GET", "/metrics", [&d](http::Request& q) {
      auto who = authenticate(d, q, auth::kOperatorScope);
      if (auto* err = std::get_if<http::Response>(&who)) return std::move(*err);
      std::string body;
      d.render_metrics(body);
      http::Response res;
      res.status = 200;
      res.headers.set("Content-Type", "text/plain; version=0.0.4");
      res.body = std::move(body);
      return res;
    });
}

}  // namespace rend::api
