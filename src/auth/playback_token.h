#pragma once
// Signed, expiring playback tokens: the edge checks them without a database round trip.
//
// Format: v1.<kid>.<exp>.<asset_id>.<sig>
//   kid      1-32 chars of [A-Za-z0-9_-]; names the SigningKey so keys can be rotated
//            (sign with the new key while the old one is still accepted).
//   exp      expiry as unix seconds, decimal, no sign, no leading zeros.
//   asset_id an id as produced by core::new_id (see core/ids.h).
//   sig      base64url(HMAC-SHA256(secret, "v1.<kid>.<exp>.<asset_id>")), unpadded.
// No field can contain '.', so the split is unambiguous.
//
// v2 adds a playback session id: v2.<kid>.<exp>.<asset_id>.<sid>.<sig>, with sid 1-32
// chars of [A-Za-z0-9_-] and the signature over "v2.<kid>.<exp>.<asset_id>.<sid>". The
// player bootstrap mints one per page load, so analytics can count views (distinct
// sessions) even when two viewers get tokens with the same expiry second. Both
// versions are accepted.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace rend::auth {

struct SigningKey {
  std::string id;
  std::string secret;
};

// Throws std::invalid_argument when the key id, secret (empty), asset id or expiry
// (negative) could not produce a token that verify_playback_token would parse: failing
// loudly here beats minting tokens that are silently always rejected.
std::string sign_playback_token(const SigningKey& key, std::string_view asset_id, int64_t expires_at_unix,
                                std::string_view session_id = {});

// The session id of a v2 token (empty for v1 or a malformed token). Does not verify:
// call it only on a token verify_playback_token accepted.
std::string_view playback_token_session(std::string_view token);

enum class TokenStatus { ok, malformed, unknown_key, bad_signature, expired, wrong_asset };
const char* to_string(TokenStatus status);

// Checks, in this order: syntax (malformed), key id (unknown_key), signature
// (bad_signature), expiry (expired, when now_unix >= exp), asset (wrong_asset).
// The signature is checked before expiry and asset so an unauthenticated token never
// learns anything about which of its claims would have been accepted.
TokenStatus verify_playback_token(const std::vector<SigningKey>& keys, std::string_view token,
                                  std::string_view asset_id, int64_t now_unix);

}  // namespace rend::auth
