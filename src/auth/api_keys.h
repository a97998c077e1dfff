#pragma once
// API keys for the management API, and the bearer-token parsing shared with internal
// (service-to-service) authentication.
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace rend::auth {

struct GeneratedApiKey {
  std::string id;           // "key_..." (core::new_id("key")); safe to log and display.
  std::string secret;       // "rend_sk_" + 32 random bytes; shown to the user once, never stored.
  std::string secret_hash;  // hash_api_key(secret); the only form that is stored.
};

GeneratedApiKey generate_api_key();

// SHA-256 hex of the secret. A slow KDF (bcrypt/scrypt/argon2) exists to make guessing
// low-entropy passwords expensive; our secrets are 256 bits from the CSPRNG, so there is
// nothing to guess and a fast hash is as strong, while keeping per-request lookup cheap
// (the hash can be an indexed column).
std::string hash_api_key(std::string_view secret);

// The scope for operator views that span every tenant (e.g. per-edge traffic totals).
inline constexpr std::string_view kOperatorScope = "operator";

// Every scope; the last one is operator. `keys` manages the account's own API keys
// (POST/GET/DELETE /v1/keys), granting at most the scopes the caller itself holds.
inline const std::vector<std::string>& all_scopes() {
  static const std::vector<std::string> scopes = {
      "upload", "read", "delete", "analytics", "keys", "webhooks", std::string(kOperatorScope)};
  return scopes;
}

// "read, upload,read" -> {"read", "upload"}: comma separated, each item trimmed of
// spaces/tabs, deduplicated and sorted. "all" expands to every customer scope, not
// operator: a cross-tenant grant is only ever given by name. Returns nullopt for
// an empty list, an empty item or an unknown scope (an unrecognised scope is an error,
// never silently dropped, so a typo cannot grant less - or more - than intended).
std::optional<std::vector<std::string>> parse_scopes(std::string_view csv);

// The token of "Bearer <token>" (RFC 6750 section 2.1). The scheme is matched
// case-insensitively (RFC 9110 section 11.1), followed by one or more spaces and a
// nonempty token of the b64token characters; surrounding optional whitespace is ignored.
// Anything else yields nullopt. The view points into the argument.
std::optional<std::string_view> bearer_token(std::string_view authorization_header);

// True when the header carries exactly `expected` as a bearer token. Always false when
// `expected` is empty, so an unset internal token cannot authenticate anybody.
bool internal_token_matches(std::string_view authorization_header, std::string_view expected);

}  // namespace rend::auth
