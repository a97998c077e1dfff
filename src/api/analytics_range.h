#pragma once
// The [from, to) range of an analytics query, from its `from`/`to` parameters.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

namespace rend::api {

struct TimeRange {
  int64_t from_ms = 0;
  int64_t to_ms = 0;
};

// Unix milliseconds ("1800000000000") or RFC 3339 ("2027-01-15T08:00:00Z",
// "2027-01-15T09:00:00.250+01:00"). nullopt for anything else.
std::optional<int64_t> parse_time_ms(std::string_view s);

// Missing (or empty) `to` is now; missing `from` is `to` minus default_span_ms.
// The error message (for a 400 invalid_range) when either does not parse, from is
// before 1970, or from is not before to.
std::variant<TimeRange, std::string> parse_time_range(const std::optional<std::string>& from,
                                                      const std::optional<std::string>& to, int64_t now_ms,
                                                      int64_t default_span_ms);

}  // namespace rend::api
