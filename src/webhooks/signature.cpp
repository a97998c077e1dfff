#include "webhooks/signature.h"

#include <charconv>
#include <cstdlib>

#include "core/crypto.h"

namespace rend::webhooks {

std::string sign_v1(std::string_view secret, int64_t t, std::string_view body) {
  std::string message = std::to_string(t);
  message += '.';
  message += body;
  return core::hex_encode(core::hmac_sha256(secret, message));
}

std::string signature_header(int64_t t, std::string_view body, const std::vector<std::string>& secrets) {
  std::string h = "t=" + std::to_string(t);
  for (const auto& s : secrets) h += ",v1=" + sign_v1(s, t, body);
  return h;
}

bool verify_signature(std::string_view header, std::string_view body, std::string_view secret, int64_t now_s,
                      int64_t tolerance_s) {
  std::optional<int64_t> t;
  std::vector<std::string_view> candidates;
  size_t at = 0;
  while (at <= header.size()) {
    size_t comma = header.find(',', at);
    if (comma == std::string_view::npos) comma = header.size();
    auto item = header.substr(at, comma - at);
    if (item.starts_with("t=")) {
      int64_t v = 0;
      auto digits = item.substr(2);
      auto [p, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), v);
      if (ec != std::errc() || p != digits.data() + digits.size()) return false;
      t = v;
    } else if (item.starts_with("v1=")) {
      candidates.push_back(item.substr(3));
    }
    at = comma + 1;
  }
  if (!t || std::llabs(now_s - *t) > tolerance_s) return false;
  const std::string expected = sign_v1(secret, *t, body);
  bool ok = false;
  for (auto c : candidates) ok |= core::constant_time_equal(c, expected);
  return ok;
}

}  // namespace rend::webhooks
