#pragma once
// Small text helpers shared by every parser of header values.
#include <string_view>

namespace rend::core {

// Optional whitespace around an HTTP field value or list element (RFC 9110 section
// 5.6.3: OWS = *( SP / HTAB )).
constexpr bool is_ows(char c) { return c == ' ' || c == '\t'; }

constexpr std::string_view trim_ows(std::string_view s) {
  while (!s.empty() && is_ows(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_ows(s.back())) s.remove_suffix(1);
  return s;
}

}  // namespace rend::core
