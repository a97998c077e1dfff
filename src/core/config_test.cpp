#include "core/config.h"

#include <gtest/gtest.h>

using namespace rend::core;

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
  auto c = ApiConfig::from_env(base(), "/d");
  EXPECT_EQ(c.common.database_url, "sqlite:///d/rend.db");
  EXPECT_EQ(c.common.object_store_dir, "/d/objects");
  EXPECT_EQ(c.bind.port, 4000);
  EXPECT_EQ(c.public_base_url, "http://127.0.0.1:4000");
  EXPECT_EQ(c.playback_base_url, "http://127.0.0.1:4100");
  auto e = EdgeConfig::from_env(base(), "/d");
  EXPECT_EQ(e.bind.port, 4100);
  EXPECT_EQ(e.cache_dir, "/d/edge-cache");
  auto w = WorkerConfig::from_env(base(), "/d");
  EXPECT_EQ(w.work_dir, "/d/work");
  EXPECT_EQ(w.poll_interval_secs, 2u);
}

TEST(Config, HttpServerLimits) {
  auto c = ApiConfig::from_env(base(), "/d");
  EXPECT_EQ(c.common.http_max_connections, 10000u);
  EXPECT_EQ(c.common.http_min_body_bytes_per_sec, 1024u);
  c = ApiConfig::from_env(base({{"REND_HTTP_MAX_CONNECTIONS", "50"}, {"REND_HTTP_MIN_BODY_BYTES_PER_SEC", "0"}}), "/d");
  EXPECT_EQ(c.common.http_max_connections, 50u);
  EXPECT_EQ(c.common.http_min_body_bytes_per_sec, 0u);
  EXPECT_NE(error_of([] { ApiConfig::from_env(base({{"REND_HTTP_MAX_CONNECTIONS", "0"}}), "/d"); })
                .find("REND_HTTP_MAX_CONNECTIONS"),
            std::string::npos);
  EXPECT_NE(error_of([] { EdgeConfig::from_env(base({{"REND_HTTP_MIN_BODY_BYTES_PER_SEC", "-1"}}), "/d"); })
                .find("REND_HTTP_MIN_BODY_BYTES_PER_SEC"),
            std::string::npos);
}

TEST(Config, ErrorsNameTheVariable) {
  EXPECT_NE(error_of([] { ApiConfig::from_env(Env(), "/d"); }).find("REND_PLAYBACK_SIGNING_SECRET"), std::string::npos);
  EXPECT_NE(error_of([] { ApiConfig::from_env(base({{"REND_API_BIND_ADDR", "x"}}), "/d"); }).find("REND_API_BIND_ADDR"),
            std::string::npos);
  EXPECT_NE(error_of([] { ApiConfig::from_env(base({{"REND_MAX_UPLOAD_BYTES", "0"}}), "/d"); })
                .find("REND_MAX_UPLOAD_BYTES"),
            std::string::npos);
  EXPECT_NE(error_of([] { ApiConfig::from_env(base({{"REND_PLAYBACK_BASE_URL", "ftp://x"}}), "/d"); })
                .find("REND_PLAYBACK_BASE_URL"),
            std::string::npos);
  EXPECT_NE(error_of([] { WorkerConfig::from_env(base({{"REND_MEDIA_JOB_LOCK_TIMEOUT_SECS", "1"}}), "/d"); })
                .find("REND_MEDIA_JOB_LOCK_TIMEOUT_SECS"),
            std::string::npos);
}

