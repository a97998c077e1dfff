#pragma once
// The Autumn API client (/work/shared/design/autumn.md, docs/billing-autumn-v1.md):
// entitlement checks, usage tracking, absolute usage. Blocking, over libcurl
// (http::send: one easy handle per call), so it is thread-safe and may be shared.
//
// It never throws and never retries by itself: a check sits in front of a viewer's
// request (the failure policy decides, see Entitlements), and the usage sync owns its
// retry loop (it must never skip a window). What it does is classify every answer:
// 429, 5xx and transport errors are retryable and carry the server's Retry-After.
//
// The secret key is sent only as the Authorization header. Every error string this
// client produces has it redacted, whatever the server or libcurl said.
#include <cstdint>
#include <string>
#include <vector>

#include "billing/settings.h"

namespace rend::billing {

struct CheckResult {
  enum class Outcome { allowed, denied, unavailable };
  Outcome outcome = Outcome::unavailable;
  bool slow = false;             // Autumn's 202 "check took over 3 s" answer (counts as allowed)
  int64_t retry_after_secs = 0;  // unavailable: when to ask again (Retry-After or a default)
  long status = 0;               // HTTP status, 0 for a transport error
  std::string error;             // unavailable: why (secret redacted)
};

struct TrackEvent {
  std::string customer_id;  // the account id
  std::string feature_id;
  double value = 0;             // fractional minutes; negative credits usage back
  std::string idempotency_key;  // empty: none
  int64_t timestamp_ms = 0;     // 0: not sent (Autumn uses its receive time)
};

struct TrackResult {
  enum class Outcome { recorded, retry_after, failed };
  Outcome outcome = Outcome::failed;
  bool duplicate = false;        // recorded: 409 duplicate_idempotency_key (sent before)
  int64_t retry_after_secs = 0;  // retry_after: wait this long, then send the same request
  long status = 0;
  std::string error;  // retry_after / failed: why (secret redacted)
};

class AutumnClient {
 public:
  // Uses api_url, secret_key, api_version and the two timeouts of `s`.
  explicit AutumnClient(const Settings& s);

  // POST /v1/check. 200 → allowed/denied by `allowed` (v1 and v2 shapes); 202 →
  // allowed; anything else (including a malformed answer) → unavailable.
  CheckResult check(const std::string& customer_id, const std::string& feature_id) const;
  // POST /v1/track. 2xx, or 409 duplicate_idempotency_key → recorded; 429, 5xx,
  // transport error → retry_after; other 4xx → failed.
  TrackResult track(const TrackEvent& e) const;
  // POST /v1/balances.batch_track with 1–1000 events. Autumn does NOT deduplicate
  // batch items by idempotency key: a batch resent after a lost answer is counted
  // twice. Exactly-once callers use track().
  TrackResult batch_track(const std::vector<TrackEvent>& events) const;
  // POST /v1/usage: the absolute usage of a feature (stored minutes).
  TrackResult set_usage(const std::string& customer_id, const std::string& feature_id, double value) const;

  // Retry-After when the server gives none (and for transport errors).
  static constexpr int64_t kDefaultRetrySecs = 1;
  // A longer Retry-After is capped: the caller re-checks its lease in between.
  static constexpr int64_t kMaxRetrySecs = 300;

 private:
  std::string redact(std::string s) const;

  std::string base_url_;
  std::string secret_key_;
  std::string api_version_;
  uint64_t check_timeout_ms_;
  uint64_t track_timeout_ms_;
};

}  // namespace rend::billing
