#pragma once
#include <span>
#include <string_view>

namespace rend::store::sqlite {

struct Migration {
  int version;
  std::string_view name;  // file name without .sql, e.g. "0001_init"
  std::string_view sql;
};

// Every migrations/sqlite/*.sql file, in ascending version order. Generated at
// configure time (see src/store/CMakeLists.txt).
std::span<const Migration> migrations();

}  // namespace rend::store::sqlite