TEST(Config, ProductionRefusesEmbeddedBackends) {
  const std::string token(40, 't');
  auto msg = error_of([] { ApiConfig::from_env(base({{"REND_ENV", "production"}}), "/d"); });
  EXPECT_NE(msg.find("REND_EDGE_INTERNAL_TOKEN"), std::string::npos) << msg;
  msg = error_of([&] {
    ApiConfig::from_env(base({{"REND_ENV", "production"}, {"REND_EDGE_INTERNAL_TOKEN", token}}), "/d");
  });
  EXPECT_NE(msg.find("DATABASE_URL"), std::string::npos) << msg;
  msg = error_of([&] {
    ApiConfig::from_env(base({{"REND_ENV", "production"}, {"REND_EDGE_INTERNAL_TOKEN", token},
                              {"DATABASE_URL", "postgres://db/rend"}}),
                        "/d");
  });
  EXPECT_NE(msg.find("S3_ENDPOINT"), std::string::npos) << msg;
  EXPECT_NE(error_of([] { ApiConfig::from_env(base({{"REND_ENV", "staging"}}), "/d"); }).find("REND_ENV"),
            std::string::npos);
  std::map<std::string, std::string> prod{{"REND_ENV", "production"},
                                          {"DATABASE_URL", "postgres://db/rend"},
                                          {"S3_ENDPOINT", "https://s3.example.com"},
                                          {"S3_BUCKET", "rend"},
                                          {"REND_EDGE_INTERNAL_TOKEN", std::string(40, 't')}};
  msg = error_of([&] { ApiConfig::from_env(base(prod), "/d"); });
  EXPECT_NE(msg.find("REND_REDIS_URL"), std::string::npos) << msg;
  prod["REND_REDIS_URL"] = "redis://cache:6379";
  msg = error_of([&] { ApiConfig::from_env(base(prod), "/d"); });
  EXPECT_NE(msg.find("CLICKHOUSE_URL"), std::string::npos) << msg;
  prod["CLICKHOUSE_URL"] = "https://ch.example.com:8443";
  msg = error_of([&] { ApiConfig::from_env(base(prod), "/d"); });
  EXPECT_NE(msg.find("REND_INTERNAL_TELEMETRY_TOKEN"), std::string::npos) << msg;
  prod["REND_INTERNAL_TELEMETRY_TOKEN"] = std::string(40, 'k');
  // The edge registry is pinned in production: no edge id, region or URL is taken
  // on the word of whoever holds the shared internal token.
  msg = error_of([&] { ApiConfig::from_env(base(prod), "/d"); });
  EXPECT_NE(msg.find("REND_EXPECTED_EDGES"), std::string::npos) << msg;
  prod["REND_EXPECTED_EDGES"] = "edge-1=eu=https://e1.example.com";
  EXPECT_EQ(error_of([&] { ApiConfig::from_env(base(prod), "/d"); }), "");
}

TEST(Config, EdgeRegistrySizeBound) {
  EXPECT_EQ(ApiConfig::from_env(base(), "/d").edge_registry_max_edges, 256u);
  EXPECT_EQ(ApiConfig::from_env(base({{"REND_EDGE_REGISTRY_MAX_EDGES", "3"}}), "/d").edge_registry_max_edges, 3u);
  EXPECT_NE(error_of([] { ApiConfig::from_env(base({{"REND_EDGE_REGISTRY_MAX_EDGES", "0"}}), "/d"); })
                .find("REND_EDGE_REGISTRY_MAX_EDGES"),
            std::string::npos);
}

TEST(Config, AnEdgeHostNeedsOnlyObjectStorage) {
  std::map<std::string, std::string> edge{{"REND_ENV", "production"},
                                          {"S3_ENDPOINT", "https://s3.example.com"},
                                          {"S3_BUCKET", "rend"},
                                          {"REND_EDGE_INTERNAL_TOKEN", std::string(40, 't')},
                                          {"REND_EDGE_INTERNAL_BIND_ADDR", "10.0.0.5:4190"}};
  // Telemetry is on by default, so production needs somewhere to send it...
  auto msg = error_of([&] { EdgeConfig::from_env(base(edge), "/d"); });
  EXPECT_NE(msg.find("REND_EDGE_TELEMETRY_INGEST_URL"), std::string::npos) << msg;
  edge["REND_CONTROL_PLANE_URL"] = "https://api.example.com";
  msg = error_of([&] { EdgeConfig::from_env(base(edge), "/d"); });
  EXPECT_NE(msg.find("REND_INTERNAL_TELEMETRY_TOKEN"), std::string::npos) << msg;
  edge["REND_INTERNAL_TELEMETRY_TOKEN"] = std::string(40, 'k');
  EXPECT_EQ(error_of([&] { EdgeConfig::from_env(base(edge), "/d"); }), "");
  auto c = EdgeConfig::from_env(base(edge), "/d");
  EXPECT_EQ(c.telemetry.ingest_url, "https://api.example.com/internal/telemetry");
  // ...or telemetry switched off explicitly.
  edge.erase("REND_CONTROL_PLANE_URL");
  edge["REND_EDGE_TELEMETRY_ENABLED"] = "false";
  EXPECT_EQ(error_of([&] { EdgeConfig::from_env(base(edge), "/d"); }), "");
  edge.erase("S3_ENDPOINT");
  edge.erase("S3_BUCKET");
  EXPECT_NE(error_of([&] { EdgeConfig::from_env(base(edge), "/d"); }).find("S3_ENDPOINT"), std::string::npos);
}

TEST(Config, AProductionEdgeServesMetricsAndControlOnlyOnItsInternalListener) {
  std::map<std::string, std::string> edge{{"REND_ENV", "production"},
                                          {"S3_ENDPOINT", "https://s3.example.com"},
                                          {"S3_BUCKET", "rend"},
                                          {"REND_EDGE_INTERNAL_TOKEN", std::string(40, 't')},
                                          {"REND_EDGE_TELEMETRY_ENABLED", "false"}};
  auto msg = error_of([&] { EdgeConfig::from_env(base(edge), "/d"); });
  EXPECT_NE(msg.find("REND_EDGE_INTERNAL_BIND_ADDR"), std::string::npos) << msg;
  edge["REND_EDGE_INTERNAL_BIND_ADDR"] = "10.0.0.5:4190";
  EXPECT_EQ(error_of([&] { EdgeConfig::from_env(base(edge), "/d"); }), "");
  edge.erase("REND_ENV");
  edge.erase("REND_EDGE_INTERNAL_BIND_ADDR");
  EXPECT_EQ(error_of([&] { EdgeConfig::from_env(base(edge), "/d"); }), "") << "optional outside production";
}

