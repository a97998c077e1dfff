#pragma once
// Shared by the store tests: every test gets its own scratch directory.
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

// Readable test names for value-parameterized suites whose parameter has a `name`.
struct ParamName {
  template <class P>
  std::string operator()(const ::testing::TestParamInfo<P>& info) const {
    return info.param.name;
  }
};

}  // namespace rend::store::testing
