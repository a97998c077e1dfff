#include "roles/settings.h"

namespace rend::roles {

// The order of the parse calls is the order of the checks: the first bad value
// found is the one reported.
StoreConfig parse_store_commands(const core::Env& env, const std::string& data_dir) {
  StoreConfig c;
  c.deployment = core::parse_deployment(env, data_dir);
  c.store = store::parse(env, c.deployment);
  c.http = http::parse(env);
  c.auth = auth::parse(env, c.deployment);
  return c;
}

ApiConfig parse_api(const core::Env& env, const std::string& data_dir) {
  auto base = parse_store_commands(env, data_dir);
  store::require_production_backends(base.store,
                                     {.database = true, .objects = true, .redis = true, .clickhouse = true});
  ApiConfig c{.store = std::move(base.store), .http = base.http, .api = {}, .routing = {}};
  auto ingest = telemetry::parse_ingest(env, base.deployment);
  c.api = api::parse(env, base.auth);
  c.api.telemetry = std::move(ingest);
  if (c.store.clickhouse.enabled()) c.api.telemetry.journal_dir = data_dir + "/telemetry-journal";
  c.routing = routing::parse(env, base.deployment.production, c.api.playback_base_url);
  c.billing = billing::parse(env, base.deployment.production);
  c.outbound = http::parse_outbound(env, base.deployment);
  c.webhooks = webhooks::parse_settings(env);
  c.readiness = readiness::parse_page(env);
  return c;
}

WorkerConfig parse_worker(const core::Env& env, const std::string& data_dir) {
  auto base = parse_store_commands(env, data_dir);
  store::require_production_backends(base.store, {.database = true, .objects = true, .redis = true});
  WorkerConfig c{.store = std::move(base.store), .worker = {}, .billing = {}};
  c.worker = worker::parse(env, base.deployment, base.auth);
  c.billing = billing::parse(env, base.deployment.production);
  return c;
}

EdgeConfig parse_edge(const core::Env& env, const std::string& data_dir) {
  auto base = parse_store_commands(env, data_dir);
  store::require_production_backends(base.store, {.objects = true});
  EdgeConfig c{.store = std::move(base.store), .http = base.http, .edge = {}, .telemetry = {}};
  c.edge = edge::parse(env, base.deployment, base.auth);
  c.telemetry = telemetry::parse_sender(env, base.deployment, c.edge.control_plane_url);
  return c;
}

DevConfig parse_dev(core::Env env, const std::string& data_dir, int edges) {
  if (env.get_or("REND_ENV", "local") == "production")
    throw core::ConfigError("REND_ENV=production: `rend dev` runs only on the embedded local backends");
  // The roles reach each other over loopback HTTP, as separate deployments would.
  auto api_url = env.get_or("REND_API_PUBLIC_BASE_URL",
                            core::url_for_bind(core::parse_host_port(env.get_or("REND_API_BIND_ADDR", "127.0.0.1:4000"),
                                                                     "REND_API_BIND_ADDR")));
  std::string warm_urls, purge_urls, route_urls;
  for (int i = 0; i < edges; ++i) {
    const auto& e = kDevEdges[i];
    auto bind = core::parse_host_port(env.get_or(e.bind_var, e.default_bind), e.bind_var);
    auto url = core::url_for_bind(bind);
    auto sep = [](std::string& list) -> std::string& { return list.empty() ? list : list += ","; };
    sep(warm_urls) += url + "/internal/warm";
    sep(purge_urls) += url + "/internal/purge";
    if (e.route_id) sep(route_urls) += std::string(e.route_id) + "=" + url;
    if (i == 0) env.set_default("REND_PLAYBACK_BASE_URL", url);
  }
  // Edges register with the API (the registry drives warm/purge fanout); the
  // explicit URLs are the single-edge fallbacks, deduplicated against it.
  env.set_default("REND_CONTROL_PLANE_URL", api_url);
  env.set_default("REND_EDGE_PURGE_URL", purge_urls);
  env.set_default("REND_EDGE_WARM_URL", warm_urls);
  // Point the player's routes (ash-1, ams-1) at the local regional edges.
  if (!route_urls.empty()) env.set_default("REND_PLAYER_EDGE_BASE_URLS", route_urls);
  // The watch page is served by the API and fetches media from the edges (other
  // origins) with credentials, so the edges must allow the API's origin.
  env.set_default("REND_EDGE_CORS_ALLOWED_ORIGINS", api_url);

  DevConfig c;
  for (int i = 0; i < edges; ++i) {
    const auto& e = kDevEdges[i];
    core::Env edge_env = env;
    if (i > 0) {
      edge_env.set("REND_EDGE_BIND_ADDR", env.get_or(e.bind_var, e.default_bind));
      edge_env.set("REND_EDGE_ID", e.id);
      edge_env.set("REND_EDGE_REGION", e.region);
      edge_env.set("REND_EDGE_BASE_URL", "");
      edge_env.set("REND_EDGE_CACHE_DIR", data_dir + "/edge-cache-" + e.region);
      // Each edge needs a spool of its own (files are appended and deleted by one owner).
      edge_env.set("REND_EDGE_TELEMETRY_SPOOL_DIR",
                   env.get_or("REND_EDGE_TELEMETRY_SPOOL_DIR", data_dir + "/telemetry-spool") + "-" + e.region);
    }
    c.edges.push_back(parse_edge(edge_env, data_dir));
  }
  c.api = parse_api(env, data_dir);
  c.worker = parse_worker(env, data_dir);
  return c;
}

}  // namespace rend::roles
