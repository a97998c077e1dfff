#include <cctype>
#include <charconv>
#include <cmath>

#include "core/strings.h"
#include "routing/routing.h"

namespace rend::routing {
namespace {

// A plain decimal: -?[0-9]+(\.[0-9]+)?  (no exponent, '+', nan, inf or hex).
std::optional<double> parse_decimal(std::string_view s) {
  s = core::trim_ows(s);
  if (s.empty() || s.size() > 32) return std::nullopt;
  size_t i = 0;
  if (s[i] == '-') ++i;
  size_t int_digits = 0;
  while (i < s.size() && s[i] >= '0' && s[i] <= '9') ++i, ++int_digits;
  if (int_digits == 0) return std::nullopt;
  if (i < s.size() && s[i] == '.') {
    ++i;
    size_t frac = 0;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') ++i, ++frac;
    if (frac == 0) return std::nullopt;
  }
  if (i != s.size()) return std::nullopt;
  double v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size() || !std::isfinite(v)) return std::nullopt;
  return v;
}

enum class Fold { none, upper, lower };

// One normalizer for every geo and id header: `s` without surrounding OWS, case-folded,
// when it is min_len..max_len characters that `ok` accepts after folding; "" otherwise
// (a header we cannot trust is treated as absent).
std::string header_token(std::string_view s, size_t min_len, size_t max_len, Fold fold, bool (*ok)(char)) {
  s = core::trim_ows(s);
  if (s.size() < min_len || s.size() > max_len) return "";
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    if (fold == Fold::upper && c >= 'a' && c <= 'z') c = char(c - 'a' + 'A');
    if (fold == Fold::lower && c >= 'A' && c <= 'Z') c = char(c - 'A' + 'a');
    if (!ok(c)) return "";
    out += c;
  }
  return out;
}

bool is_upper(char c) { return c >= 'A' && c <= 'Z'; }
bool is_lower(char c) { return c >= 'a' && c <= 'z'; }
bool is_digit(char c) { return c >= '0' && c <= '9'; }

std::string upper_letters(std::string_view s, size_t exact) {
  return header_token(s, exact, exact, Fold::upper, is_upper);
}

std::string region_code(std::string_view s) {
  return header_token(s, 1, 3, Fold::upper, [](char c) { return is_upper(c) || is_digit(c); });
}

std::string request_id(std::string_view s) {
  return header_token(s, 1, 128, Fold::none, [](char c) {
    return is_upper(c) || is_lower(c) || is_digit(c) || c == ':' || c == '.' || c == '_' || c == '-';
  });
}

std::string edge_region_code(std::string_view s) {
  return header_token(s, 1, 32, Fold::lower, [](char c) { return is_lower(c) || is_digit(c) || c == '-'; });
}

}  // namespace

GeoHeaders cloudflare_geo_headers() {
  GeoHeaders h;
  h.latitude = "cf-iplatitude";
  h.longitude = "cf-iplongitude";
  h.country = "cf-ipcountry";
  h.country_region = "cf-region-code";
  h.continent = "cf-ipcontinent";
  h.request_id = "cf-ray";
  h.edge_region = "";
  return h;
}

bool GeoInput::valid_coordinates() const {
  return latitude && longitude && std::isfinite(*latitude) && std::isfinite(*longitude) && *latitude >= -90 &&
         *latitude <= 90 && *longitude >= -180 && *longitude <= 180;
}

GeoInput read_geo(const HeaderLookup& header, const GeoHeaders& names) {
  auto get = [&](const std::string& name) -> std::string_view {
    if (name.empty() || !header) return {};
    auto v = header(name);
    return v ? *v : std::string_view{};
  };
  GeoInput g;
  auto lat = parse_decimal(get(names.latitude));
  auto lon = parse_decimal(get(names.longitude));
  if (lat && lon && *lat >= -90 && *lat <= 90 && *lon >= -180 && *lon <= 180) {
    g.latitude = lat;
    g.longitude = lon;
  }
  g.country = upper_letters(get(names.country), 2);
  if (g.country == "XX") g.country.clear();
  g.country_region = region_code(get(names.country_region));
  g.continent = upper_letters(get(names.continent), 2);
  g.request_id = request_id(get(names.request_id));
  if (!names.edge_region.empty()) {
    g.edge_region = edge_region_code(get(names.edge_region));
  } else if (auto sep = g.request_id.find("::"); sep != std::string::npos) {
    g.edge_region = edge_region_code(std::string_view(g.request_id).substr(0, sep));
  }
  return g;
}

}  // namespace rend::routing
