#pragma once
// The playback credential check shared by the edge (/v/{asset}/{path}) and the API's
// legacy route (/api/player/{asset}/artifact/{path}), so both refuse the same
// credential with the same status and error code (SPEC §6: missing / invalid /
// expired / other-asset credential → 401/403).
#include <functional>
#include <optional>
#include <string_view>

#include "auth/playback_token.h"

namespace rend::playback {

// The HttpOnly cookie the player bootstrap sets, scoped to the asset's path.
inline constexpr std::string_view kCookieName = "rend_playback";

struct CredentialCheck {
  int status = 0;         // 0 when allowed, else 401 or 403
  std::string_view code;  // the refusal's error code (static strings)
  std::string_view message;
  bool allowed() const { return status == 0; }
};

// Verifies one token for one asset (auth::verify_playback_token with the caller's keys
// and clock, or the edge's memoizing wrapper around it).
using TokenVerifier = std::function<auth::TokenStatus(std::string_view token, std::string_view asset_id)>;

// The token a request presents: the `token` query parameter whenever it is present,
// even empty or bad (a bad query token is never rescued by a good cookie, so what a
// URL carries is what is judged), else the cookie.
std::optional<std::string_view> presented_token(std::optional<std::string_view> query_token,
                                                std::optional<std::string_view> cookie_token);

// Judges presented_token(query_token, cookie_token); an empty token is a missing one.
//   missing      → 401 missing_credential
//   expired      → 401 token_expired
//   other asset  → 403 wrong_asset
//   anything else (malformed, unknown key, bad signature) → 401 invalid_token, one
//   answer for all of them, so a forger learns nothing about which part was wrong.
CredentialCheck check_credential(std::optional<std::string_view> query_token,
                                 std::optional<std::string_view> cookie_token, std::string_view asset_id,
                                 const TokenVerifier& verify);

}  // namespace rend::playback
