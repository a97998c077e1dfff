#pragma once
// The player's edge routing configuration, parsed once at startup (SPEC §5).
#include "core/env.h"
#include "routing/routing.h"

namespace rend::api {

struct PlayerRouting {
  routing::RouteTable table;          // REND_PLAYER_ROUTES_FILE, default the built-in table
  routing::SelectionConfig selection;  // REND_PLAYER_EDGE_BASE_URLS[_MODE], REND_PLAYER_PLAYBACK_BASE_URL
  routing::GeoHeaders headers;         // REND_PLAYER_GEO_HEADERS=vercel|cloudflare

  // Outside production, when REND_PLAYER_EDGE_BASE_URLS is unset, every route
  // points at `local_edge_url` (REND_PLAYBACK_BASE_URL): the checked-in routes
  // are public hostnames a local setup cannot reach.
  static PlayerRouting from_env(const core::Env& env, bool production, const std::string& local_edge_url);
};

}  // namespace rend::api
