#pragma once
// Builds the store backends from configuration. Callers depend only on the
// interfaces; which implementation runs is decided here.
#include <memory>
#include <string>

#include "store/analytics.h"
#include "store/billing_state.h"
#include "store/coord.h"
#include "store/metadata.h"
#include "store/objects.h"
#include "store/settings.h"

namespace rend::store {

// DATABASE_URL -> MetadataStore. Supported: postgres:// and postgresql:// URLs, and sqlite://PATH (relative, e.g.
// sqlite://.rend/dev/rend.db, or absolute, sqlite:///var/lib/rend/rend.db); missing
// parent directories are created. Throws std::invalid_argument for any other scheme.
// The returned store is not migrated: call migrate() at startup.
std::unique_ptr<MetadataStore> open_metadata_store(const std::string& database_url);

// The usage sync's state on the same database as the metadata store (same URL rules).
// Its tables come from the metadata migrations: migrate the metadata store first.
std::unique_ptr<BillingStateStore> open_billing_state_store(const std::string& database_url);

// A directory-backed ObjectStore rooted at `dir` (created if missing).
std::unique_ptr<ObjectStore> open_fs_object_store(const std::string& dir);

// In-process Coordinator (notify/wait and rate limits within this process only).
std::unique_ptr<Coordinator> make_memory_coordinator();

// Backends chosen by configuration (SPEC §3): S3_ENDPOINT + S3_BUCKET → S3, else the
// directory; REND_REDIS_URL → Redis, else in-process; CLICKHOUSE_URL → ClickHouse,
// else a SQLite table. None of them is migrated or schema-initialised here.
std::unique_ptr<ObjectStore> open_object_store(const Settings& cfg);
std::unique_ptr<Coordinator> open_coordinator(const Settings& cfg);
std::unique_ptr<AnalyticsStore> open_analytics_store(const Settings& cfg);
// "metadata=postgres objects=s3 coordination=redis analytics=clickhouse", for logs.
std::string describe_backends(const Settings& cfg);

}  // namespace rend::store
