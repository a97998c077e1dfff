#pragma once
// JSON from outside (request bodies): Boost.JSON's parser with its default limits
// (depth 32, strict syntax), and objects with a repeated key refused, so that no
// two readers of one body (a proxy, a WAF, Rend) can disagree on what it says.
#include <boost/json/value.hpp>
#include <optional>
#include <string_view>

namespace rend::core {

// The parsed value, or nullopt for malformed JSON, nesting deeper than 32, or an
// object that names one key twice (at any depth).
std::optional<boost::json::value> parse_json_strict(std::string_view text);

}  // namespace rend::core
