// The subcommands: parse flags, parse config once, wire roles, wait for a signal.
#include <sys/stat.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iostream>

#include "auth/api_keys.h"
#include "core/clock.h"
#include "core/log.h"
#include "control/edge_control.h"
#include "roles/roles.h"
#include "store/factory.h"

namespace fs = std::filesystem;

namespace rend::roles {
namespace {

struct Flags {
  std::string data_dir = ".rend/dev";
  std::string scopes = "all";
  std::string name = "default";
  int edges = 1;  // rend dev --edges N
};

Flags parse_flags(const std::vector<std::string>& args) {
  Flags f;
  for (size_t i = 0; i < args.size(); ++i) {
    const auto& a = args[i];
    auto value = [&](const std::string& flag) -> std::string {
      auto eq = a.find('=');
      if (eq != std::string::npos) return a.substr(eq + 1);
      if (i + 1 >= args.size()) throw core::ConfigError(flag + " needs a value");
      return args[++i];
    };
    if (a.rfind("--data-dir", 0) == 0) f.data_dir = value("--data-dir");
    else if (a.rfind("--scopes", 0) == 0) f.scopes = value("--scopes");
    else if (a.rfind("--name", 0) == 0) f.name = value("--name");
    else if (a.rfind("--edges", 0) == 0) {
      auto v = value("--edges");
      if (v != "1" && v != "2" && v != "3") throw core::ConfigError("--edges must be 1, 2 or 3");
      f.edges = std::stoi(v);
    }
    else throw core::ConfigError("unknown argument '" + a + "'");
  }
  if (f.data_dir.empty()) throw core::ConfigError("--data-dir must not be empty");
  return f;
}

core::Env role_env(const Flags& f) {
  auto env = core::Env::from_process();
  load_local_secrets(env, f.data_dir);
  return env;
}

// Creates an API key and returns its secret (shown once; only the hash is stored).
std::string create_key(store::MetadataStore& meta, const std::vector<std::string>& scopes, const std::string& name) {
  auto k = auth::generate_api_key();
  store::ApiKey key;
  key.id = k.id;
  key.name = name;
  key.secret_hash = k.secret_hash;
  key.scopes = scopes;
  key.created_at_ms = core::SystemClock().now_unix_ms();
  meta.create_api_key(key);
  return k.secret;
}

// `rend dev` keeps one all-scopes key in {data_dir}/api-key across restarts.
std::string dev_api_key(store::MetadataStore& meta, const std::string& data_dir) {
  std::string path = data_dir + "/api-key";
  std::ifstream in(path);
  std::string secret;
  std::getline(in, secret);
  if (!secret.empty()) {
    auto k = meta.find_api_key_by_hash(auth::hash_api_key(secret));
    // A key from an older `rend dev` may lack a scope added since: make a new one.
    bool every_scope = k && std::ranges::all_of(auth::all_scopes(), [&](const std::string& s) {
                         return std::ranges::find(k->scopes, s) != k->scopes.end();
                       });
    if (k && !k->revoked_at_ms && every_scope) return secret;
  }
  secret = create_key(meta, auth::all_scopes(), "rend dev");
  std::ofstream out(path, std::ios::trunc);
  out << secret << "\n";
  out.close();
  ::chmod(path.c_str(), 0600);
  return secret;
}

}  // namespace

int run_migrate(const std::vector<std::string>& args) {
  auto f = parse_flags(args);
  auto env = role_env(f);
  auto cfg = core::CommonConfig::from_env(env, f.data_dir);
  open_stores(cfg, true);
  core::log::info("migrations_applied");
  return 0;
}

// The analytics schema alone (compose's clickhouse-init one-shot); idempotent.
int run_clickhouse_init(const std::vector<std::string>& args) {
  auto f = parse_flags(args);
  auto env = role_env(f);
  auto cfg = core::CommonConfig::from_env(env, f.data_dir);
  store::open_analytics_store(cfg)->ensure_schema();
  core::log::info("analytics_schema_applied", {{"backend", cfg.clickhouse.enabled() ? "clickhouse" : "sqlite"}});
  return 0;
}

int run_keys(const std::vector<std::string>& args) {
  if (args.empty() || args[0] != "create") throw core::ConfigError("usage: rend keys create --scopes upload,read,delete,analytics,operator [--name N]");
  auto f = parse_flags({args.begin() + 1, args.end()});
  auto scopes = auth::parse_scopes(f.scopes);
  if (!scopes) throw core::ConfigError("--scopes must list some of: upload, read, delete, analytics, operator (or 'all': every scope but operator)");
  auto env = role_env(f);
  auto cfg = core::CommonConfig::from_env(env, f.data_dir);
  auto stores = open_stores(cfg, true);
  std::cout << create_key(*stores.meta, *scopes, f.name) << std::endl;
  return 0;
}

int run_api(const std::vector<std::string>& args) {
  auto f = parse_flags(args);
  auto env = role_env(f);
  auto cfg = core::ApiConfig::from_env(env, f.data_dir);
  auto stores = open_stores(cfg.common, cfg.auto_migrate);
  ApiRole api(cfg, env, stores);
  auto port = api.start();
  core::log::info("api_listening", {{"port", static_cast<int64_t>(port)}});
  wait_for_shutdown_signal();
  api.stop();
  control::stop_control_dispatch();  // purges in flight finish (bounded by their timeout)
  return 0;
}

int run_worker(const std::vector<std::string>& args) {
  if (args.empty() || args[0] != "media") throw core::ConfigError("usage: rend worker media [--data-dir DIR]");
  auto f = parse_flags({args.begin() + 1, args.end()});
  auto env = role_env(f);
  auto cfg = core::WorkerConfig::from_env(env, f.data_dir);
  auto stores = open_stores(cfg.common, false);
  WorkerRole w(cfg, *stores.meta, *stores.objects, *stores.coord);
  w.start();
  wait_for_shutdown_signal();
  w.stop();
  control::stop_control_dispatch();  // warms in flight finish (bounded by their timeout)
  return 0;
}

int run_edge(const std::vector<std::string>& args) {
  auto f = parse_flags(args);
  auto env = role_env(f);
  auto cfg = core::EdgeConfig::from_env(env, f.data_dir);
  // An edge host reaches only object storage (its origin), never the database.
  auto origin = store::open_object_store(cfg.common);
  EdgeRole e(cfg, *origin);
  auto port = e.start();
  if (e.internal_port())
    core::log::info("edge_listening", {{"port", static_cast<int64_t>(port)},
                                       {"internal_port", static_cast<int64_t>(e.internal_port())},
                                       {"edge_id", cfg.edge_id}});
  else
    core::log::info("edge_listening", {{"port", static_cast<int64_t>(port)}, {"edge_id", cfg.edge_id}});
  wait_for_shutdown_signal();
  e.stop();
  return 0;
}

// The edges `rend dev --edges N` runs: the default one, then the two regional ones
// of the seed's two-edge topology (ports 4101, 4102; overridable for tests).
struct DevEdge {
  const char* id;
  const char* region;
  const char* bind_var;
  const char* default_bind;
  const char* route_id;  // the player route it stands in for locally
};
constexpr DevEdge kDevEdges[] = {
    {"edge-local", "local", "REND_EDGE_BIND_ADDR", "127.0.0.1:4100", nullptr},
    {"edge-us-east", "us-east", "REND_DEV_EDGE_US_EAST_BIND_ADDR", "127.0.0.1:4101", "ash-1"},
    {"edge-london", "london", "REND_DEV_EDGE_LONDON_BIND_ADDR", "127.0.0.1:4102", "ams-1"},
};

int run_dev(const std::vector<std::string>& args) {
  auto f = parse_flags(args);
  auto env = role_env(f);
  if (env.get_or("REND_ENV", "local") == "production")
    throw core::ConfigError("REND_ENV=production: `rend dev` runs only on the embedded local backends");
  // The roles reach each other over loopback HTTP, as separate deployments would.
  auto api_url = env.get_or(
      "REND_API_PUBLIC_BASE_URL",
      core::url_for_bind(
          core::parse_host_port(env.get_or("REND_API_BIND_ADDR", "127.0.0.1:4000"), "REND_API_BIND_ADDR")));
  std::vector<core::EdgeConfig> edge_cfgs;
  std::string warm_urls, purge_urls, route_urls;
  for (int i = 0; i < f.edges; ++i) {
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
  for (int i = 0; i < f.edges; ++i) {
    const auto& e = kDevEdges[i];
    core::Env edge_env = env;
    if (i > 0) {
      edge_env.set("REND_EDGE_BIND_ADDR", env.get_or(e.bind_var, e.default_bind));
      edge_env.set("REND_EDGE_ID", e.id);
      edge_env.set("REND_EDGE_REGION", e.region);
      edge_env.set("REND_EDGE_BASE_URL", "");
      edge_env.set("REND_EDGE_CACHE_DIR", f.data_dir + "/edge-cache-" + e.region);
      // Each edge needs a spool of its own (files are appended and deleted by one owner).
      edge_env.set("REND_EDGE_TELEMETRY_SPOOL_DIR",
                   env.get_or("REND_EDGE_TELEMETRY_SPOOL_DIR", f.data_dir + "/telemetry-spool") + "-" + e.region);
    }
    edge_cfgs.push_back(core::EdgeConfig::from_env(edge_env, f.data_dir));
  }
  auto api_cfg = core::ApiConfig::from_env(env, f.data_dir);
  auto worker_cfg = core::WorkerConfig::from_env(env, f.data_dir);

  auto stores = open_stores(api_cfg.common, true);
  auto key = dev_api_key(*stores.meta, f.data_dir);
  std::vector<std::unique_ptr<EdgeRole>> edges;
  for (const auto& c : edge_cfgs) edges.push_back(std::make_unique<EdgeRole>(c, *stores.objects));
  ApiRole api(api_cfg, env, stores);
  WorkerRole worker(worker_cfg, *stores.meta, *stores.objects, *stores.coord);
  for (auto& e : edges) e->start();
  api.start();
  worker.start();

  std::cout << "\nrend dev is running (data in " << fs::absolute(f.data_dir).lexically_normal().string() << ")\n"
            << "  API:        " << api_cfg.public_base_url << "\n";
  for (const auto& e : edge_cfgs) std::cout << "  Edge:       " << e.base_url << "  (" << e.edge_id << ")\n";
  std::cout << "  Watch page: " << api_cfg.public_base_url << "/watch/{asset_id}\n"
            << "  API key:    " << key << "  (also in " << f.data_dir << "/api-key)\n\n"
            << "Upload a video:\n"
            << "  curl -s -X POST -H \"Authorization: Bearer $(cat " << f.data_dir << "/api-key)\" "
            << api_cfg.public_base_url << "/v1/uploads\n"
            << "  curl -s -X PUT -H \"Authorization: Bearer $(cat " << f.data_dir << "/api-key)\" "
            << "--upload-file video.mp4 <upload_url>\n"
            << "Press Ctrl-C to stop.\n"
            << std::endl;
  int sig = wait_for_shutdown_signal();
  core::log::info("shutdown", {{"signal", sig}});
  api.stop();
  worker.stop();
  control::stop_control_dispatch();  // before the edges it calls go away
  for (auto& e : edges) e->stop();
  return 0;
}

}  // namespace rend::roles
