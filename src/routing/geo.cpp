#include <cctype>
#include <charconv>
#include <cmath>

#include "routing/routing.h"

namespace rend::routing {
namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// A plain decimal: -?[0-9]+(\.[0-9]+)?  (no exponent, '+', nan, inf or hex).
std::optional<double> parse_decimal(std::string_view s) {
  s = trim(s);
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

std::string upper_letters(std::string_view s, size_t exact) {
  s = trim(s);
  if (s.size() != exact) return "";
  std::string out;
  for (char c : s) {
    if (c >= 'a' && c <= 'z') c = char(c - 'a' + 'A');
    if (c < 'A' || c > 'Z') return "";
    out += c;
  }
  return out;
}

std::string region_code(std::string_view s) {
  s = trim(s);
  if (s.empty() || s.size() > 3) return "";
  std::string out;
  for (char c : s) {
    if (c >= 'a' && c <= 'z') c = char(c - 'a' + 'A');
    if (!((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))) return "";
    out += c;
  }
  return out;
}

std::string request_id(std::string_view s) {
  s = trim(s);
  if (s.empty() || s.size() > 128) return "";
  for (char c : s)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == ':' || c == '.' || c == '_' || c == '-')) return "";
  return std::string(s);
}

std::string edge_region_code(std::string_view s) {
  s = trim(s);
  if (s.empty() || s.size() > 32) return "";
  std::string out;
  for (char c : s) {
    if (c >= 'A' && c <= 'Z') c = char(c - 'A' + 'a');
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) return "";
    out += c;
  }
  return out;
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
