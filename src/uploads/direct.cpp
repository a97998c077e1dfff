#include "uploads/direct.h"

#include "core/crypto.h"
#include "uploads/tus.h"

namespace rend::uploads {
namespace {

std::string derived_key(std::string_view secret) { return core::hmac_sha256(secret, "rend-direct-upload-v1"); }

}  // namespace

std::string sign_direct_token(std::string_view signing_secret, const DirectGrant& g) {
  const std::string payload = g.upload_id + "|" + std::to_string(g.expires_unix) + "|" + g.origin;
  return core::base64url_encode(payload) + "." +
         core::base64url_encode(core::hmac_sha256(derived_key(signing_secret), payload));
}

std::optional<DirectGrant> verify_direct_token(std::string_view signing_secret, std::string_view token,
                                               int64_t now_unix) {
  if (token.size() > 2048) return std::nullopt;
  const size_t dot = token.find('.');
  if (dot == std::string_view::npos) return std::nullopt;
  auto payload = core::base64url_decode(token.substr(0, dot));
  auto mac = core::base64url_decode(token.substr(dot + 1));
  if (!payload || !mac) return std::nullopt;
  if (!core::constant_time_equal(*mac, core::hmac_sha256(derived_key(signing_secret), *payload))) return std::nullopt;
  const size_t a = payload->find('|');
  const size_t b = a == std::string::npos ? a : payload->find('|', a + 1);
  if (b == std::string::npos) return std::nullopt;
  auto exp = parse_size(std::string_view(*payload).substr(a + 1, b - a - 1));
  if (!exp || *exp <= now_unix) return std::nullopt;
  return DirectGrant{payload->substr(0, a), *exp, payload->substr(b + 1)};
}

bool is_web_origin(std::string_view o) {
  std::string_view rest;
  if (o.starts_with("https://")) rest = o.substr(8);
  else if (o.starts_with("http://")) rest = o.substr(7);
  else return false;
  if (rest.empty() || rest.size() > 253 + 6) return false;
  bool port = false;
  for (char c : rest) {
    const bool host_char = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.';
    if (c == ':' && !port) {
      port = true;
      continue;
    }
    if (port ? !(c >= '0' && c <= '9') : !host_char) return false;
  }
  return rest.front() != ':' && rest.back() != ':';
}

}  // namespace rend::uploads
