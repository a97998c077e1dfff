#pragma once
// Billing settings (SPEC §8, issue 12): the mode, Autumn's transport, the feature id
// of each (kind, tier), the entitlement failure policy and cache, and the usage-sync
// windows. Parsed once at start from the Env snapshot; a bad value throws
// core::ConfigError naming the variable, and never the secret key's value.
#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/env.h"

namespace rend::billing {

// local: no network call; entitlements always allowed, usage computed and kept in
// the metadata store. autumn: entitlements and usage go to Autumn.
enum class Mode { local, autumn };
// What an entitlement check answers while Autumn cannot answer (unreachable, timeout,
// 429, 5xx): allow and count it, or deny with 503 + Retry-After.
enum class FailurePolicy { allow, deny };

// The four resolution tiers, lowest first; the index of a tier in this array is the
// index of its feature id in Settings::delivery_features / storage_features.
inline constexpr std::array<std::string_view, 4> kTiers = {"720p", "1080p", "2k", "4k"};
// Index of `tier` in kTiers, or -1 for anything else.
int tier_index(std::string_view tier);

std::string_view mode_name(Mode m);
std::string_view policy_name(FailurePolicy p);

// The secret key is only ever sent as the Authorization header; keep it out of
// logs, errors and /metrics (AutumnClient redacts it from every error string).
struct Settings {
  Mode mode = Mode::local;  // REND_BILLING_MODE (local; production: autumn, required)
  std::string secret_key;   // AUTUMN_SECRET_KEY: am_sk_test_… / am_sk_live_… (live in production)
  std::string api_url;      // AUTUMN_API_URL, https://api.useautumn.com (https in production)
  std::string api_version;  // AUTUMN_API_VERSION, 2.0.0: sent as x-api-version
  std::array<std::string, 4> delivery_features;  // REND_BILLING_FEATURE_DELIVERY_{720P,1080P,2K,4K}, delivery_720p …
  std::array<std::string, 4> storage_features;   // REND_BILLING_FEATURE_STORAGE_{…}, storage_720p …
  FailurePolicy failure_policy = FailurePolicy::allow;  // REND_BILLING_ENTITLEMENT_FAILURE_POLICY
  uint64_t entitlement_cache_secs = 60;                 // REND_BILLING_ENTITLEMENT_CACHE_SECS (0 = no cache)
  uint64_t delivery_sync_lag_secs = 0;                  // REND_BILLING_DELIVERY_SYNC_LAG_SECS, 300
  uint64_t delivery_sync_max_window_secs = 0;           // REND_BILLING_DELIVERY_SYNC_MAX_WINDOW_SECS, 3600
  uint64_t storage_sync_lag_secs = 0;                   // REND_BILLING_STORAGE_SYNC_LAG_SECS, 60
  uint64_t storage_sync_max_window_secs = 0;            // REND_BILLING_STORAGE_SYNC_MAX_WINDOW_SECS, 3600
  // Not variables: an entitlement check sits in front of a viewer's request, so it
  // gives up quickly and the failure policy decides; usage calls may take longer.
  uint64_t check_timeout_ms = 2000;
  uint64_t track_timeout_ms = 10000;

  const std::string& delivery_feature(std::string_view tier) const;  // throws std::out_of_range
  const std::string& storage_feature(std::string_view tier) const;
};

// `production` is REND_ENV=production: it requires REND_BILLING_MODE=autumn and a
// live key.
Settings parse(const core::Env& env, bool production);

}  // namespace rend::billing
