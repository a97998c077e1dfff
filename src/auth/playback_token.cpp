#include "auth/playback_token.h"

#include <array>
#include <cstdint>
#include <stdexcept>

#include "core/crypto.h"
#include "core/ids.h"

namespace rend::auth {
namespace {

constexpr std::string_view kVersion = "v1";
constexpr std::string_view kVersion2 = "v2";  // with a session id
// Longest legitimate token is ~2+1+32+1+19+1+43+1+43 < 160 bytes; the cap bounds the
// work done on attacker-supplied input long before anything is hashed.
constexpr size_t kMaxTokenLength = 512;
constexpr size_t kMaxKidLength = 32;
// HMAC-SHA256 is 32 bytes -> 43 unpadded base64url chars.
constexpr size_t kSigLength = 43;

bool valid_kid(std::string_view kid) {
  if (kid.empty() || kid.size() > kMaxKidLength) return false;
  for (char c : kid) {
    bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

// Strict decimal: digits only, no sign, no leading zeros (one canonical spelling per
// value, so a token cannot be re-spelled without changing the signed bytes), no overflow.
bool parse_exp(std::string_view s, int64_t& out) {
  if (s.empty() || s.size() > 19) return false;
  if (s.size() > 1 && s[0] == '0') return false;
  int64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    int d = c - '0';
    if (v > (INT64_MAX - d) / 10) return false;
    v = v * 10 + d;
  }
  out = v;
  return true;
}

bool valid_sig_syntax(std::string_view sig) {
  if (sig.size() != kSigLength) return false;
  // Canonical base64url only (base64url_decode refuses stray low bits), so exactly one
  // spelling of each signature exists.
  return core::base64url_decode(sig).has_value();
}

std::string signing_input(std::string_view kid, std::string_view exp, std::string_view asset,
                          std::string_view sid = {}) {
  std::string s;
  s.reserve(kVersion.size() + kid.size() + exp.size() + asset.size() + sid.size() + 4);
  s.append(sid.empty() ? kVersion : kVersion2)
      .append(".")
      .append(kid)
      .append(".")
      .append(exp)
      .append(".")
      .append(asset);
  if (!sid.empty()) s.append(".").append(sid);
  return s;
}

}  // namespace

std::string sign_playback_token(const SigningKey& key, std::string_view asset_id, int64_t expires_at_unix,
                                std::string_view session_id) {
  if (!valid_kid(key.id)) throw std::invalid_argument("playback token: invalid key id");
  if (!session_id.empty() && !valid_kid(session_id)) throw std::invalid_argument("playback token: invalid session id");
  if (key.secret.empty()) throw std::invalid_argument("playback token: empty secret");
  if (!core::is_valid_id(asset_id)) throw std::invalid_argument("playback token: invalid asset id");
  if (expires_at_unix < 0) throw std::invalid_argument("playback token: negative expiry");
  std::string input = signing_input(key.id, std::to_string(expires_at_unix), asset_id, session_id);
  std::string sig = core::base64url_encode(core::hmac_sha256(key.secret, input));
  return input + "." + sig;
}

const char* to_string(TokenStatus status) {
  switch (status) {
    case TokenStatus::ok: return "ok";
    case TokenStatus::malformed: return "malformed";
    case TokenStatus::unknown_key: return "unknown_key";
    case TokenStatus::bad_signature: return "bad_signature";
    case TokenStatus::expired: return "expired";
    case TokenStatus::wrong_asset: return "wrong_asset";
  }
  return "unknown";
}

TokenStatus verify_playback_token(const std::vector<SigningKey>& keys, std::string_view token,
                                  std::string_view asset_id, int64_t now_unix) {
  if (token.empty() || token.size() > kMaxTokenLength) return TokenStatus::malformed;

  // Five '.'-separated parts (v1) or six (v2, with a session id); empty parts are
  // caught by the per-field checks.
  std::array<std::string_view, 6> part;
  size_t n = 0, start = 0;
  for (size_t i = 0; i <= token.size(); ++i) {
    if (i == token.size() || token[i] == '.') {
      if (n == part.size()) return TokenStatus::malformed;
      part[n++] = token.substr(start, i - start);
      start = i + 1;
    }
  }
  const bool v2 = n == 6 && part[0] == kVersion2;
  if (!(n == 5 && part[0] == kVersion) && !v2) return TokenStatus::malformed;
  std::string_view kid = part[1], exp_str = part[2], token_asset = part[3];
  std::string_view sid = v2 ? part[4] : std::string_view{};
  std::string_view sig = part[n - 1];

  int64_t exp = 0;
  if (!valid_kid(kid) || !parse_exp(exp_str, exp) || !core::is_valid_id(token_asset) || !valid_sig_syntax(sig) ||
      (v2 && !valid_kid(sid)))
    return TokenStatus::malformed;

  // First key with this id wins; keys with an empty secret are never trusted (an HMAC
  // under an empty key is forgeable by anyone).
  const SigningKey* key = nullptr;
  for (const auto& k : keys) {
    if (k.id == kid && !k.secret.empty()) {
      key = &k;
      break;
    }
  }
  if (!key) return TokenStatus::unknown_key;

  // Recompute over the token's own fields (not the requested asset), and compare in
  // constant time so the comparison does not leak how much of a forged MAC was right.
  std::string expected =
      core::base64url_encode(core::hmac_sha256(key->secret, signing_input(kid, exp_str, token_asset, sid)));
  if (!core::constant_time_equal(expected, sig)) return TokenStatus::bad_signature;

  if (now_unix >= exp) return TokenStatus::expired;
  if (token_asset != asset_id) return TokenStatus::wrong_asset;
  return TokenStatus::ok;
}

std::string_view playback_token_session(std::string_view token) {
  if (token.rfind("v2.", 0) != 0) return {};
  // v2.<kid>.<exp>.<asset>.<sid>.<sig>: the sid is between the 4th and 5th dot.
  size_t pos = 0;
  for (int i = 0; i < 4; ++i) {
    pos = token.find('.', pos);
    if (pos == std::string_view::npos) return {};
    ++pos;
  }
  size_t end = token.find('.', pos);
  return end == std::string_view::npos ? std::string_view{} : token.substr(pos, end - pos);
}

}  // namespace rend::auth
