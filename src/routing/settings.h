#pragma once
// The player's edge routing configuration (SPEC §5), parsed up front with the rest
// of the API's settings: the route table file is read here, not when the API starts.
#include <string>

#include "core/env.h"
#include "routing/routing.h"

namespace rend::routing {

struct Settings {
  RouteTable table;           // REND_PLAYER_ROUTES_FILE, default the built-in table
  SelectionConfig selection;  // REND_PLAYER_EDGE_BASE_URLS[_MODE], REND_PLAYER_PLAYBACK_BASE_URL
  GeoHeaders headers;         // REND_PLAYER_GEO_HEADERS=vercel|cloudflare
};

// Outside production, when REND_PLAYER_EDGE_BASE_URLS is unset, every route points
// at `local_edge_url` (REND_PLAYBACK_BASE_URL): the checked-in routes are public
// hostnames a local setup cannot reach. Throws core::ConfigError naming the variable.
Settings parse(const core::Env& env, bool production, const std::string& local_edge_url);

}  // namespace rend::routing
