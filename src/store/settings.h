#pragma once
// Which store backends a role uses and how to reach them (SPEC §3), parsed once.
#include <string>

#include "core/config.h"

namespace rend::store {

// S3-compatible object storage; used when endpoint and bucket are both set.
struct S3Settings {
  std::string endpoint;           // S3_ENDPOINT
  std::string region;             // S3_REGION, default us-east-1
  std::string bucket;             // S3_BUCKET
  std::string access_key_id;      // AWS_ACCESS_KEY_ID
  std::string secret_access_key;  // AWS_SECRET_ACCESS_KEY
  bool path_style = true;         // S3_FORCE_PATH_STYLE (false: virtual-hosted, as on AWS)
  std::string health_url;         // OBJECT_STORE_HEALTH_URL
  bool enabled() const { return !endpoint.empty() && !bucket.empty(); }
};

// ClickHouse over HTTP; used when url is set.
struct ClickHouseSettings {
  std::string url;       // CLICKHOUSE_URL
  std::string database;  // CLICKHOUSE_DATABASE, default rend
  std::string user;      // CLICKHOUSE_USER, default default
  std::string password;  // CLICKHOUSE_PASSWORD
  bool enabled() const { return !url.empty(); }
};

struct Settings {
  bool production = false;       // REND_ENV=production
  std::string data_dir;          // --data-dir
  std::string database_url;      // DATABASE_URL, default sqlite://{data_dir}/rend.db
  std::string object_store_dir;  // REND_OBJECT_STORE_DIR, default {data_dir}/objects
  std::string redis_url;         // REND_REDIS_URL; unset: in-process coordination
  S3Settings s3;
  ClickHouseSettings clickhouse;
};

// Throws core::ConfigError naming the variable. Pure: nothing is opened or created.
Settings parse(const core::Env& env, const core::Deployment& deployment);

// SPEC §3: production never runs on an embedded backend. Each role names the
// backends it uses (an edge host has no database, for instance).
struct Needs {
  bool database = false, objects = false, redis = false, clickhouse = false;
};
void require_production_backends(const Settings& s, Needs needs);

}  // namespace rend::store
