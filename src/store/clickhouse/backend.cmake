# ClickHouse analytics backend (CLICKHOUSE_URL), over ClickHouse's HTTP interface.
# include()d from src/store/CMakeLists.txt, so relative paths are resolved against
# this file's folder explicitly.

# clickhouse/schema.sql is compiled in, like the SQLite migrations: a deployed binary
# creates its own tables and never depends on files next to it. Editing the file
# re-runs the configure step.
cmake_path(SET rend_ch_schema NORMALIZE "${CMAKE_CURRENT_LIST_DIR}/../../../clickhouse/schema.sql")
set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS ${rend_ch_schema})
file(READ ${rend_ch_schema} REND_CLICKHOUSE_SCHEMA_SQL)
if(REND_CLICKHOUSE_SCHEMA_SQL MATCHES "\\)rend_sql\"")
  message(FATAL_ERROR "${rend_ch_schema} contains the raw-string delimiter )rend_sql\"")
endif()
configure_file(${CMAKE_CURRENT_LIST_DIR}/schema.cpp.in ${CMAKE_CURRENT_BINARY_DIR}/clickhouse_schema.cpp @ONLY)

set(rend_backend_dir ${CMAKE_CURRENT_LIST_DIR})
rend_store_backend(rend_store_clickhouse
  SOURCES ${rend_backend_dir}/client.cpp ${rend_backend_dir}/schema.cpp ${rend_backend_dir}/analytics_store.cpp ${CMAKE_CURRENT_BINARY_DIR}/clickhouse_schema.cpp
  DEPS CURL::libcurl
  TESTS ${rend_backend_dir}/schema_test.cpp)
