# Postgres metadata store (DATABASE_URL=postgres://...). include()d from
# src/store/CMakeLists.txt, so variables set here land in that scope.
#
# libpq directly (through the small RAII wrapper in pg.h) rather than libpqxx: the
# Debian libpqxx (6.4) predates C++20 and fights it; we need a dozen calls of libpq.
find_package(PostgreSQL REQUIRED)

# Migrations are compiled in like the SQLite ones (cmake/migrations.cmake).
cmake_path(SET rend_pg_migrations_dir NORMALIZE "${CMAKE_CURRENT_LIST_DIR}/../../../migrations/postgres")
rend_migration_entries(${rend_pg_migrations_dir} REND_POSTGRES_MIGRATION_ENTRIES)
configure_file(${CMAKE_CURRENT_LIST_DIR}/migrations.cpp.in ${CMAKE_CURRENT_BINARY_DIR}/postgres_migrations.cpp @ONLY)

rend_library(rend_store_postgres
  SOURCES
    ${CMAKE_CURRENT_LIST_DIR}/pg.cpp
    ${CMAKE_CURRENT_LIST_DIR}/metadata_store.cpp
    ${CMAKE_CURRENT_BINARY_DIR}/postgres_migrations.cpp
  DEPS rend_store_base PostgreSQL::PostgreSQL)

list(APPEND REND_STORE_BACKENDS rend_store_postgres)
list(APPEND REND_STORE_BACKEND_TESTS
  ${CMAKE_CURRENT_LIST_DIR}/test_support.cpp
  ${CMAKE_CURRENT_LIST_DIR}/pg_test.cpp
  ${CMAKE_CURRENT_LIST_DIR}/metadata_store_test.cpp)
