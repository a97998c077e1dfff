#pragma once
// Parsing a JSON request body. Header-only and free of the API's other dependencies
// so it can be fuzzed alone (fuzz/json_body_fuzz.cpp); Boost.JSON itself is compiled
// once, in rend_core (src/core/json.cpp).
#include <boost/json.hpp>
#include <optional>
#include <string>

#include "core/json.h"

namespace rend::api {

// Parses a JSON object body; empty body is {}. nullopt on malformed input, on
// nesting deeper than Boost.JSON's default limit of 32 and on a key repeated in one
// object (core/json.h). The body's size is bounded before this by the HTTP server's
// body limit.
inline std::optional<boost::json::object> parse_json_object(const std::string& body) {
  if (body.find_first_not_of(" \t\r\n") == std::string::npos) return boost::json::object{};
  auto v = core::parse_json_strict(body);
  if (!v || !v->is_object()) return std::nullopt;
  return std::move(v->as_object());
}

}  // namespace rend::api
