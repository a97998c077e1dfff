#include "billing/settings.h"

#include <algorithm>
#include <cctype>
#include <stdexcept>

#include "core/config.h"

namespace rend::billing {

namespace {

constexpr std::string_view kTestPrefix = "am_sk_test_";
constexpr std::string_view kLivePrefix = "am_sk_live_";

bool is_id_char(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-'; }
bool all_id_chars(std::string_view s) { return !s.empty() && std::all_of(s.begin(), s.end(), is_id_char); }

// "1.2", "2.0.0" (Autumn's semver), "2025-04-17" (its calendar form) or "beta":
// anything else could not be a version and would only fail on the first call.
bool plausible_version(const std::string& v) {
  if (v == "beta") return true;
  if (v.empty() || v.size() > 16) return false;
  return std::all_of(v.begin(), v.end(),
                     [](char c) { return std::isdigit(static_cast<unsigned char>(c)) || c == '.' || c == '-'; }) &&
         std::isdigit(static_cast<unsigned char>(v.front())) && std::isdigit(static_cast<unsigned char>(v.back())) &&
         v.find_first_of(".-") != std::string::npos;
}

// The messages say what a key looks like, never what was given: the value is a
// secret even when it is malformed (a live key pasted with a stray character).
void check_key(const std::string& key, bool production) {
  const bool live = key.starts_with(kLivePrefix);
  const bool test = key.starts_with(kTestPrefix);
  if ((!live && !test) || key.size() == kTestPrefix.size() ||
      !all_id_chars(std::string_view(key).substr(kTestPrefix.size())))
    throw core::ConfigError("AUTUMN_SECRET_KEY is not an Autumn secret key (am_sk_test_… or am_sk_live_…)");
  if (production && !live)
    throw core::ConfigError(
        "AUTUMN_SECRET_KEY must be a live key (am_sk_live_…) when REND_ENV=production; a sandbox key was given");
}

std::string upper(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

}  // namespace

int tier_index(std::string_view tier) {
  for (size_t i = 0; i < kTiers.size(); ++i)
    if (kTiers[i] == tier) return static_cast<int>(i);
  return -1;
}

std::string_view mode_name(Mode m) { return m == Mode::autumn ? "autumn" : "local"; }
std::string_view policy_name(FailurePolicy p) { return p == FailurePolicy::deny ? "deny" : "allow"; }

const std::string& Settings::delivery_feature(std::string_view tier) const {
  int i = tier_index(tier);
  if (i < 0) throw std::out_of_range("unknown billing tier '" + std::string(tier) + "'");
  return delivery_features[i];
}

const std::string& Settings::storage_feature(std::string_view tier) const {
  int i = tier_index(tier);
  if (i < 0) throw std::out_of_range("unknown billing tier '" + std::string(tier) + "'");
  return storage_features[i];
}

Settings parse(const core::Env& env, bool production) {
  Settings s;
  auto mode = env.get_or("REND_BILLING_MODE", production ? "autumn" : "local");
  if (mode == "local") s.mode = Mode::local;
  else if (mode == "autumn") s.mode = Mode::autumn;
  else throw core::ConfigError("REND_BILLING_MODE must be local or autumn, got '" + mode + "'");
  if (production && s.mode != Mode::autumn)
    throw core::ConfigError("REND_BILLING_MODE must be autumn when REND_ENV=production");

  s.secret_key = env.get_or("AUTUMN_SECRET_KEY", "");
  if (s.mode == Mode::autumn && s.secret_key.empty())
    throw core::ConfigError("AUTUMN_SECRET_KEY must be set when REND_BILLING_MODE=autumn");
  if (!s.secret_key.empty()) check_key(s.secret_key, production && s.mode == Mode::autumn);

  s.api_url = env.get_or("AUTUMN_API_URL", "https://api.useautumn.com");
  while (s.api_url.size() > 1 && s.api_url.back() == '/') s.api_url.pop_back();
  core::check_base_url(s.api_url, "AUTUMN_API_URL");
  // The bearer is the live key: never send it in clear text from production.
  if (production && !s.api_url.starts_with("https://"))
    throw core::ConfigError("AUTUMN_API_URL must be https:// when REND_ENV=production");
  s.api_version = env.get_or("AUTUMN_API_VERSION", "2.0.0");
  if (!plausible_version(s.api_version))
    throw core::ConfigError("AUTUMN_API_VERSION must look like 2.0.0, 1.2 or 2025-04-17, got '" + s.api_version + "'");

  std::vector<std::pair<std::string, std::string>> seen;  // feature id -> variable
  auto feature = [&](std::string_view kind, size_t i) {
    auto var = "REND_BILLING_FEATURE_" + upper(kind) + "_" + upper(kTiers[i]);
    auto id = env.get_or(var, std::string(kind) + "_" + std::string(kTiers[i]));
    if (!all_id_chars(id) || id.size() > 128)
      throw core::ConfigError(var + " must be an Autumn feature id (letters, digits, '_' or '-'), got '" + id + "'");
    // One id for two (kind, tier) pairs would bill one as the other.
    for (const auto& [other_id, other_var] : seen)
      if (other_id == id) throw core::ConfigError(var + " is '" + id + "', the same feature id as " + other_var);
    seen.emplace_back(id, var);
    return id;
  };
  for (size_t i = 0; i < kTiers.size(); ++i) s.delivery_features[i] = feature("delivery", i);
  for (size_t i = 0; i < kTiers.size(); ++i) s.storage_features[i] = feature("storage", i);

  auto policy = env.get_or("REND_BILLING_ENTITLEMENT_FAILURE_POLICY", "allow");
  if (policy == "allow") s.failure_policy = FailurePolicy::allow;
  else if (policy == "deny") s.failure_policy = FailurePolicy::deny;
  else throw core::ConfigError("REND_BILLING_ENTITLEMENT_FAILURE_POLICY must be allow or deny, got '" + policy + "'");
  s.entitlement_cache_secs = env.get_u64("REND_BILLING_ENTITLEMENT_CACHE_SECS", 60);

  s.delivery_sync_lag_secs = env.get_u64("REND_BILLING_DELIVERY_SYNC_LAG_SECS", 300);
  s.delivery_sync_max_window_secs = env.get_u64("REND_BILLING_DELIVERY_SYNC_MAX_WINDOW_SECS", 3600);
  if (s.delivery_sync_max_window_secs == 0)
    throw core::ConfigError("REND_BILLING_DELIVERY_SYNC_MAX_WINDOW_SECS must be at least 1");
  s.storage_sync_lag_secs = env.get_u64("REND_BILLING_STORAGE_SYNC_LAG_SECS", 60);
  s.storage_sync_max_window_secs = env.get_u64("REND_BILLING_STORAGE_SYNC_MAX_WINDOW_SECS", 3600);
  if (s.storage_sync_max_window_secs == 0)
    throw core::ConfigError("REND_BILLING_STORAGE_SYNC_MAX_WINDOW_SECS must be at least 1");
  return s;
}

}  // namespace rend::billing
