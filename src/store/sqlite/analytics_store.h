#pragma once
// AnalyticsStore on the embedded SQLite database (the default when no ClickHouse is
// configured). It lives in the same file as the metadata store, so one backup and
// one migration history (schema_migrations) cover both.
#include <memory>
#include <string>

#include "core/clock.h"
#include "store/analytics.h"

namespace rend::store {

// Opens its own connection (WAL) to `sqlite_path`, the metadata store's file.
// The returned store is not migrated: call ensure_schema() at startup.
// `clock` stamps each event's ingest time (nullptr: the system clock; tests pass a
// FakeClock to place inserts in known billing windows).
std::unique_ptr<AnalyticsStore> open_sqlite_analytics_store(const std::string& sqlite_path,
                                                            std::shared_ptr<const core::Clock> clock = nullptr);

}  // namespace rend::store
