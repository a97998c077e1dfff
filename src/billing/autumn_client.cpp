#include "billing/autumn_client.h"

#include <algorithm>
#include <boost/json.hpp>
#include <charconv>
#include <chrono>

#include "core/json.h"
#include "http/client.h"

namespace rend::billing {

namespace {

namespace json = boost::json;

struct Call {
  http::ClientResponse res;
  std::string code;     // Autumn's error code, when the body had one
  std::string message;  // Autumn's error message, when the body had one
};

bool retryable(long status) { return status == 0 || status == 429 || status >= 500; }

// Retry-After in seconds (RFC 9110 §10.2.3 also allows an HTTP-date; Autumn sends
// seconds, and anything unreadable falls back to the default).
int64_t retry_after(const http::ClientResponse& res) {
  for (const auto& [name, value] : res.headers) {
    if (name != "retry-after") continue;
    int64_t secs = 0;
    auto [p, ec] = std::from_chars(value.data(), value.data() + value.size(), secs);
    if (ec == std::errc() && secs > 0) return std::min(secs, AutumnClient::kMaxRetrySecs);
  }
  return AutumnClient::kDefaultRetrySecs;
}

json::object track_body(const TrackEvent& e) {
  json::object o{{"customer_id", e.customer_id}, {"feature_id", e.feature_id}, {"value", e.value}};
  if (!e.idempotency_key.empty()) o["idempotency_key"] = e.idempotency_key;
  if (e.timestamp_ms > 0) o["timestamp"] = e.timestamp_ms;
  return o;
}

}  // namespace

AutumnClient::AutumnClient(const Settings& s)
    : base_url_(s.api_url),
      secret_key_(s.secret_key),
      api_version_(s.api_version),
      check_timeout_ms_(s.check_timeout_ms),
      track_timeout_ms_(s.track_timeout_ms) {}

std::string AutumnClient::redact(std::string s) const {
  if (secret_key_.empty()) return s;
  for (size_t at = s.find(secret_key_); at != std::string::npos; at = s.find(secret_key_, at))
    s.replace(at, secret_key_.size(), "[redacted]");
  return s;
}

namespace {

Call post(const std::string& url, const std::string& key, const std::string& version, std::string body,
          uint64_t timeout_ms) {
  http::ClientRequest req;
  req.method = "POST";
  req.url = url;
  req.headers = {{"Authorization", "Bearer " + key},
                 {"x-api-version", version},
                 {"Content-Type", "application/json"},
                 {"Accept", "application/json"}};
  req.body = std::move(body);
  req.timeout = std::chrono::milliseconds(timeout_ms);
  Call c{http::send(req), {}, {}};
  if (c.res.status >= 400) {
    // {"message", "code", "env"}; a body that is not is reported by status alone.
    if (auto v = core::parse_json_strict(c.res.body); v && v->is_object()) {
      const auto& o = v->as_object();
      if (auto* code = o.if_contains("code"); code && code->is_string()) c.code = code->as_string().c_str();
      if (auto* msg = o.if_contains("message"); msg && msg->is_string()) c.message = msg->as_string().c_str();
    }
  }
  return c;
}

// "autumn /v1/track: 404 feature_not_found: Feature f not found", or the transport error.
std::string describe(const std::string& route, const Call& c) {
  std::string s = "autumn " + route + ": ";
  if (c.res.status == 0) return s + "transport error: " + c.res.error;
  s += std::to_string(c.res.status);
  if (!c.code.empty()) s += " " + c.code;
  if (!c.message.empty()) s += ": " + c.message.substr(0, 300);
  return s;
}

}  // namespace

CheckResult AutumnClient::check(const std::string& customer_id, const std::string& feature_id) const {
  CheckResult r;
  json::object body{{"customer_id", customer_id}, {"feature_id", feature_id}};
  auto c = post(base_url_ + "/v1/check", secret_key_, api_version_, json::serialize(body), check_timeout_ms_);
  r.status = c.res.status;
  if (c.res.status == 202) {
    // Autumn answers 202 {allowed: true, balance: null} when the check took it over 3 s.
    r.outcome = CheckResult::Outcome::allowed;
    r.slow = true;
    return r;
  }
  if (c.res.status == 200) {
    // v1.x (flat) and v2.x (a `balance` object) both carry `allowed` at the top.
    auto v = core::parse_json_strict(c.res.body);
    const json::value* allowed = v && v->is_object() ? v->as_object().if_contains("allowed") : nullptr;
    if (allowed && allowed->is_bool()) {
      r.outcome = allowed->as_bool() ? CheckResult::Outcome::allowed : CheckResult::Outcome::denied;
      return r;
    }
    r.error = "autumn /v1/check: 200 without a boolean `allowed`";
    r.retry_after_secs = kDefaultRetrySecs;
    return r;
  }
  // Anything else is "cannot say": the entitlement failure policy decides.
  r.outcome = CheckResult::Outcome::unavailable;
  r.retry_after_secs = retryable(c.res.status) ? retry_after(c.res) : kDefaultRetrySecs;
  r.error = redact(describe("/v1/check", c));
  return r;
}

namespace {

TrackResult classify(const std::string& route, const Call& c) {
  TrackResult r;
  r.status = c.res.status;
  if (c.res.ok()) {
    r.outcome = TrackResult::Outcome::recorded;
  } else if (c.res.status == 409 && c.code == "duplicate_idempotency_key") {
    // Sent before within 24 h: Autumn does not replay the original, it was recorded.
    r.outcome = TrackResult::Outcome::recorded;
    r.duplicate = true;
  } else if (retryable(c.res.status)) {
    r.outcome = TrackResult::Outcome::retry_after;
    r.retry_after_secs = retry_after(c.res);
    r.error = describe(route, c);
  } else {
    r.outcome = TrackResult::Outcome::failed;
    r.error = describe(route, c);
  }
  return r;
}

}  // namespace

TrackResult AutumnClient::track(const TrackEvent& e) const {
  auto c = post(base_url_ + "/v1/track", secret_key_, api_version_, json::serialize(track_body(e)), track_timeout_ms_);
  auto r = classify("/v1/track", c);
  r.error = redact(std::move(r.error));
  return r;
}

TrackResult AutumnClient::batch_track(const std::vector<TrackEvent>& events) const {
  if (events.empty() || events.size() > 1000) {
    TrackResult r;
    r.error = "autumn /v1/balances.batch_track: takes 1 to 1000 events, got " + std::to_string(events.size());
    return r;
  }
  json::array body;  // a bare array, as Autumn's schema has it
  body.reserve(events.size());
  for (const auto& e : events) body.push_back(track_body(e));
  auto c =
      post(base_url_ + "/v1/balances.batch_track", secret_key_, api_version_, json::serialize(body), track_timeout_ms_);
  auto r = classify("/v1/balances.batch_track", c);
  r.error = redact(std::move(r.error));
  return r;
}

TrackResult AutumnClient::set_usage(const std::string& customer_id, const std::string& feature_id, double value) const {
  json::object body{{"customer_id", customer_id}, {"feature_id", feature_id}, {"value", value}};
  auto c = post(base_url_ + "/v1/usage", secret_key_, api_version_, json::serialize(body), track_timeout_ms_);
  auto r = classify("/v1/usage", c);
  r.error = redact(std::move(r.error));
  return r;
}

}  // namespace rend::billing
