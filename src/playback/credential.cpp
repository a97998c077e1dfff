#include "playback/credential.h"

namespace rend::playback {

std::optional<std::string_view> presented_token(std::optional<std::string_view> query_token,
                                                std::optional<std::string_view> cookie_token) {
  return query_token ? query_token : cookie_token;
}

CredentialCheck check_credential(std::optional<std::string_view> query_token,
                                 std::optional<std::string_view> cookie_token, std::string_view asset_id,
                                 const TokenVerifier& verify) {
  auto token = presented_token(query_token, cookie_token);
  if (!token || token->empty()) return {401, "missing_credential", "a playback cookie or token is required"};
  switch (verify(*token, asset_id)) {
    case auth::TokenStatus::ok: return {};
    case auth::TokenStatus::wrong_asset: return {403, "wrong_asset", "this credential is for another asset"};
    case auth::TokenStatus::expired: return {401, "token_expired", "the playback credential has expired"};
    default: return {401, "invalid_token", "invalid playback credential"};
  }
}

}  // namespace rend::playback
