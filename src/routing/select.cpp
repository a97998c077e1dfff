#include <cmath>
#include <numbers>
#include <set>

#include "routing/routing.h"

namespace rend::routing {
using core::ConfigError;

namespace {

constexpr double kEarthRadiusKm = 6371.0088;

Selection fallback(const SelectionConfig& config) {
  Selection s;
  s.reason = Reason::fallback_url;
  if (auto url = normalize_base_url(config.fallback_base_url)) s.base_url = *url;
  return s;
}

// The route chosen by geo (steps 3a-3d in routing.h); never null for a non-empty table.
const Route* route_by_geo(const RouteTable& table, const GeoInput& geo, Reason& reason,
                          std::optional<double>& distance) {
  auto better_id = [](const Route* best, const Route& r) { return !best || r.id < best->id; };
  if (geo.valid_coordinates()) {
    const Route* best = nullptr;
    double best_km = 0;
    for (const auto& r : table.routes) {
      double km = great_circle_km(*geo.latitude, *geo.longitude, r.latitude, r.longitude);
      if (!best || km < best_km || (km == best_km && r.id < best->id)) best = &r, best_km = km;
    }
    reason = Reason::nearest;
    distance = best_km;
    return best;
  }
  if (!geo.country.empty()) {
    const Route* best = nullptr;
    for (const auto& r : table.routes)
      for (const auto& c : r.countries)
        if (c == geo.country && better_id(best, r)) best = &r;
    if (best) {
      reason = Reason::country;
      return best;
    }
  }
  if (!geo.continent.empty()) {
    const Route* best = nullptr;
    for (const auto& r : table.routes)
      if (r.continent == geo.continent && better_id(best, r)) best = &r;
    if (best) {
      reason = Reason::continent;
      return best;
    }
  }
  reason = Reason::default_route;
  if (const auto* d = table.find(table.default_route_id)) return d;
  // A hand-built table without a valid default: the smallest id, deterministically.
  const Route* best = nullptr;
  for (const auto& r : table.routes)
    if (better_id(best, r)) best = &r;
  return best;
}

}  // namespace

double great_circle_km(double lat1, double lon1, double lat2, double lon2) {
  constexpr double rad = std::numbers::pi / 180.0;
  double p1 = lat1 * rad, p2 = lat2 * rad;
  double dp = (lat2 - lat1) * rad, dl = (lon2 - lon1) * rad;
  double h = std::sin(dp / 2) * std::sin(dp / 2) + std::cos(p1) * std::cos(p2) * std::sin(dl / 2) * std::sin(dl / 2);
  h = std::min(1.0, std::max(0.0, h));
  return 2 * kEarthRadiusKm * std::asin(std::sqrt(h));
}

std::string_view to_string(Reason r) {
  switch (r) {
    case Reason::override_url: return "override";
    case Reason::fallback_url: return "fallback";
    case Reason::nearest: return "nearest";
    case Reason::country: return "country";
    case Reason::continent: return "continent";
    case Reason::default_route: return "default";
  }
  return "fallback";
}

Selection select_edge(const RouteTable& table, const GeoInput& geo, const SelectionConfig& config) {
  // 1. Forced fallback; 2. no routes.
  if (config.force_fallback || table.routes.empty()) return fallback(config);

  // 3. Route by geo.
  Selection s;
  const Route* route = route_by_geo(table, geo, s.reason, s.distance_km);
  s.route_id = route->id;
  s.region = route->region;

  // 4. Its URL: an applicable override, else the route's own.
  std::string url = route->base_url;
  if (!config.production || config.overrides_mode_override) {
    for (const auto& [id, override_url] : config.base_url_overrides) {
      if (id == route->id) {
        url = override_url;
        s.url_overridden = true;
        break;
      }
    }
  }

  // 5. Unusable URL -> fallback.
  auto usable = normalize_base_url(url);
  if (!usable) return fallback(config);
  s.base_url = *usable;
  return s;
}

SelectionConfig parse_selection_config(const core::Env& env, bool production, const RouteTable& table) {
  static const std::string kUrls = "REND_PLAYER_EDGE_BASE_URLS";
  static const std::string kMode = "REND_PLAYER_EDGE_BASE_URLS_MODE";
  static const std::string kFallback = "REND_PLAYER_PLAYBACK_BASE_URL";
  const char* scheme_rule = production ? "an https:// base URL (production)" : "an http:// or https:// base URL";
  auto check_url = [&](const std::string& var, const std::string& value) {
    auto url = normalize_base_url(value);
    if (!url || (production && !url->starts_with("https://")))
      throw ConfigError(var + " must be " + scheme_rule + " without query or credentials, got '" + value + "'");
    return *url;
  };

  SelectionConfig c;
  c.production = production;
  std::set<std::string> seen;
  for (const auto& entry : env.get_list(kUrls)) {
    auto eq = entry.find('=');
    if (eq == std::string::npos || eq == 0 || eq + 1 == entry.size())
      throw ConfigError(kUrls + " entries must be route_id=base_url, got '" + entry + "'");
    std::string id = entry.substr(0, eq);
    std::string value = entry.substr(eq + 1);
    while (!id.empty() && (id.back() == ' ' || id.back() == '\t')) id.pop_back();
    while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.erase(0, 1);
    if (!table.find(id)) {
      std::string known;
      for (const auto& r : table.routes) known += (known.empty() ? "" : ", ") + r.id;
      throw ConfigError(kUrls + " names unknown route '" + id + "' (routes: " + (known.empty() ? "none" : known) + ")");
    }
    if (!seen.insert(id).second) throw ConfigError(kUrls + " lists route '" + id + "' more than once");
    c.base_url_overrides.emplace_back(id, check_url(kUrls, value));
  }

  if (auto fb = env.get(kFallback)) c.fallback_base_url = check_url(kFallback, *fb);

  std::string mode = env.get_or(kMode, "");
  if (mode == "override") {
    if (c.base_url_overrides.empty()) throw ConfigError(kMode + "=override requires " + kUrls);
    c.overrides_mode_override = true;
  } else if (mode == "fallback") {
    if (c.fallback_base_url.empty()) throw ConfigError(kMode + "=fallback requires " + kFallback);
    c.force_fallback = true;
  } else if (!mode.empty()) {
    throw ConfigError(kMode + " must be empty, 'override' or 'fallback', got '" + mode + "'");
  }
  return c;
}

}  // namespace rend::routing
