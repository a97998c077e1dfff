#pragma once
// AnalyticsStore on ClickHouse (production; CLICKHOUSE_URL), spoken to over its HTTP
// interface with libcurl. Works with ClickHouse 18.16 (Debian) and current releases.
#include <chrono>
#include <memory>
#include <string>

#include "core/clock.h"
#include "store/analytics.h"

namespace rend::store {

struct ClickHouseConfig {
  std::string url;                // CLICKHOUSE_URL, e.g. http://127.0.0.1:8123 (no credentials in it)
  std::string database = "rend";  // [A-Za-z_][A-Za-z0-9_]*
  // Sent as X-ClickHouse-User / X-ClickHouse-Key headers, never in the URL, and never
  // logged or put into an exception message.
  std::string user = "default", password;
  // Per request, connect included. Summaries over long ranges are the slow case.
  std::chrono::milliseconds timeout{15000};
};

// Throws std::invalid_argument for a malformed URL (or one carrying credentials) or
// database name. Does not connect: call ensure_schema() at startup.
// `clock` stamps each insert's ingested_at_ms (nullptr: the system clock). With several
// API processes their clocks must agree to well within the billing sync lag
// (docs/billing-usage.md).
std::unique_ptr<AnalyticsStore> open_clickhouse_analytics_store(ClickHouseConfig config,
                                                                std::shared_ptr<const core::Clock> clock = nullptr);

}  // namespace rend::store
