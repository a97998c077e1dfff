#include "auth/api_keys.h"

#include <algorithm>

#include "core/crypto.h"
#include "core/ids.h"
#include "core/strings.h"

namespace rend::auth {
namespace {

char ascii_lower(char c) { return (c >= 'A' && c <= 'Z') ? char(c - 'A' + 'a') : c; }

// RFC 6750 section 2.1: b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
bool valid_b64token(std::string_view t) {
  size_t i = 0;
  for (; i < t.size(); ++i) {
    char c = t[i];
    bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
              c == '_' || c == '~' || c == '+' || c == '/';
    if (!ok) break;
  }
  if (i == 0) return false;
  for (; i < t.size(); ++i)
    if (t[i] != '=') return false;
  return true;
}

}  // namespace

GeneratedApiKey generate_api_key() {
  GeneratedApiKey k;
  k.id = core::new_id("key");
  k.secret = "rend_sk_" + core::random_token(32);
  k.secret_hash = hash_api_key(k.secret);
  return k;
}

std::string hash_api_key(std::string_view secret) { return core::sha256_hex(secret); }

std::optional<std::vector<std::string>> parse_scopes(std::string_view csv) {
  std::vector<std::string> out;
  const auto& known = all_scopes();
  size_t start = 0;
  while (true) {
    size_t comma = csv.find(',', start);
    std::string_view item =
        core::trim_ows(csv.substr(start, comma == std::string_view::npos ? std::string_view::npos : comma - start));
    if (item.empty()) return std::nullopt;
    if (item == "all") {
      for (const auto& k : known)
        if (k != kOperatorScope) out.push_back(k);
    } else if (std::find(known.begin(), known.end(), item) != known.end()) {
      out.emplace_back(item);
    } else {
      return std::nullopt;
    }
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

std::optional<std::string_view> bearer_token(std::string_view header) {
  header = core::trim_ows(header);
  constexpr std::string_view kScheme = "bearer";
  if (header.size() <= kScheme.size()) return std::nullopt;
  for (size_t i = 0; i < kScheme.size(); ++i)
    if (ascii_lower(header[i]) != kScheme[i]) return std::nullopt;
  std::string_view rest = header.substr(kScheme.size());
  if (rest.empty() || rest.front() != ' ') return std::nullopt;  // "Bearerx", "Bearer\tx"
  while (!rest.empty() && rest.front() == ' ') rest.remove_prefix(1);
  if (!valid_b64token(rest)) return std::nullopt;
  return rest;
}

bool internal_token_matches(std::string_view header, std::string_view expected) {
  if (expected.empty()) return false;
  auto tok = bearer_token(header);
  if (!tok) return false;
  // Compare digests rather than the raw strings: constant_time_equal returns early on a
  // length mismatch, and hashing first keeps the secret's length from leaking too.
  return core::constant_time_equal(core::sha256_hex(*tok), core::sha256_hex(expected));
}

}  // namespace rend::auth
