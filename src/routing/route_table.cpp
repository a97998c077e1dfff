#include <boost/json.hpp>
#include <cctype>
#include <cmath>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "routing/routing.h"

namespace rend::routing {
namespace json = boost::json;
using core::ConfigError;

namespace {

bool valid_route_id(std::string_view id) {
  if (id.empty() || id.size() > 63) return false;
  for (char c : id)
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) return false;
  return true;
}

bool is_upper2(std::string_view s) { return s.size() == 2 && s[0] >= 'A' && s[0] <= 'Z' && s[1] >= 'A' && s[1] <= 'Z'; }

const std::set<std::string_view> kContinents = {"AF", "AN", "AS", "EU", "NA", "OC", "SA"};

struct Ctx {
  const std::string& source;
  [[noreturn]] void fail(const std::string& what) const { throw ConfigError("route table " + source + ": " + what); }
};

const json::value& field(const Ctx& c, const json::object& o, std::string_view key, const std::string& where) {
  auto* v = o.if_contains(key);
  if (!v) c.fail(where + " is missing \"" + std::string(key) + "\"");
  return *v;
}

std::string string_field(const Ctx& c, const json::object& o, std::string_view key, const std::string& where) {
  const auto& v = field(c, o, key, where);
  if (!v.is_string()) c.fail(where + " \"" + std::string(key) + "\" must be a string");
  return std::string(v.get_string());
}

double number_field(const Ctx& c, const json::object& o, std::string_view key, const std::string& where) {
  const auto& v = field(c, o, key, where);
  if (!v.is_number()) c.fail(where + " \"" + std::string(key) + "\" must be a number");
  return v.to_number<double>();
}

void reject_unknown_keys(const Ctx& c, const json::object& o, std::initializer_list<std::string_view> known,
                         const std::string& where) {
  for (const auto& kv : o) {
    bool ok = false;
    for (auto k : known) ok = ok || kv.key() == k;
    if (!ok) c.fail(where + " has an unknown key \"" + std::string(kv.key()) + "\"");
  }
}

}  // namespace

const Route* RouteTable::find(std::string_view id) const {
  for (const auto& r : routes)
    if (r.id == id) return &r;
  return nullptr;
}

std::optional<std::string> normalize_base_url(std::string_view url) {
  std::string_view rest;
  if (url.starts_with("https://")) rest = url.substr(8);
  else if (url.starts_with("http://")) rest = url.substr(7);
  else return std::nullopt;
  for (unsigned char ch : url)
    if (ch <= 0x20 || ch >= 0x7f || ch == '?' || ch == '#' || ch == '@' || ch == '\\') return std::nullopt;
  auto slash = rest.find('/');
  std::string_view authority = rest.substr(0, slash);
  if (authority.empty()) return std::nullopt;
  // host: [v6] or a name/IPv4 of [A-Za-z0-9.-]; then optional :port (1..65535).
  std::string_view host = authority, port;
  if (authority.front() == '[') {
    auto close = authority.find(']');
    if (close == std::string_view::npos || close == 1) return std::nullopt;
    host = authority.substr(0, close + 1);
    auto after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return std::nullopt;
      port = after.substr(1);
      if (port.empty()) return std::nullopt;
    }
    for (char ch : host.substr(1, host.size() - 2))
      if (!(std::isxdigit(static_cast<unsigned char>(ch)) || ch == ':' || ch == '.')) return std::nullopt;
  } else {
    auto colon = authority.find(':');
    if (colon != std::string_view::npos) {
      host = authority.substr(0, colon);
      port = authority.substr(colon + 1);
      if (port.empty()) return std::nullopt;
    }
    if (host.empty() || host.front() == '.' || host.front() == '-') return std::nullopt;
    for (char ch : host)
      if (!(std::isalnum(static_cast<unsigned char>(ch)) || ch == '.' || ch == '-')) return std::nullopt;
  }
  if (!port.empty()) {
    if (port.size() > 5) return std::nullopt;
    unsigned n = 0;
    for (char ch : port) {
      if (ch < '0' || ch > '9') return std::nullopt;
      n = n * 10 + unsigned(ch - '0');
    }
    if (n == 0 || n > 65535) return std::nullopt;
  }
  std::string out(url);
  if (out.back() == '/') out.pop_back();
  if (out.ends_with("/")) return std::nullopt;  // "//" at the end: not a clean base
  return out;
}

