#pragma once
// The Rend-Signature header (docs/webhooks.md):
//   Rend-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>[,v1=...]
// one v1 per secret in use (two during a rotation), so a receiver holding either
// secret verifies.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace rend::webhooks {

std::string sign_v1(std::string_view secret, int64_t t, std::string_view body);
std::string signature_header(int64_t t, std::string_view body, const std::vector<std::string>& secrets);

// The receiver's check, as the docs' verifier: some v1 matches `secret` (constant
// time) and t is within tolerance_s of now_s. For tests and as the reference.
bool verify_signature(std::string_view header, std::string_view body, std::string_view secret, int64_t now_s,
                      int64_t tolerance_s);

}  // namespace rend::webhooks
