#include "store/factory.h"

#include <filesystem>
#include <stdexcept>

#include "store/clickhouse/analytics_store.h"
#include "store/fs/object_store.h"
#include "store/memory/coordinator.h"
#include "store/postgres/billing_state.h"
#include "store/postgres/metadata_store.h"
#include "store/redis/coordinator.h"
#include "store/s3/object_store.h"
#include "store/sqlite/analytics_store.h"
#include "store/sqlite/billing_state.h"
#include "store/sqlite/metadata_store.h"

namespace rend::store {

namespace {

// Which database DATABASE_URL names: a SQLite file path (parent directories created),
// or a Postgres URL. Only the scheme is ever echoed: the rest may carry a password.
struct DatabaseUrl {
  std::string sqlite_path;  // empty: postgres
};

DatabaseUrl parse_database_url(const std::string& database_url) {
  constexpr std::string_view kSqlite = "sqlite://";
  const auto scheme_end = database_url.find("://");
  const std::string scheme = scheme_end == std::string::npos ? "" : database_url.substr(0, scheme_end);

  if (database_url.starts_with(kSqlite)) {
    const std::filesystem::path path = database_url.substr(kSqlite.size());
    if (path.empty())
      throw std::invalid_argument("DATABASE_URL: sqlite:// needs a file path, e.g. sqlite://.rend/dev/rend.db");
    if (path.has_parent_path()) std::filesystem::create_directories(path.parent_path());
    return {path.string()};
  }
  if (scheme == "postgres" || scheme == "postgresql") return {};
  if (scheme.empty())
    throw std::invalid_argument("DATABASE_URL: expected a URL like sqlite://PATH or postgres://HOST/DB");
  throw std::invalid_argument("DATABASE_URL: unsupported scheme '" + scheme +
                              "'; expected sqlite://PATH or postgres://HOST/DB");
}

}  // namespace

std::unique_ptr<MetadataStore> open_metadata_store(const std::string& database_url) {
  auto db = parse_database_url(database_url);
  if (!db.sqlite_path.empty()) return std::make_unique<sqlite::SqliteMetadataStore>(db.sqlite_path);
  return postgres::open_postgres_metadata_store(database_url);
}

std::unique_ptr<BillingStateStore> open_billing_state_store(const std::string& database_url) {
  auto db = parse_database_url(database_url);
  if (!db.sqlite_path.empty()) return sqlite::open_sqlite_billing_state_store(db.sqlite_path);
  return postgres::open_postgres_billing_state_store(database_url);
}

std::unique_ptr<ObjectStore> open_fs_object_store(const std::string& dir) {
  return std::make_unique<fs::FsObjectStore>(dir);
}

std::unique_ptr<Coordinator> make_memory_coordinator() { return std::make_unique<memory::MemoryCoordinator>(); }

std::unique_ptr<ObjectStore> open_object_store(const Settings& cfg) {
  if (!cfg.s3.enabled()) return open_fs_object_store(cfg.object_store_dir);
  s3::S3Config c;
  c.endpoint = cfg.s3.endpoint;
  c.region = cfg.s3.region;
  c.bucket = cfg.s3.bucket;
  c.access_key_id = cfg.s3.access_key_id;
  c.secret_access_key = cfg.s3.secret_access_key;
  c.path_style = cfg.s3.path_style;
  c.health_url = cfg.s3.health_url;
  return s3::open_s3_object_store(std::move(c));
}

std::unique_ptr<Coordinator> open_coordinator(const Settings& cfg) {
  if (cfg.redis_url.empty()) return make_memory_coordinator();
  return redis::open_redis_coordinator(cfg.redis_url);
}

std::unique_ptr<AnalyticsStore> open_analytics_store(const Settings& cfg) {
  if (cfg.clickhouse.enabled()) {
    ClickHouseConfig c;
    c.url = cfg.clickhouse.url;
    c.database = cfg.clickhouse.database;
    c.user = cfg.clickhouse.user;
    c.password = cfg.clickhouse.password;
    return open_clickhouse_analytics_store(std::move(c));
  }
  // Embedded: the analytics table lives in the metadata SQLite file, or beside it
  // in the data dir when metadata is on Postgres (local mode only).
  constexpr std::string_view kSqlite = "sqlite://";
  std::string path =
      cfg.database_url.starts_with(kSqlite) ? cfg.database_url.substr(kSqlite.size()) : cfg.data_dir + "/analytics.db";
  if (auto parent = std::filesystem::path(path).parent_path(); !parent.empty())
    std::filesystem::create_directories(parent);
  return open_sqlite_analytics_store(path);
}

std::string describe_backends(const Settings& cfg) {
  std::string db = cfg.database_url.substr(0, cfg.database_url.find("://"));
  return "metadata=" + db + " objects=" + (cfg.s3.enabled() ? "s3" : "dir") +
         " coordination=" + (cfg.redis_url.empty() ? "in-process" : "redis") +
         " analytics=" + (cfg.clickhouse.enabled() ? "clickhouse" : "sqlite");
}

}  // namespace rend::store