std::string url_authority(std::string_view url) {
  auto p = url.find("://");
  if (p == std::string_view::npos) return "";
  auto rest = url.substr(p + 3);
  rest = rest.substr(0, rest.find_first_of("/?#"));
  auto at = rest.rfind('@');
  if (at != std::string_view::npos) rest = rest.substr(at + 1);
  return std::string(rest);
}

RouteTable parse_route_table(std::string_view text, const std::string& source) {
  Ctx c{source};
  json::value doc;
  try {
    doc = json::parse(text);
  } catch (const std::exception& e) {
    c.fail(std::string("is not valid JSON (") + e.what() + ")");
  }
  if (!doc.is_object()) c.fail("must be a JSON object");
  const auto& top = doc.get_object();
  reject_unknown_keys(c, top, {"default_route_id", "routes"}, "the document");
  RouteTable table;
  table.default_route_id = string_field(c, top, "default_route_id", "the document");
  const auto& rv = field(c, top, "routes", "the document");
  if (!rv.is_array()) c.fail("\"routes\" must be an array");

  std::set<std::string> ids;
  std::map<std::string, std::string> country_owner;
  size_t index = 0;
  for (const auto& item : rv.get_array()) {
    std::string where = "route #" + std::to_string(index++);
    if (!item.is_object()) c.fail(where + " must be an object");
    const auto& o = item.get_object();
    Route r;
    r.id = string_field(c, o, "id", where);
    if (!valid_route_id(r.id)) c.fail(where + " id \"" + r.id + "\" must be 1-63 characters of [a-z0-9-]");
    where = "route \"" + r.id + "\"";
    reject_unknown_keys(c, o, {"id", "region", "base_url", "latitude", "longitude", "countries", "continent"}, where);
    if (!ids.insert(r.id).second) c.fail("duplicate route id \"" + r.id + "\"");
    r.region = string_field(c, o, "region", where);
    if (r.region.empty()) c.fail(where + " region must not be empty");
    std::string url = string_field(c, o, "base_url", where);
    auto norm = normalize_base_url(url);
    if (!norm) c.fail(where + " base_url \"" + url + "\" must be an http:// or https:// base URL without query");
    r.base_url = *norm;
    r.latitude = number_field(c, o, "latitude", where);
    r.longitude = number_field(c, o, "longitude", where);
    if (!std::isfinite(r.latitude) || r.latitude < -90 || r.latitude > 90)
      c.fail(where + " latitude must be within [-90, 90]");
    if (!std::isfinite(r.longitude) || r.longitude < -180 || r.longitude > 180)
      c.fail(where + " longitude must be within [-180, 180]");
    r.continent = string_field(c, o, "continent", where);
    if (!kContinents.count(r.continent))
      c.fail(where + " continent \"" + r.continent + "\" must be one of AF AN AS EU NA OC SA");
    const auto& cv = field(c, o, "countries", where);
    if (!cv.is_array()) c.fail(where + " \"countries\" must be an array");
    for (const auto& cc : cv.get_array()) {
      if (!cc.is_string() || !is_upper2(cc.get_string()))
        c.fail(where + " countries must be upper-case ISO 3166-1 alpha-2 codes, got " + json::serialize(cc));
      std::string code(cc.get_string());
      auto [it, fresh] = country_owner.emplace(code, r.id);
      if (!fresh) c.fail("country " + code + " is listed by both \"" + it->second + "\" and \"" + r.id + "\"");
      r.countries.push_back(code);
    }
    table.routes.push_back(std::move(r));
  }
  if (!table.routes.empty() && !table.find(table.default_route_id))
    c.fail("default_route_id \"" + table.default_route_id + "\" is not a route");
  if (table.routes.empty() && !table.default_route_id.empty())
    c.fail("default_route_id \"" + table.default_route_id + "\" is not a route (no routes)");
  return table;
}

RouteTable load_route_table(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw ConfigError("route table " + path + ": cannot be read");
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) throw ConfigError("route table " + path + ": cannot be read");
  return parse_route_table(ss.str(), path);
}

}  // namespace rend::routing
