#include "auth/settings.h"

#include <algorithm>
#include <cctype>

#include "core/strings.h"

namespace rend::auth {
namespace {

// What playback_token.h allows in a token's kid field.
bool valid_key_id(const std::string& id) {
  return !id.empty() && id.size() <= 32 &&
         std::all_of(id.begin(), id.end(), [](unsigned char c) { return std::isalnum(c) || c == '_' || c == '-'; });
}

// kid=secret[,kid=secret]. Errors name the entry by position and key id, never a secret.
std::vector<SigningKey> parse_previous_keys(const std::string& value, const std::string& current_id) {
  constexpr const char* kVar = "REND_PLAYBACK_PREVIOUS_SIGNING_KEYS";
  std::vector<SigningKey> keys;
  if (core::trim_ows(value).empty()) return keys;
  size_t start = 0, n = 0;
  while (true) {
    auto comma = value.find(',', start);
    std::string entry(
        core::trim_ows(value.substr(start, comma == std::string::npos ? std::string::npos : comma - start)));
    ++n;
    const std::string where = std::string(kVar) + ": entry " + std::to_string(n);
    auto eq = entry.find('=');
    if (entry.empty() || eq == std::string::npos)
      throw core::ConfigError(where + " must be key_id=secret (entries separated by commas)");
    SigningKey k{entry.substr(0, eq), entry.substr(eq + 1)};
    if (!valid_key_id(k.id))
      throw core::ConfigError(where + ": the key id must be 1-32 characters of A-Z, a-z, 0-9, _ and -");
    if (k.secret.size() < 32)
      throw core::ConfigError(where + " (key id " + k.id + "): the secret must be at least 32 characters");
    if (k.id == current_id)
      throw core::ConfigError(where + ": key id " + k.id + " is the current REND_PLAYBACK_SIGNING_KEY_ID");
    if (std::any_of(keys.begin(), keys.end(), [&](const SigningKey& o) { return o.id == k.id; }))
      throw core::ConfigError(where + ": key id " + k.id + " appears twice");
    keys.push_back(std::move(k));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return keys;
}

}  // namespace

Settings parse(const core::Env& env, const core::Deployment& deployment) {
  Settings s;
  s.production = deployment.production;
  s.signing_key_id = env.get_or("REND_PLAYBACK_SIGNING_KEY_ID", "dev");
  s.signing_secret = env.get_or("REND_PLAYBACK_SIGNING_SECRET", "");
  s.edge_internal_token = env.get_or("REND_EDGE_INTERNAL_TOKEN", "");
  if (!valid_key_id(s.signing_key_id))
    throw core::ConfigError("REND_PLAYBACK_SIGNING_KEY_ID must be 1-32 characters of A-Z, a-z, 0-9, _ and -");
  if (s.signing_secret.size() < 32)
    throw core::ConfigError("REND_PLAYBACK_SIGNING_SECRET must be set to at least 32 characters");
  s.previous_signing_keys =
      parse_previous_keys(env.get_or("REND_PLAYBACK_PREVIOUS_SIGNING_KEYS", ""), s.signing_key_id);
  if (s.production && s.edge_internal_token.size() < 32)
    throw core::ConfigError("REND_EDGE_INTERNAL_TOKEN must be set to at least 32 characters when REND_ENV=production");
  return s;
}

std::vector<SigningKey> accepted_signing_keys(const Settings& s) {
  std::vector<SigningKey> keys;
  keys.reserve(1 + s.previous_signing_keys.size());
  keys.push_back({s.signing_key_id, s.signing_secret});
  keys.insert(keys.end(), s.previous_signing_keys.begin(), s.previous_signing_keys.end());
  return keys;
}

}  // namespace rend::auth
