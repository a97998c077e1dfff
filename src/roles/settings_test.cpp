// Every role's settings, parsed the way the role commands (and an env check) parse them.
#include "roles/settings.h"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "core/json.h"

using namespace rend::core;
using namespace rend::roles;

namespace {
const std::string kSecret(40, 's');
Env base(std::map<std::string, std::string> extra = {}) {
  extra.emplace("REND_PLAYBACK_SIGNING_SECRET", kSecret);
  return Env(std::move(extra));
}
std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}
}  // namespace

TEST(Config, EmbeddedDefaultsLiveUnderTheDataDir) {
  auto c = parse_api(base(), "/d");
  EXPECT_EQ(c.store.database_url, "sqlite:///d/rend.db");
  EXPECT_EQ(c.store.object_store_dir, "/d/objects");
  EXPECT_EQ(c.api.bind.port, 4000);
  EXPECT_EQ(c.api.public_base_url, "http://127.0.0.1:4000");
  EXPECT_EQ(c.api.playback_base_url, "http://127.0.0.1:4100");
  auto e = parse_edge(base(), "/d");
  EXPECT_EQ(e.edge.bind.port, 4100);
  EXPECT_EQ(e.edge.cache_dir, "/d/edge-cache");
  auto w = parse_worker(base(), "/d");
  EXPECT_EQ(w.worker.work_dir, "/d/work");
  EXPECT_EQ(w.worker.poll_interval_secs, 2u);
}

