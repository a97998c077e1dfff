#include "readiness/redact.h"

#include <regex>
#include <utility>

namespace rend::readiness {

std::optional<std::string> find_leak(std::string_view text, const std::vector<std::string>& known_secrets) {
  for (const auto& s : known_secrets)
    if (s.size() >= 6 && text.find(s) != std::string_view::npos) return "known_secret";
  using std::regex;
  constexpr auto icase = regex::ECMAScript | regex::icase;
  // Shapes, not values: a leak the run did not know about still has one of them.
  static const std::pair<const char*, regex> kShapes[] = {
      {"url", regex(R"([a-z][a-z0-9+.\-]*://)", icase)},
      {"bearer", regex(R"(bearer\s+[A-Za-z0-9._~+/=\-])", icase)},
      {"authorization", regex(R"(authorization"?\s*[:=])", icase)},
      {"cookie", regex(R"(rend_playback\s*=|set-cookie|cookie"?\s*[:=])", icase)},
      {"query_token", regex(R"([?&;](token|access_token|sig|signature|x-amz-signature|x-amz-credential|key)=)", icase)},
      {"playback_token", regex(R"(v[12]\.[A-Za-z0-9_\-]+\.[0-9]{9,}\.ast_)")},
      {"ipv4",
       regex(R"((^|[^0-9.])(25[0-5]|2[0-4][0-9]|1?[0-9]?[0-9])(\.(25[0-5]|2[0-4][0-9]|1?[0-9]?[0-9])){3}($|[^0-9.]))")},
      // "::" never appears in the artifact's own JSON; eight groups is the full form.
      {"ipv6", regex(R"([0-9a-f]*::[0-9a-f]*|([0-9a-f]{1,4}:){7}[0-9a-f]{1,4})", icase)},
  };
  const std::string s(text);
  for (const auto& [kind, re] : kShapes)
    if (std::regex_search(s, re)) return kind;
  return std::nullopt;
}

}  // namespace rend::readiness
