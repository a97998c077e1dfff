#pragma once
// Minimal ClickHouse HTTP client: one POST per call, a fresh curl handle each time
// (so it is thread-safe without a lock), credentials in headers. Used by the
// analytics store and by its tests (to create and drop scratch databases).
#include <chrono>
#include <string>
#include <string_view>

#include "store/clickhouse/analytics_store.h"

namespace rend::store::clickhouse {

class Client {
 public:
  // Throws std::invalid_argument when the URL is not http(s)://host[:port][/path] or
  // carries user:password@ (credentials belong in ClickHouseConfig::user/password).
  explicit Client(const ClickHouseConfig& config);

  // Runs one statement (sent as the POST body, so it never lands in access logs) and
  // returns the response body. Throws StoreError on a transport error or non-200.
  std::string query(std::string_view sql) const { return query(sql, timeout_); }
  std::string query(std::string_view sql, std::chrono::milliseconds timeout) const;

  // `statement` is e.g. "INSERT INTO db.t FORMAT JSONEachRow"; `data` is its rows.
  void insert(std::string_view statement, std::string_view data) const;

 private:
  std::string post(std::string_view query_param, std::string_view body, std::chrono::milliseconds timeout,
                   std::string_view what) const;

  std::string base_url_;  // without a trailing slash
  std::string user_, password_;
  std::chrono::milliseconds timeout_;
};

}  // namespace rend::store::clickhouse
