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

set(rend_backend_dir ${CMAKE_CURRENT_LIST_DIR})
rend_store_backend(rend_store_postgres
  SOURCES ${rend_backend_dir}/pg.cpp ${rend_backend_dir}/metadata_store.cpp ${rend_backend_dir}/billing_state.cpp
    ${CMAKE_CURRENT_BINARY_DIR}/postgres_migrations.cpp
  DEPS PostgreSQL::PostgreSQL
  TESTS ${rend_backend_dir}/test_support.cpp ${rend_backend_dir}/pg_test.cpp ${rend_backend_dir}/metadata_store_test.cpp)
