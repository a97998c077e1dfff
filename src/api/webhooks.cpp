// Webhook resources (issue 16, docs/webhooks.md): register a receiver URL (checked
// against the outbound policy now; every send is checked again at connect time),
// list, delete, rotate the signing secret, and inspect or retry deliveries. All per
// account under the `webhooks` scope: another account's webhook looks missing.
#include <algorithm>

#include "api/common.h"
#include "api/query_params.h"
#include "core/clock.h"
#include "core/crypto.h"
#include "core/ids.h"
#include "core/log.h"
#include "http/outbound.h"
#include "webhooks/settings.h"

namespace rend::api {
namespace {

constexpr std::string_view kScope = "webhooks";

// 32 random bytes: the receiver's HMAC key. Shown once (create, rotate).
std::string new_secret() { return "whsec_" + core::random_token(32); }

boost::json::array events_json(const std::vector<std::string>& events) {
  boost::json::array a;
  for (const auto& e : events) a.push_back(boost::json::string(e));
  return a;
}

boost::json::object webhook_json(const store::Webhook& w) {
  return {{"id", w.id},
          {"url", w.url},
          {"events", events_json(w.events)},
          {"created_at", core::format_rfc3339_ms(w.created_at_ms)}};
}

boost::json::value opt_ms(const std::optional<int64_t>& ms) {
  return ms ? boost::json::value(core::format_rfc3339_ms(*ms)) : nullptr;
}

boost::json::object delivery_json(const store::WebhookDelivery& d) {
  return {{"id", d.id},
          {"event_id", d.event_id},
          {"event_type", d.event_type},
          {"asset_id", d.asset_id},
          {"status", d.status},
          {"attempts", d.attempts},
          {"last_status_code", d.last_status_code ? boost::json::value(*d.last_status_code) : nullptr},
          {"last_latency_ms", d.last_latency_ms ? boost::json::value(*d.last_latency_ms) : nullptr},
          {"last_error", d.last_error ? boost::json::value(*d.last_error) : nullptr},
          {"last_attempt_at", opt_ms(d.last_attempt_at_ms)},
          {"next_attempt_at",
           d.status == "pending" ? boost::json::value(core::format_rfc3339_ms(d.next_attempt_at_ms)) : nullptr},
          {"created_at", core::format_rfc3339_ms(d.event_created_at_ms)}};
}

// The webhook `id` of the caller's account, or the response to send.
template <class F>
http::Response with_webhook(const ApiDeps& d, http::Request& req, F&& f) {
  auto who = authenticate(d, req, kScope);
  if (auto* err = std::get_if<http::Response>(&who)) return std::move(*err);
  const auto& key = std::get<store::ApiKey>(who);
  const std::string& id = req.params["id"];
  std::optional<store::Webhook> hook;
  if (core::is_valid_id(id)) hook = d.meta.get_webhook(id);
  if (!hook || hook->account_id != key.account_id) return http::Response::error(404, "not_found", "no such webhook");
  return f(*hook);
}

http::Response create_webhook(const ApiDeps& d, http::Request& req) {
  auto who = authenticate(d, req, kScope);
  if (auto* err = std::get_if<http::Response>(&who)) return std::move(*err);
  const auto& key = std::get<store::ApiKey>(who);
  auto body = parse_json_object(req.body);
  if (!body) return http::Response::error(400, "invalid_json", "request body must be a JSON object");
  auto* url = body->if_contains("url");
  if (!url || !url->is_string() || url->as_string().empty())
    return http::Response::error(400, "invalid_url", "url must be a non-empty string");

  std::vector<std::string> events;
  const auto& known = store::webhook_event_types();
  if (auto* e = body->if_contains("events")) {
    if (!e->is_array() || e->as_array().empty())
      return http::Response::error(400, "invalid_events", "events must be a non-empty array of event types");
    for (const auto& v : e->as_array()) {
      if (!v.is_string() || std::find(known.begin(), known.end(), v.as_string()) == known.end())
        return http::Response::error(400, "invalid_events",
                                     "unknown event type; known: asset.created, asset.uploaded, asset.playable, "
                                     "asset.ready, asset.failed, asset.deleted, upload.expired");
      std::string t(v.as_string());
      if (std::find(events.begin(), events.end(), t) == events.end()) events.push_back(std::move(t));
    }
  } else {
    events = known;
  }

  store::Webhook w;
  w.url = std::string(url->as_string());
  // The shape now, and where the host points now; the dispatcher checks every
  // address again when it connects (DNS can change its answer).
  if (auto why = http::check_outbound_target(w.url, d.outbound))
    return http::Response::error(400, "invalid_webhook_url", *why);
  w.id = core::new_id("whk");
  w.account_id = key.account_id;
  w.events = std::move(events);
  w.secret = new_secret();
  w.created_at_ms = d.clock.now_unix_ms();
  d.meta.create_webhook(w);
  core::log::info("webhook_created", {{"webhook_id", w.id}, {"account_id", w.account_id}, {"key_id", key.id}});
  auto out = webhook_json(w);
  out["secret"] = w.secret;
  return json_response(201, out);
}

http::Response list_webhooks(const ApiDeps& d, http::Request& req) {
  auto who = authenticate(d, req, kScope);
  if (auto* err = std::get_if<http::Response>(&who)) return std::move(*err);
  boost::json::array data;
  for (const auto& w : d.meta.list_webhooks(std::get<store::ApiKey>(who).account_id)) data.push_back(webhook_json(w));
  return json_response(200, boost::json::object{{"data", std::move(data)}});
}

http::Response delete_webhook(const ApiDeps& d, http::Request& req) {
  return with_webhook(d, req, [&](const store::Webhook& w) {
    d.meta.delete_webhook(w.id);
    core::log::info("webhook_deleted", {{"webhook_id", w.id}, {"account_id", w.account_id}});
    return json_response(200, boost::json::object{{"id", w.id}, {"deleted", true}});
  });
}

http::Response rotate_secret(const ApiDeps& d, http::Request& req) {
  return with_webhook(d, req, [&](const store::Webhook& w) {
    const webhooks::Settings defaults;
    const int64_t keep_ms = (d.webhooks ? *d.webhooks : defaults).previous_secret_ms;
    const int64_t until = d.clock.now_unix_ms() + keep_ms;
    const std::string secret = new_secret();
    if (!d.meta.rotate_webhook_secret(w.id, secret, until))
      return http::Response::error(404, "not_found", "no such webhook");
    core::log::info("webhook_secret_rotated", {{"webhook_id", w.id}, {"account_id", w.account_id}});
    return json_response(200, boost::json::object{{"id", w.id},
                                                  {"secret", secret},
                                                  {"previous_secret_expires_at", core::format_rfc3339_ms(until)}});
  });
}

http::Response list_deliveries(const ApiDeps& d, http::Request& req) {
  return with_webhook(d, req, [&](const store::Webhook& w) {
    auto l = page_limit(req, 50);
    if (auto* err = std::get_if<http::Response>(&l)) return std::move(*err);
    const int limit = std::get<int>(l);
    boost::json::array data;
    for (const auto& dl : d.meta.list_webhook_deliveries(w.id, limit)) data.push_back(delivery_json(dl));
    return json_response(200, boost::json::object{{"data", std::move(data)}});
  });
}

http::Response retry_delivery(const ApiDeps& d, http::Request& req) {
  return with_webhook(d, req, [&](const store::Webhook& w) {
    const std::string& delivery_id = req.params["delivery_id"];
    auto outcome = core::is_valid_id(delivery_id)
                       ? d.meta.retry_webhook_delivery(w.id, delivery_id, d.clock.now_unix_ms())
                       : store::WebhookRetry::not_found;
    if (outcome == store::WebhookRetry::not_found) return http::Response::error(404, "not_found", "no such delivery");
    if (outcome == store::WebhookRetry::in_flight)
      return http::Response::error(409, "delivery_in_flight", "this delivery is being sent now");
    return json_response(202, boost::json::object{{"id", delivery_id}, {"status", "pending"}});
  });
}

}  // namespace

boost::json::value asset_resource(const store::Asset& a) { return asset_json(a); }

void add_webhook_routes(http::Router& r, const ApiDeps& d) {
  r.add(
      "POST", "/v1/webhooks", [&d](http::Request& q) { return create_webhook(d, q); },
      key_checked(d, std::string(kScope)));
  r.add("GET", "/v1/webhooks", [&d](http::Request& q) { return list_webhooks(d, q); });
  r.add(
      "DELETE", "/v1/webhooks/{id}", [&d](http::Request& q) { return delete_webhook(d, q); },
      key_checked(d, std::string(kScope)));
  r.add(
      "POST", "/v1/webhooks/{id}/rotate-secret", [&d](http::Request& q) { return rotate_secret(d, q); },
      key_checked(d, std::string(kScope)));
  r.add("GET", "/v1/webhooks/{id}/deliveries", [&d](http::Request& q) { return list_deliveries(d, q); });
  r.add(
      "POST", "/v1/webhooks/{id}/deliveries/{delivery_id}/retry",
      [&d](http::Request& q) { return retry_delivery(d, q); }, key_checked(d, std::string(kScope)));
}

}  // namespace rend::api
