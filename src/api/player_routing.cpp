#include "api/player_routing.h"

namespace rend::api {

PlayerRouting PlayerRouting::from_env(const core::Env& env, bool production, const std::string& local_edge_url) {
  PlayerRouting r;
  auto file = env.get("REND_PLAYER_ROUTES_FILE");
  r.table = file ? routing::load_route_table(*file) : routing::builtin_route_table();
  core::Env effective = env;
  if (!production && !env.get("REND_PLAYER_EDGE_BASE_URLS")) {
    std::string all;
    for (const auto& route : r.table.routes) all += (all.empty() ? "" : ",") + route.id + "=" + local_edge_url;
    effective.set("REND_PLAYER_EDGE_BASE_URLS", all);
  }
  r.selection = routing::parse_selection_config(effective, production, r.table);
  auto headers = env.get_or("REND_PLAYER_GEO_HEADERS", "vercel");
  if (headers == "cloudflare") r.headers = routing::cloudflare_geo_headers();
  else if (headers != "vercel") throw core::ConfigError("REND_PLAYER_GEO_HEADERS must be vercel or cloudflare");
  return r;
}

}  // namespace rend::api
