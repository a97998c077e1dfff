#pragma once
// Finding one cookie in a Cookie header value (RFC 6265 §5.4: "a=b; c=d"). Pure and
// header-only so the edge's credential extraction can be fuzzed on its own
// (fuzz/cookie_token_fuzz.cpp) without the HTTP server.
#include <optional>
#include <string_view>

namespace rend::http {

// The value of the first cookie called `name`, without surrounding double quotes;
// nullopt when there is none. The view points into `header_value`.
inline std::optional<std::string_view> cookie_in_header(std::string_view header_value, std::string_view name) {
  std::string_view v = header_value;
  while (!v.empty()) {
    auto semi = v.find(';');
    auto part = v.substr(0, semi);
    while (!part.empty() && part.front() == ' ') part.remove_prefix(1);
    auto eq = part.find('=');
    if (eq != std::string_view::npos && part.substr(0, eq) == name) {
      auto val = part.substr(eq + 1);
      if (val.size() >= 2 && val.front() == '"' && val.back() == '"') val = val.substr(1, val.size() - 2);
      return val;
    }
    if (semi == std::string_view::npos) break;
    v.remove_prefix(semi + 1);
  }
  return std::nullopt;
}

}  // namespace rend::http
