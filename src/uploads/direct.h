#pragma once
// Direct-upload tokens: a signed, expiring capability for one upload, used by a
// browser page instead of the API key (issue 13). The token names the upload, its
// expiry and the one origin the page may use it from; it is an HMAC-SHA256 under a
// key derived from the playback signing secret (a distinct purpose string, so no
// playback token can ever pass for one, nor the reverse).
//   base64url(upload_id "|" expires_unix "|" origin) "." base64url(mac)
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace rend::uploads {

struct DirectGrant {
  std::string upload_id;
  int64_t expires_unix = 0;
  std::string origin;  // "https://app.example"
};

std::string sign_direct_token(std::string_view signing_secret, const DirectGrant& grant);
// The grant when the signature is valid (constant-time) and it has not expired at
// now_unix; nullopt otherwise (the caller answers 401 without saying which).
std::optional<DirectGrant> verify_direct_token(std::string_view signing_secret, std::string_view token,
                                               int64_t now_unix);
// Whether `origin` is a plain web origin: scheme http/https, a host, an optional port,
// nothing else (no path, no trailing slash).
bool is_web_origin(std::string_view origin);

}  // namespace rend::uploads
