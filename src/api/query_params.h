#pragma once
// Strict query parameter parsing for the API: a value is used only when the whole
// of it parses and is in range, and only when the parameter is given once, so
// "limit=5abc" or "from=1&from=2" is a 400 naming the parameter, never a guess.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include "http/message.h"

namespace rend::api {

// The whole of `text` as a decimal integer in [min, max] (min >= 0): ASCII digits
// only, no sign, spaces or trailing characters. nullopt otherwise, or on overflow.
std::optional<int64_t> parse_int_strict(std::string_view text, int64_t min, int64_t max);

// The percent-decoded value of `name` (nullopt when absent), or the error message
// when it appears more than once.
std::variant<std::optional<std::string>, std::string> single_query_param(const http::Request& req,
                                                                         std::string_view name);

// `?limit=` of a list route: 1..100, `def` when absent; a 400 `invalid_limit`
// answer when repeated or out of range.
std::variant<int, http::Response> page_limit(const http::Request& req, int def);

}  // namespace rend::api