TEST(Config, ApiParsesTheWebhookSettings) {
  EXPECT_EQ(parse_api(base(), "/d").webhooks.retry_base_ms, 10'000);
  EXPECT_EQ(parse_api(base({{"REND_WEBHOOK_RETRY_BASE_MS", "250"}}), "/d").webhooks.retry_base_ms, 250);
  EXPECT_NE(error_of([] {
              parse_api(base({{"REND_WEBHOOK_RETRY_BASE_MS", "60000"}}), "/d");
            }).find("REND_WEBHOOK_RETRY_BASE_MS"),
            std::string::npos);
}

TEST(Config, HttpServerLimits) {
  auto c = parse_api(base(), "/d");
  EXPECT_EQ(c.http.max_connections, 10000u);
  EXPECT_EQ(c.http.min_body_bytes_per_sec, 1024u);
  c = parse_api(base({{"REND_HTTP_MAX_CONNECTIONS", "50"}, {"REND_HTTP_MIN_BODY_BYTES_PER_SEC", "0"}}), "/d");
  EXPECT_EQ(c.http.max_connections, 50u);
  EXPECT_EQ(c.http.min_body_bytes_per_sec, 0u);
  EXPECT_NE(error_of([] {
              parse_api(base({{"REND_HTTP_MAX_CONNECTIONS", "0"}}), "/d");
            }).find("REND_HTTP_MAX_CONNECTIONS"),
            std::string::npos);
  EXPECT_NE(error_of([] {
              parse_edge(base({{"REND_HTTP_MIN_BODY_BYTES_PER_SEC", "-1"}}), "/d");
            }).find("REND_HTTP_MIN_BODY_BYTES_PER_SEC"),
            std::string::npos);
}

TEST(Config, ErrorsNameTheVariable) {
  EXPECT_NE(error_of([] { parse_api(Env(), "/d"); }).find("REND_PLAYBACK_SIGNING_SECRET"), std::string::npos);
  EXPECT_NE(error_of([] {
              parse_api(base({{"REND_API_BIND_ADDR", "x"}}), "/d");
            }).find("REND_API_BIND_ADDR"),
            std::string::npos);
  EXPECT_NE(error_of([] {
              parse_api(base({{"REND_MAX_UPLOAD_BYTES", "0"}}), "/d");
            }).find("REND_MAX_UPLOAD_BYTES"),
            std::string::npos);
  EXPECT_NE(error_of([] {
              parse_api(base({{"REND_PLAYBACK_BASE_URL", "ftp://x"}}), "/d");
            }).find("REND_PLAYBACK_BASE_URL"),
            std::string::npos);
  EXPECT_NE(error_of([] {
              parse_worker(base({{"REND_MEDIA_JOB_LOCK_TIMEOUT_SECS", "1"}}), "/d");
            }).find("REND_MEDIA_JOB_LOCK_TIMEOUT_SECS"),
            std::string::npos);
}

TEST(Config, ProductionRefusesEmbeddedBackends) {
  const std::string token(40, 't');
  auto msg = error_of([] { parse_api(base({{"REND_ENV", "production"}}), "/d"); });
  EXPECT_NE(msg.find("REND_EDGE_INTERNAL_TOKEN"), std::string::npos) << msg;
  msg = error_of([&] { parse_api(base({{"REND_ENV", "production"}, {"REND_EDGE_INTERNAL_TOKEN", token}}), "/d"); });
  EXPECT_NE(msg.find("DATABASE_URL"), std::string::npos) << msg;
  msg = error_of([&] {
    parse_api(
        base({{"REND_ENV", "production"}, {"REND_EDGE_INTERNAL_TOKEN", token}, {"DATABASE_URL", "postgres://db/rend"}}),
        "/d");
  });
  EXPECT_NE(msg.find("S3_ENDPOINT"), std::string::npos) << msg;
  EXPECT_NE(error_of([] { parse_api(base({{"REND_ENV", "staging"}}), "/d"); }).find("REND_ENV"), std::string::npos);
  std::map<std::string, std::string> prod{{"REND_ENV", "production"},
                                          {"DATABASE_URL", "postgres://db/rend"},
                                          {"S3_ENDPOINT", "https://s3.example.com"},
                                          {"S3_BUCKET", "rend"},
                                          {"REND_EDGE_INTERNAL_TOKEN", std::string(40, 't')}};
  msg = error_of([&] { parse_api(base(prod), "/d"); });
  EXPECT_NE(msg.find("REND_REDIS_URL"), std::string::npos) << msg;
  prod["REND_REDIS_URL"] = "redis://cache:6379";
  msg = error_of([&] { parse_api(base(prod), "/d"); });
  EXPECT_NE(msg.find("CLICKHOUSE_URL"), std::string::npos) << msg;
  prod["CLICKHOUSE_URL"] = "https://ch.example.com:8443";
  msg = error_of([&] { parse_api(base(prod), "/d"); });
  EXPECT_NE(msg.find("REND_INTERNAL_TELEMETRY_TOKEN"), std::string::npos) << msg;
  prod["REND_INTERNAL_TELEMETRY_TOKEN"] = std::string(40, 'k');
  // The edge registry is pinned in production: no edge id, region or URL is taken
  // on the word of whoever holds the shared internal token.
  msg = error_of([&] { parse_api(base(prod), "/d"); });
  EXPECT_NE(msg.find("REND_EXPECTED_EDGES"), std::string::npos) << msg;
  prod["REND_EXPECTED_EDGES"] = "edge-1=eu=https://e1.example.com";
  // Billing in production is Autumn with a live key (issue 12).
  msg = error_of([&] { parse_api(base(prod), "/d"); });
  EXPECT_NE(msg.find("AUTUMN_SECRET_KEY"), std::string::npos) << msg;
  prod["AUTUMN_SECRET_KEY"] = "am_sk_live_0123456789";
  EXPECT_EQ(error_of([&] { parse_api(base(prod), "/d"); }), "");
  EXPECT_TRUE(parse_api(base(prod), "/d").outbound.require_https);
  // Customer URLs (webhooks, imports) may not be opened to the private network.
  prod["REND_ALLOW_PRIVATE_OUTBOUND_URLS"] = "true";
  msg = error_of([&] { parse_api(base(prod), "/d"); });
  EXPECT_NE(msg.find("REND_ALLOW_PRIVATE_OUTBOUND_URLS"), std::string::npos) << msg;
}

TEST(Config, EdgeRegistrySizeBound) {
  EXPECT_EQ(parse_api(base(), "/d").api.edge_registry_max_edges, 256u);
  EXPECT_EQ(parse_api(base({{"REND_EDGE_REGISTRY_MAX_EDGES", "3"}}), "/d").api.edge_registry_max_edges, 3u);
  EXPECT_NE(error_of([] {
              parse_api(base({{"REND_EDGE_REGISTRY_MAX_EDGES", "0"}}), "/d");
            }).find("REND_EDGE_REGISTRY_MAX_EDGES"),
            std::string::npos);
}

TEST(Config, AnEdgeHostNeedsOnlyObjectStorage) {
  std::map<std::string, std::string> edge{{"REND_ENV", "production"},
                                          {"S3_ENDPOINT", "https://s3.example.com"},
                                          {"S3_BUCKET", "rend"},
                                          {"REND_EDGE_INTERNAL_TOKEN", std::string(40, 't')},
                                          {"REND_EDGE_INTERNAL_BIND_ADDR", "10.0.0.5:4190"}};
  // Telemetry is on by default, so production needs somewhere to send it...
  auto msg = error_of([&] { parse_edge(base(edge), "/d"); });
  EXPECT_NE(msg.find("REND_EDGE_TELEMETRY_INGEST_URL"), std::string::npos) << msg;
  edge["REND_CONTROL_PLANE_URL"] = "https://api.example.com";
  msg = error_of([&] { parse_edge(base(edge), "/d"); });
  EXPECT_NE(msg.find("REND_INTERNAL_TELEMETRY_TOKEN"), std::string::npos) << msg;
  edge["REND_INTERNAL_TELEMETRY_TOKEN"] = std::string(40, 'k');
  EXPECT_EQ(error_of([&] { parse_edge(base(edge), "/d"); }), "");
  auto c = parse_edge(base(edge), "/d");
  EXPECT_EQ(c.telemetry.ingest_url, "https://api.example.com/internal/telemetry");
  // ...or telemetry switched off explicitly.
  edge.erase("REND_CONTROL_PLANE_URL");
  edge["REND_EDGE_TELEMETRY_ENABLED"] = "false";
  EXPECT_EQ(error_of([&] { parse_edge(base(edge), "/d"); }), "");
  edge.erase("S3_ENDPOINT");
  edge.erase("S3_BUCKET");
  EXPECT_NE(error_of([&] { parse_edge(base(edge), "/d"); }).find("S3_ENDPOINT"), std::string::npos);
}

TEST(Config, AProductionEdgeServesMetricsAndControlOnlyOnItsInternalListener) {
  std::map<std::string, std::string> edge{{"REND_ENV", "production"},
                                          {"S3_ENDPOINT", "https://s3.example.com"},
                                          {"S3_BUCKET", "rend"},
                                          {"REND_EDGE_INTERNAL_TOKEN", std::string(40, 't')},
                                          {"REND_EDGE_TELEMETRY_ENABLED", "false"}};
  auto msg = error_of([&] { parse_edge(base(edge), "/d"); });
  EXPECT_NE(msg.find("REND_EDGE_INTERNAL_BIND_ADDR"), std::string::npos) << msg;
  edge["REND_EDGE_INTERNAL_BIND_ADDR"] = "10.0.0.5:4190";
  EXPECT_EQ(error_of([&] { parse_edge(base(edge), "/d"); }), "");
  edge.erase("REND_ENV");
  edge.erase("REND_EDGE_INTERNAL_BIND_ADDR");
  EXPECT_EQ(error_of([&] { parse_edge(base(edge), "/d"); }), "") << "optional outside production";
}

TEST(Config, RealBackendsAreSelectedByTheirVariables) {
  auto c = parse_api(base({{"S3_ENDPOINT", "http://127.0.0.1:9100"},
                           {"S3_BUCKET", "rend"},
                           {"REND_REDIS_URL", "redis://127.0.0.1:6379"},
                           {"CLICKHOUSE_URL", "http://127.0.0.1:8123"}}),
                     "/d");
  EXPECT_TRUE(c.store.s3.enabled());
  EXPECT_EQ(c.store.s3.region, "us-east-1");
  EXPECT_TRUE(c.store.s3.path_style);
  EXPECT_EQ(c.store.redis_url, "redis://127.0.0.1:6379");
  EXPECT_TRUE(c.store.clickhouse.enabled());
  EXPECT_EQ(c.store.clickhouse.database, "rend");
  EXPECT_NE(error_of([] { parse_api(base({{"S3_BUCKET", "rend"}}), "/d"); }).find("S3_ENDPOINT"), std::string::npos);
  EXPECT_NE(error_of([] {
              parse_api(base({{"REND_REDIS_URL", "localhost:6379"}}), "/d");
            }).find("REND_REDIS_URL"),
            std::string::npos);
}

TEST(Config, EdgeCacheAndTelemetrySettings) {
  auto c = parse_edge(base({}), "/d");
  EXPECT_FALSE(c.edge.internal_bind);
  EXPECT_EQ(c.edge.max_in_flight_fills, 64u);
  EXPECT_EQ(c.edge.cache_max_bytes, 10ull << 30);
  EXPECT_EQ(c.edge.cache_min_free_bytes, 1ull << 30);
  EXPECT_EQ(c.edge.warm_max_artifacts, 16u);
  EXPECT_TRUE(c.telemetry.enabled);
  EXPECT_EQ(c.telemetry.ingest_url, "");  // no control plane: nowhere to send (local edge)
  EXPECT_EQ(c.telemetry.flush_interval_ms, 1000u);
  EXPECT_EQ(c.telemetry.spool_dir, "/d/telemetry-spool");
  c = parse_edge(base({{"REND_EDGE_INTERNAL_BIND_ADDR", "10.0.0.5:4190"},
                       {"REND_EDGE_TELEMETRY_FLUSH_INTERVAL_SECS", "0.25"},
                       {"REND_EDGE_TELEMETRY_INGEST_URL", "http://127.0.0.1:4000/internal/telemetry"},
                       {"REND_INTERNAL_TELEMETRY_TOKEN", "t"}}),
                 "/d");
  ASSERT_TRUE(c.edge.internal_bind);
  EXPECT_EQ(c.edge.internal_bind->port, 4190);
  EXPECT_EQ(c.telemetry.flush_interval_ms, 250u);
  EXPECT_NE(error_of([] {
              parse_edge(base({{"REND_EDGE_MAX_IN_FLIGHT_FILLS", "0"}}), "/d");
            }).find("REND_EDGE_MAX_IN_FLIGHT_FILLS"),
            std::string::npos);
  EXPECT_NE(error_of([] {
              parse_edge(base({{"REND_EDGE_TELEMETRY_FLUSH_INTERVAL_SECS", "soon"}}), "/d");
            }).find("REND_EDGE_TELEMETRY_FLUSH_INTERVAL_SECS"),
            std::string::npos);
  EXPECT_NE(error_of([] {
              parse_edge(base({{"REND_EDGE_TELEMETRY_INGEST_URL", "http://127.0.0.1:4000/internal/telemetry"}}), "/d");
            }).find("REND_INTERNAL_TELEMETRY_TOKEN"),
            std::string::npos);
}

TEST(Config, EdgeIdentityFitsTheTelemetryWireFormat) {
  EXPECT_NE(error_of([] {
              parse_edge(base({{"REND_EDGE_ID", "edge one"}}), "/d");
            }).find("REND_EDGE_ID"),
            std::string::npos);
  EXPECT_NE(error_of([] {
              parse_edge(base({{"REND_EDGE_REGION", "eu/west"}}), "/d");
            }).find("REND_EDGE_REGION"),
            std::string::npos);
  EXPECT_EQ(error_of([] {
              parse_edge(base({{"REND_EDGE_ID", "edge-eu.1"}, {"REND_EDGE_REGION", "eu:west"}}), "/d");
            }),
            "");
}

TEST(Config, WorkerLimitsDefaultsExplicitValuesAndZeroRefused) {
  auto c = parse_worker(base(), "/tmp/rend-data").worker;
  EXPECT_EQ(c.max_pixels, 8192ULL * 8192);
  EXPECT_EQ(c.max_fps, 240u);
  c = parse_worker(base({{"REND_MEDIA_MAX_PIXELS", "8294400"}, {"REND_MEDIA_MAX_FPS", "120"}}), "/tmp/rend-data")
          .worker;
  EXPECT_EQ(c.max_pixels, 8294400u);
  EXPECT_EQ(c.max_fps, 120u);
  for (const char* var : {"REND_MEDIA_MAX_PIXELS", "REND_MEDIA_MAX_FPS"})
    EXPECT_NE(error_of([&] {
                parse_worker(base({{var, "0"}}), "/tmp/rend-data");
              }).find(var),
              std::string::npos)
        << var << "=0 accepted";
}

// Player routing used to be read when the API role was built, after the stores were
// opened and migrated; now it is part of the API's settings.
TEST(Config, PlayerRoutingIsPartOfTheApiSettings) {
  auto c = parse_api(base(), "/d");
  ASSERT_FALSE(c.routing.table.routes.empty());
  // Locally every route points at the local edge (REND_PLAYBACK_BASE_URL).
  for (const auto& [id, url] : c.routing.selection.base_url_overrides) EXPECT_EQ(url, "http://127.0.0.1:4100") << id;
  EXPECT_EQ(c.routing.headers.country, "x-vercel-ip-country");
  EXPECT_EQ(parse_api(base({{"REND_PLAYER_GEO_HEADERS", "cloudflare"}}), "/d").routing.headers.country, "cf-ipcountry");
  for (auto [var, value] :
       {std::pair{"REND_PLAYER_GEO_HEADERS", "akamai"}, std::pair{"REND_PLAYER_EDGE_BASE_URLS_MODE", "sometimes"},
        std::pair{"REND_PLAYER_ROUTES_FILE", "/nonexistent/routes.json"}}) {
    auto msg = error_of([&] { parse_api(base({{var, value}}), "/d"); });
    EXPECT_NE(msg.find(var == std::string("REND_PLAYER_ROUTES_FILE") ? "/nonexistent/routes.json" : var),
              std::string::npos)
        << var << ": " << msg;
  }
}

TEST(Config, BillingIsPartOfTheApiSettings) {
  auto c = parse_api(base({{"REND_BILLING_ENTITLEMENT_CACHE_SECS", "5"}}), "/d");
  EXPECT_EQ(c.billing.mode, rend::billing::Mode::local);
  EXPECT_EQ(c.billing.entitlement_cache_secs, 5u);
  EXPECT_NE(error_of([] {
              parse_api(base({{"REND_BILLING_MODE", "stripe"}}), "/d");
            }).find("REND_BILLING_MODE"),
            std::string::npos);
}

TEST(Config, TelemetryIngestLimitsArePartOfTheApiSettings) {
  auto c = parse_api(base({{"REND_INTERNAL_TELEMETRY_TOKEN", "tok"}}), "/d");
  EXPECT_EQ(c.api.telemetry.token, "tok");
  EXPECT_EQ(c.api.telemetry.max_batch_bytes, 8ull << 20);
  EXPECT_NE(error_of([] {
              parse_api(base({{"REND_TELEMETRY_MAX_BATCH_BYTES", "10"}}), "/d");
            }).find("REND_TELEMETRY_MAX_BATCH_BYTES"),
            std::string::npos);
}

TEST(Config, DevWiresItsRolesTogetherOverLoopback) {
  // As after load_local_secrets(): the edges send telemetry to the local API.
  auto dev = [](std::map<std::string, std::string> extra = {}) {
    extra.emplace("REND_INTERNAL_TELEMETRY_TOKEN", std::string(40, 'k'));
    return base(std::move(extra));
  };
  auto c = parse_dev(dev(), "/d", 3);
  ASSERT_EQ(c.edges.size(), 3u);
  EXPECT_EQ(c.edges[0].edge.base_url, "http://127.0.0.1:4100");
  EXPECT_EQ(c.edges[1].edge.base_url, "http://127.0.0.1:4101");
  EXPECT_EQ(c.edges[1].edge.edge_id, "edge-us-east");
  EXPECT_EQ(c.edges[2].edge.cache_dir, "/d/edge-cache-london");
  EXPECT_EQ(c.edges[2].telemetry.spool_dir, "/d/telemetry-spool-london");
  EXPECT_EQ(c.edges[0].edge.control_plane_url, "http://127.0.0.1:4000");
  EXPECT_EQ(c.api.api.edge_purge_urls.size(), 3u);
  EXPECT_EQ(c.worker.worker.edge_warm_urls.size(), 3u);
  EXPECT_EQ(c.api.routing.selection.base_url_overrides.size(), 2u);
  // A bad value in any role's settings stops `rend dev` as a whole.
  EXPECT_NE(error_of([&] {
              parse_dev(dev({{"REND_EDGE_TELEMETRY_BATCH_SIZE", "0"}}), "/d", 1);
            }).find("REND_EDGE_TELEMETRY_BATCH_SIZE"),
            std::string::npos);
  EXPECT_NE(error_of([&] {
              parse_dev(dev({{"REND_ENV", "production"}}), "/d", 1);
            }).find("REND_ENV"),
            std::string::npos);
}

// `rend dev`'s compiled-in ports and edges are the ones config/topology.json lists
// (scripts/check-topology checks scripts/stack and compose.yml against the same file).
TEST(Topology, DevMatchesTheTopologyFile) {
  std::ifstream in(REND_TOPOLOGY_JSON);
  ASSERT_TRUE(in) << REND_TOPOLOGY_JSON;
  std::stringstream text;
  text << in.rdbuf();
  auto doc = parse_json_strict(text.str());
  ASSERT_TRUE(doc && doc->is_object()) << "config/topology.json is not JSON";
  const auto& topo = doc->as_object();
  const std::string host(topo.at("host").as_string());
  const auto& roles = topo.at("roles").as_object();
  auto port_of = [&](const char* role) { return static_cast<int>(roles.at(role).at("port").as_int64()); };

  auto api = parse_api(base(), "/d").api;
  EXPECT_EQ(api.bind.host, host);
  EXPECT_EQ(api.bind.port, port_of("api")) << "REND_API_BIND_ADDR's default";
  EXPECT_EQ(api.playback_base_url, "http://" + host + ":" + std::to_string(port_of("edge")))
      << "REND_PLAYBACK_BASE_URL's default";
  EXPECT_EQ(parse_edge(base(), "/d").edge.bind.port, port_of("edge")) << "REND_EDGE_BIND_ADDR's default";

  // Every edge role with a `dev` entry is one of kDevEdges, in the same order.
  size_t i = 0;
  for (const auto& [name, value] : roles) {
    const auto& role = value.as_object();
    if (role.at("command").as_string() != "edge" || !role.contains("dev")) continue;
    ASSERT_LT(i, std::size(kDevEdges)) << "rend dev has no edge for " << name;
    const auto& dev = kDevEdges[i++];
    const auto* route = role.if_contains("route_id");
    EXPECT_EQ(dev.id, std::string(role.at("edge_id").as_string())) << name;
    EXPECT_EQ(dev.region, std::string(role.at("region").as_string())) << name;
    EXPECT_EQ(dev.bind_var, std::string(role.at("dev").at("bind_var").as_string())) << name;
    EXPECT_EQ(dev.default_bind, host + ":" + std::to_string(role.at("port").as_int64())) << name;
    EXPECT_EQ(dev.route_id ? std::string(dev.route_id) : "", route ? std::string(route->as_string()) : "") << name;
  }
  EXPECT_EQ(i, std::size(kDevEdges)) << "rend dev runs an edge config/topology.json does not list";

  // And the URLs `rend dev` wires its roles together with.
  std::map<std::string, std::string> vars{{"REND_PLAYBACK_SIGNING_SECRET", std::string(40, 's')},
                                          {"REND_INTERNAL_TELEMETRY_TOKEN", std::string(40, 'k')}};
  auto dev = parse_dev(Env(vars), "/d", static_cast<int>(std::size(kDevEdges)));
  const std::string api_url = "http://" + host + ":" + std::to_string(port_of("api"));
  EXPECT_EQ(dev.api.api.public_base_url, api_url);
  for (size_t e = 0; e < dev.edges.size(); ++e) {
    EXPECT_EQ(dev.edges[e].edge.control_plane_url, api_url);
    EXPECT_EQ(dev.edges[e].edge.base_url, "http://" + std::string(kDevEdges[e].default_bind));
  }
}

TEST(Config, ImportsAndSigningKeyRotation) {
  auto w = parse_worker(base(), "/d");
  EXPECT_EQ(w.worker.import_timeout_secs, 600u);
  EXPECT_EQ(w.worker.max_source_bytes, 20ull << 30);
  EXPECT_FALSE(w.worker.outbound.allow_private);
  w = parse_worker(base({{"REND_MAX_UPLOAD_BYTES", "1000"}, {"REND_ALLOW_PRIVATE_OUTBOUND_URLS", "true"}}), "/d");
  EXPECT_EQ(w.worker.max_source_bytes, 1000u) << "imports obey the upload limit";
  EXPECT_TRUE(w.worker.outbound.allow_private);
  EXPECT_NE(error_of([] {
              parse_worker(base({{"REND_IMPORT_TIMEOUT_SECS", "0"}}), "/d");
            }).find("REND_IMPORT_TIMEOUT_SECS"),
            std::string::npos);
  // Every role that verifies tokens gets the previous keys.
  const std::string old(40, 'o');
  auto vars = std::map<std::string, std::string>{{"REND_PLAYBACK_PREVIOUS_SIGNING_KEYS", "old=" + old}};
  EXPECT_EQ(parse_edge(base(vars), "/d").edge.common.previous_signing_keys.size(), 1u);
  EXPECT_EQ(parse_api(base(vars), "/d").api.common.previous_signing_keys.size(), 1u);
  auto err = error_of([&] { parse_edge(base({{"REND_PLAYBACK_PREVIOUS_SIGNING_KEYS", "dev=" + old}}), "/d"); });
  EXPECT_NE(err.find("REND_PLAYBACK_PREVIOUS_SIGNING_KEYS"), std::string::npos) << err;
  EXPECT_EQ(err.find(old), std::string::npos) << "never the secret";
}
