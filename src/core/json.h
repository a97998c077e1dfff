#pragma once
// JSON from outside (request bodies): Boost.JSON's parser with its default limits
// (depth 32, strict syntax), and objects with a repeated key refused, so that no
// two readers of one body (a proxy, a WAF, Rend) can disagree on what it says.
#include <boost/json/value.hpp>
#include <optional>
#include <string>
#include <string_view>

namespace rend::core {

// The parsed value, or nullopt for malformed JSON, nesting deeper than 32, or an
// object that names one key twice (at any depth).
std::optional<boost::json::value> parse_json_strict(std::string_view text);

// `v` as JSON text, as boost::json::serialize writes it except for doubles, which
// Boost 1.81 writes in exponent form (`1.2E1`, `1E0`): here an integral value prints
// as an integer (`12`), others as the shortest decimal that reads back as the same
// double (`12.5`, `0.25`), with an exponent only beyond 1e21 / below 1e-6 (as
// JavaScript's Number#toString). NaN and infinities, which JSON cannot carry, print
// as null. For every JSON answer Rend sends.
std::string serialize_json(const boost::json::value& v);

}  // namespace rend::core
