#include "routing/settings.h"

namespace rend::routing {

Settings parse(const core::Env& env, bool production, const std::string& local_edge_url) {
  Settings r;
  auto file = env.get("REND_PLAYER_ROUTES_FILE");
  r.table = file ? load_route_table(*file) : builtin_route_table();
  core::Env effective = env;
  if (!production && !env.get("REND_PLAYER_EDGE_BASE_URLS")) {
    std::string all;
    for (const auto& route : r.table.routes) all += (all.empty() ? "" : ",") + route.id + "=" + local_edge_url;
    effective.set("REND_PLAYER_EDGE_BASE_URLS", all);
  }
  r.selection = parse_selection_config(effective, production, r.table);
  auto headers = env.get_or("REND_PLAYER_GEO_HEADERS", "vercel");
  if (headers == "cloudflare") r.headers = cloudflare_geo_headers();
  else if (headers != "vercel") throw core::ConfigError("REND_PLAYER_GEO_HEADERS must be vercel or cloudflare");
  return r;
}

}  // namespace rend::routing
