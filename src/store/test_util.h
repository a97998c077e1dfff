#pragma once
// Shared by the store tests: every test gets its own scratch directory.
#include <cstdlib>
#include <filesystem>
#include <string>

#include <gtest/gtest.h>

#include "core/crypto.h"

namespace rend::store::testing {

class TempDir {
 public:
  TempDir()
      : path_(std::filesystem::temp_directory_path() / ("rend-store-test-" + core::hex_encode(core::random_bytes(8)))) {
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

// The URL of a real service for a backend's contract run (REND_TEST_POSTGRES_URL,
// REND_TEST_REDIS_URL, REND_TEST_S3_ENDPOINT, REND_TEST_CLICKHOUSE_URL), started by
// `scripts/stack up --services-only` in `make test`. Empty when unset: the caller
// then GTEST_SKIP()s, except under REND_REQUIRE_SERVICES=1 (make test, CI), where a
// missing service is a failure, never a quiet skip.
inline std::string service_env(const char* var) {
  const char* v = std::getenv(var);
  if (v && *v) return v;
  const char* req = std::getenv("REND_REQUIRE_SERVICES");
  if (req && std::string(req) == "1") ADD_FAILURE() << var << " is not set but REND_REQUIRE_SERVICES=1";
  return {};
}

// Readable test names for value-parameterized suites whose parameter has a `name`.
struct ParamName {
  template <class P>
  std::string operator()(const ::testing::TestParamInfo<P>& info) const {
    return info.param.name;
  }
};

}  // namespace rend::store::testing
