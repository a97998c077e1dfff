#pragma once
#include <span>
#include <string_view>

namespace rend::store::postgres {

struct Migration {
  int version;
  std::string_view name;  // file name without .sql, e.g. "0001_init"
  std::string_view sql;   // may hold several statements
};

// Every migrations/postgres/*.sql file, in ascending version order. Generated at
// configure time (see backend.cmake).
std::span<const Migration> migrations();

}  // namespace rend::store::postgres
