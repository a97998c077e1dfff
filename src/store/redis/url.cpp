#include "store/redis/url.h"

#include <charconv>
#include <stdexcept>
#include <string_view>

#include "core/percent.h"

namespace rend::store::redis {
namespace {

// Messages name the part that is wrong, never echo the URL: it may hold a password.
[[noreturn]] void bad(const std::string& why) { throw std::invalid_argument("redis URL: " + why); }

// Strict: a password with a stray '%' is a typo to report, not a different password.
std::string percent_decode(std::string_view s, const char* what) {
  auto out = core::percent_decode_strict(s);
  if (!out) bad(std::string("bad percent-encoding in the ") + what);
  return std::move(*out);
}

int parse_int(std::string_view s, int min, int max, const char* what) {
  int v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc() || end != s.data() + s.size() || v < min || v > max)
    bad(std::string("bad ") + what);
  return v;
}

}  // namespace

std::string RedisUrl::server() const {
  const bool v6 = host.find(':') != std::string::npos;
  return (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

RedisUrl parse_redis_url(const std::string& url) {
  constexpr std::string_view kScheme = "redis://";
  std::string_view rest = url;
  if (rest.substr(0, kScheme.size()) != kScheme) bad("must start with redis:// (TLS is not supported)");
  rest.remove_prefix(kScheme.size());

  RedisUrl out;
  // A '/' in the password must be percent-encoded (it would start the path); '@'
  // and ':' need not be: the last '@' and the first ':' separate the parts.
  const auto slash = rest.find('/');
  std::string_view authority = rest.substr(0, slash);
  std::string_view path = slash == std::string_view::npos ? std::string_view{} : rest.substr(slash + 1);

  if (const auto at = authority.rfind('@'); at != std::string_view::npos) {
    std::string_view userinfo = authority.substr(0, at);
    authority.remove_prefix(at + 1);
    const auto colon = userinfo.find(':');
    if (colon == std::string_view::npos) bad("credentials must be [user]:password@");
    out.user = percent_decode(userinfo.substr(0, colon), "user");
    out.password = percent_decode(userinfo.substr(colon + 1), "password");
    if (out.password.empty()) bad("empty password");
  }

  std::string_view port;
  if (!authority.empty() && authority.front() == '[') {
    const auto close = authority.find(']');
    if (close == std::string_view::npos) bad("unterminated IPv6 host");
    out.host = authority.substr(1, close - 1);
    std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') bad("bad host");
      port = after.substr(1);
      if (port.empty()) bad("empty port");
    }
  } else {
    const auto colon = authority.find(':');
    out.host = authority.substr(0, colon);
    if (colon != std::string_view::npos) {
      port = authority.substr(colon + 1);
      if (port.empty()) bad("empty port");
    }
  }
  if (out.host.empty()) bad("missing host");
  if (!port.empty()) out.port = parse_int(port, 1, 65535, "port");

  if (path.find_first_of("?#") != std::string_view::npos) bad("query and fragment are not supported");
  if (!path.empty()) out.db = parse_int(path, 0, 1 << 20, "database number");
  return out;
}

}  // namespace rend::store::redis
