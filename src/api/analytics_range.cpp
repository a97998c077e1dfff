#include "api/analytics_range.h"

#include <algorithm>
#include <charconv>

namespace rend::api {

namespace {

// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil).
int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = unsigned(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + int64_t(doe) - 719468;
}

bool leap(int64_t y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

unsigned days_in_month(int64_t y, unsigned m) {
  static const unsigned kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && leap(y) ? 29 : kDays[m - 1];
}

// Exactly n digits at s[at..], as a number; -1 otherwise.
int digits(std::string_view s, size_t at, size_t n) {
  if (at + n > s.size()) return -1;
  int v = 0;
  for (size_t i = at; i < at + n; ++i) {
    if (s[i] < '0' || s[i] > '9') return -1;
    v = v * 10 + (s[i] - '0');
  }
  return v;
}

// RFC 3339 section 5.6 date-time.
std::optional<int64_t> parse_rfc3339(std::string_view s) {
  // YYYY-MM-DDTHH:MM:SS is 19 characters, then optional fraction, then the offset.
  int y = digits(s, 0, 4), mo = digits(s, 5, 2), d = digits(s, 8, 2);
  int h = digits(s, 11, 2), mi = digits(s, 14, 2), sec = digits(s, 17, 2);
  if (y < 0 || mo < 1 || mo > 12 || d < 1 || h < 0 || h > 23 || mi < 0 || mi > 59 || sec < 0 || sec > 60)
    return std::nullopt;
  if (s[4] != '-' || s[7] != '-' || s[13] != ':' || s[16] != ':') return std::nullopt;
  // RFC 3339 allows "t", and notes that applications may use a space instead of "T".
  if (s[10] != 'T' && s[10] != 't' && s[10] != ' ') return std::nullopt;
  if (unsigned(d) > days_in_month(y, unsigned(mo))) return std::nullopt;
  size_t i = 19;
  int64_t ms = 0;
  if (i < s.size() && s[i] == '.') {
    size_t start = ++i;
    int scale = 100;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') {
      ms += (s[i] - '0') * scale;  // beyond milliseconds: truncated
      scale /= 10;
      ++i;
    }
    if (i == start) return std::nullopt;
  }
  if (i >= s.size()) return std::nullopt;  // the offset is required
  int64_t offset_min = 0;
  if (s[i] == 'Z' || s[i] == 'z') {
    ++i;
  } else if (s[i] == '+' || s[i] == '-' || s[i] == ' ') {
    // A space is a '+' that arrived unencoded in a query string (form decoding turns
    // '+' into ' '); nothing else can put a space there.
    int sign = s[i] == '-' ? -1 : 1;
    int oh = digits(s, i + 1, 2), om = digits(s, i + 4, 2);
    if (oh < 0 || oh > 23 || om < 0 || om > 59 || s[i + 3] != ':') return std::nullopt;
    offset_min = sign * (oh * 60 + om);
    i += 6;
  } else {
    return std::nullopt;
  }
  if (i != s.size()) return std::nullopt;
  int64_t secs = days_from_civil(y, unsigned(mo), unsigned(d)) * 86400 + h * 3600 + mi * 60 + sec - offset_min * 60;
  return secs * 1000 + ms;
}

}  // namespace

std::optional<int64_t> parse_time_ms(std::string_view s) {
  if (s.empty()) return std::nullopt;
  if (s.find_first_not_of("0123456789") == std::string_view::npos) {
    // Up to year 33658 in ms; longer is a typo (or seconds times a million).
    if (s.size() > 15) return std::nullopt;
    int64_t v = 0;
    std::from_chars(s.data(), s.data() + s.size(), v);
    return v;
  }
  return parse_rfc3339(s);
}

std::variant<TimeRange, std::string> parse_time_range(const std::optional<std::string>& from,
                                                      const std::optional<std::string>& to, int64_t now_ms,
                                                      int64_t default_span_ms) {
  TimeRange r;
  r.to_ms = now_ms;
  if (to && !to->empty()) {
    auto v = parse_time_ms(*to);
    if (!v) return std::string("to must be unix milliseconds or an RFC 3339 time (e.g. 2027-01-15T08:00:00Z)");
    r.to_ms = *v;
  }
  r.from_ms = std::max<int64_t>(0, r.to_ms - default_span_ms);
  if (from && !from->empty()) {
    auto v = parse_time_ms(*from);
    if (!v) return std::string("from must be unix milliseconds or an RFC 3339 time (e.g. 2027-01-15T08:00:00Z)");
    r.from_ms = *v;
  }
  if (r.from_ms < 0) return std::string("from must not be before 1970-01-01T00:00:00Z");
  if (r.from_ms >= r.to_ms) return std::string("from must be before to");
  return r;
}

}  // namespace rend::api