TEST(Config, RealBackendsAreSelectedByTheirVariables) {
  auto c = ApiConfig::from_env(base({{"S3_ENDPOINT", "http://127.0.0.1:9100"}, {"S3_BUCKET", "rend"},
                                     {"REND_REDIS_URL", "redis://127.0.0.1:6379"},
                                     {"CLICKHOUSE_URL", "http://127.0.0.1:8123"}}),
                               "/d");
  EXPECT_TRUE(c.common.s3.enabled());
  EXPECT_EQ(c.common.s3.region, "us-east-1");
  EXPECT_TRUE(c.common.s3.path_style);
  EXPECT_EQ(c.common.redis_url, "redis://127.0.0.1:6379");
  EXPECT_TRUE(c.common.clickhouse.enabled());
  EXPECT_EQ(c.common.clickhouse.database, "rend");
  EXPECT_NE(error_of([] { ApiConfig::from_env(base({{"S3_BUCKET", "rend"}}), "/d"); }).find("S3_ENDPOINT"),
            std::string::npos);
  EXPECT_NE(error_of([] { ApiConfig::from_env(base({{"REND_REDIS_URL", "localhost:6379"}}), "/d"); })
                .find("REND_REDIS_URL"),
            std::string::npos);
}

TEST(Config, EdgeCacheAndTelemetrySettings) {
  auto c = EdgeConfig::from_env(base({}), "/d");
  EXPECT_FALSE(c.internal_bind);
  EXPECT_EQ(c.max_in_flight_fills, 64u);
  EXPECT_EQ(c.cache_max_bytes, 10ull << 30);
  EXPECT_EQ(c.cache_min_free_bytes, 1ull << 30);
  EXPECT_EQ(c.warm_max_artifacts, 16u);
  EXPECT_TRUE(c.telemetry.enabled);
  EXPECT_EQ(c.telemetry.ingest_url, "");  // no control plane: nowhere to send (local edge)
  EXPECT_EQ(c.telemetry.flush_interval_ms, 1000u);
  EXPECT_EQ(c.telemetry.spool_dir, "/d/telemetry-spool");
  c = EdgeConfig::from_env(base({{"REND_EDGE_INTERNAL_BIND_ADDR", "10.0.0.5:4190"},
                                 {"REND_EDGE_TELEMETRY_FLUSH_INTERVAL_SECS", "0.25"},
                                 {"REND_EDGE_TELEMETRY_INGEST_URL", "http://127.0.0.1:4000/internal/telemetry"},
                                 {"REND_INTERNAL_TELEMETRY_TOKEN", "t"}}),
                           "/d");
  ASSERT_TRUE(c.internal_bind);
  EXPECT_EQ(c.internal_bind->port, 4190);
  EXPECT_EQ(c.telemetry.flush_interval_ms, 250u);
  EXPECT_NE(error_of([] { EdgeConfig::from_env(base({{"REND_EDGE_MAX_IN_FLIGHT_FILLS", "0"}}), "/d"); })
                .find("REND_EDGE_MAX_IN_FLIGHT_FILLS"),
            std::string::npos);
  EXPECT_NE(error_of([] { EdgeConfig::from_env(base({{"REND_EDGE_TELEMETRY_FLUSH_INTERVAL_SECS", "soon"}}), "/d"); })
                .find("REND_EDGE_TELEMETRY_FLUSH_INTERVAL_SECS"),
            std::string::npos);
  EXPECT_NE(error_of([] {
              EdgeConfig::from_env(base({{"REND_EDGE_TELEMETRY_INGEST_URL", "http://127.0.0.1:4000/internal/telemetry"}}),
                                   "/d");
            }).find("REND_INTERNAL_TELEMETRY_TOKEN"),
            std::string::npos);
}

TEST(Config, EdgeIdentityFitsTheTelemetryWireFormat) {
  EXPECT_NE(error_of([] { EdgeConfig::from_env(base({{"REND_EDGE_ID", "edge one"}}), "/d"); }).find("REND_EDGE_ID"),
            std::string::npos);
  EXPECT_NE(error_of([] { EdgeConfig::from_env(base({{"REND_EDGE_REGION", "eu/west"}}), "/d"); }).find("REND_EDGE_REGION"),
            std::string::npos);
  EXPECT_EQ(error_of([] { EdgeConfig::from_env(base({{"REND_EDGE_ID", "edge-eu.1"}, {"REND_EDGE_REGION", "eu:west"}}), "/d"); }), "");
}
