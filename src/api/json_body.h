#pragma once
// Parsing a JSON request body. Header-only and free of the API's other dependencies
// so it can be fuzzed alone (fuzz/json_body_fuzz.cpp); Boost.JSON itself is compiled
// once, in rend_core (src/core/json.cpp).
#include <boost/json.hpp>
#include <optional>
#include <string>

namespace rend::api {

// Parses a JSON object body; empty body is {}. nullopt on malformed input (and on
// nesting deeper than Boost.JSON's default limit of 32). The body's size is bounded
// before this by the HTTP server's body limit.
inline std::optional<boost::json::object> parse_json_object(const std::string& body) {
  if (body.find_first_not_of(" \t\r\n") == std::string::npos) return boost::json::object{};
  boost::system::error_code ec;
  auto v = boost::json::parse(body, ec);
  if (ec || !v.is_object()) return std::nullopt;
  return v.as_object();
}

}  // namespace rend::api
