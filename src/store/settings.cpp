#include "store/settings.h"

namespace rend::store {

Settings parse(const core::Env& env, const core::Deployment& deployment) {
  Settings c;
  c.production = deployment.production;
  c.data_dir = deployment.data_dir;
  const auto& data_dir = deployment.data_dir;
  c.database_url = env.get_or("DATABASE_URL", "sqlite://" + data_dir + "/rend.db");
  c.object_store_dir = env.get_or("REND_OBJECT_STORE_DIR", data_dir + "/objects");
  c.redis_url = env.get_or("REND_REDIS_URL", "");
  if (!c.redis_url.empty() && c.redis_url.rfind("redis://", 0) != 0)
    throw core::ConfigError("REND_REDIS_URL must start with redis://");
  c.s3.endpoint = env.get_or("S3_ENDPOINT", "");
  c.s3.region = env.get_or("S3_REGION", "us-east-1");
  c.s3.bucket = env.get_or("S3_BUCKET", "");
  c.s3.access_key_id = env.get_or("AWS_ACCESS_KEY_ID", "");
  c.s3.secret_access_key = env.get_or("AWS_SECRET_ACCESS_KEY", "");
  c.s3.path_style = env.get_bool("S3_FORCE_PATH_STYLE", true);
  c.s3.health_url = env.get_or("OBJECT_STORE_HEALTH_URL", "");
  if (!c.s3.endpoint.empty() != !c.s3.bucket.empty())
    throw core::ConfigError(c.s3.endpoint.empty() ? "S3_ENDPOINT must be set when S3_BUCKET is"
                                                  : "S3_BUCKET must be set when S3_ENDPOINT is");
  if (c.s3.enabled()) core::check_base_url(c.s3.endpoint, "S3_ENDPOINT");
  c.clickhouse.url = env.get_or("CLICKHOUSE_URL", "");
  c.clickhouse.database = env.get_or("CLICKHOUSE_DATABASE", "rend");
  c.clickhouse.user = env.get_or("CLICKHOUSE_USER", "default");
  c.clickhouse.password = env.get_or("CLICKHOUSE_PASSWORD", "");
  if (c.clickhouse.enabled()) core::check_base_url(c.clickhouse.url, "CLICKHOUSE_URL");
  return c;
}

void require_production_backends(const Settings& c, Needs n) {
  if (!c.production) return;
  if (n.database && c.database_url.rfind("sqlite:", 0) == 0)
    throw core::ConfigError(
        "DATABASE_URL must point at Postgres when REND_ENV=production (got an embedded sqlite:// URL)");
  if (n.objects && !c.s3.enabled())
    throw core::ConfigError(
        "S3_ENDPOINT and S3_BUCKET are required when REND_ENV=production (the directory object store is for local use)");
  if (n.redis && c.redis_url.empty())
    throw core::ConfigError(
        "REND_REDIS_URL is required when REND_ENV=production (in-process coordination is for local use)");
  if (n.clickhouse && !c.clickhouse.enabled())
    throw core::ConfigError(
        "CLICKHOUSE_URL is required when REND_ENV=production (the SQLite analytics table is for local use)");
}

}  // namespace rend::store
